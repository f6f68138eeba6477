/**
 * Graceful shutdown of the real App: Checks already on the wire when stop()
 * begins all get their answer; new calls are refused by the transport; gRPC
 * health turns NOT_SERVING and /readyz 503 while draining.
 *
 * To hold calls "in flight" deterministically, they are sent on a raw HTTP/2
 * stream: headers and the first bytes of the message go out before stop(), the
 * rest after; a PING acknowledgement proves the server has seen the headers.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { EnvoyClient, envoyCheckRequest, header, httpStatus, OFFICIAL_AUTH_DEF, type OfficialCheckResponse } from '../helpers/envoy.js';

const authDef = OFFICIAL_AUTH_DEF;
const checkMethod = authDef['envoy.service.auth.v3.Authorization'] as unknown as {
  Check: { requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => OfficialCheckResponse };
};
const healthPkg = grpc.loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String })) as any;

function frame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

interface RawAnswer {
  grpcStatus: string | undefined;
  response: OfficialCheckResponse | undefined;
}

/** A Check whose request is sent in two halves, so it stays in flight in between. */
class HeldCheck {
  readonly #stream: ClientHttp2Stream;
  readonly #rest: Buffer;
  readonly answer: Promise<RawAnswer>;

  constructor(session: ClientHttp2Session, req: unknown) {
    const bytes = frame(checkMethod.Check.requestSerialize(req));
    this.#stream = session.request({
      ':method': 'POST',
      ':path': '/envoy.service.auth.v3.Authorization/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.#stream.write(bytes.subarray(0, 3));
    this.#rest = bytes.subarray(3);
    const chunks: Buffer[] = [];
    let status: string | undefined;
    this.answer = new Promise((resolve, reject) => {
      this.#stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      });
      this.#stream.on('trailers', (h) => {
        status = String(h['grpc-status']);
      });
      this.#stream.on('data', (c: Buffer) => chunks.push(c));
      this.#stream.on('error', reject);
      this.#stream.on('close', () => {
        const all = Buffer.concat(chunks);
        resolve({
          grpcStatus: status,
          response: all.length >= 5 ? checkMethod.Check.responseDeserialize(all.subarray(5, 5 + all.readUInt32BE(1))) : undefined,
        });
      });
    });
  }

  finish(): void {
    this.#stream.end(this.#rest);
  }
}

/** Resolves on the server's PING ack: every frame sent before it has been processed. */
function ping(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
}

function grpcCode(p: Promise<unknown>): Promise<number | 'answered'> {
  return p.then(
    () => 'answered' as const,
    (err: { code?: number }) => err.code ?? -1,
  );
}

let t: TestApp;
let aliceKey: string;

beforeAll(async () => {
  t = await startApp();
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(a.status).toBe(201);
  aliceKey = a.body.apiKey;
});

afterAll(async () => {
  t.envoy.close();
});

describe('stop() while Checks are in flight', () => {
  it('answers every in-flight call, refuses new ones, reports NOT_SERVING and 503 while draining', async () => {
    // Before: serving, ready, a normal Check works on the shared client connection.
    expect(httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${aliceKey}` } }))).toBe(200);
    expect((await t.admin('GET', '/readyz')).status).toBe(200);

    // A health Watch opened before the drain sees SERVING, then NOT_SERVING.
    const health = new healthPkg.grpc.health.v1.Health(`127.0.0.1:${t.grpcPort}`, grpc.credentials.createInsecure());
    const watch = health.Watch({ service: 'envoy.service.auth.v3.Authorization' });
    const statuses: string[] = [];
    const waiters: Array<() => void> = [];
    watch.on('data', (m: { status: string }) => {
      statuses.push(m.status);
      for (const w of waiters.splice(0)) w();
    });
    watch.on('error', () => {});
    const seen = async (s: string) => {
      while (!statuses.includes(s)) await new Promise<void>((r) => waiters.push(r));
    };
    await seen('SERVING');

    // Calls held in flight: 20 allows and 5 denials.
    const session = connect(`http://127.0.0.1:${t.grpcPort}`);
    session.on('error', () => {});
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    const held = [
      ...Array.from({ length: 20 }, () => new HeldCheck(session, envoyCheckRequest({ headers: { authorization: `Bearer ${aliceKey}` } }))),
      ...Array.from({ length: 5 }, () => new HeldCheck(session, envoyCheckRequest({ headers: { authorization: 'Bearer not-a-key-0000000000' } }))),
    ];
    await ping(session); // the server has now seen every stream's headers

    let stopped = false;
    const stopping = t.app.stop().then(() => {
      stopped = true;
    });

    // Draining: health NOT_SERVING, readiness false, /readyz 503.
    await seen('NOT_SERVING');
    watch.cancel();
    expect(t.app.readiness()).toMatchObject({ ready: false, draining: true });
    const readyz = await t.admin('GET', '/readyz');
    expect(readyz.status).toBe(503);
    expect(readyz.body).toMatchObject({ ready: false, draining: true });

    // New calls are refused by the transport, on a new connection and on the old one.
    const fresh = new EnvoyClient(t.grpcPort);
    expect(await grpcCode(fresh.check({ headers: { authorization: `Bearer ${aliceKey}` } }))).toBe(grpc.status.UNAVAILABLE);
    fresh.close();
    expect(await grpcCode(t.envoy.check({ headers: { authorization: `Bearer ${aliceKey}` } }))).toBe(grpc.status.UNAVAILABLE);

    // The drain is still waiting for the held calls.
    expect(stopped).toBe(false);
    for (const h of held) h.finish();
    const answers = await Promise.all(held.map((h) => h.answer));
    session.close();
    await stopping;
    expect(stopped).toBe(true);

    expect(answers).toHaveLength(25);
    for (const a of answers.slice(0, 20)) {
      expect(a.grpcStatus).toBe('0');
      expect(a.response?.status?.code).toBe(0);
      expect(header(a.response?.ok_response?.headers, 'x-consumer-name')).toBe('alice');
    }
    for (const a of answers.slice(20)) {
      expect(a.grpcStatus).toBe('0');
      expect(a.response?.denied_response).toBeDefined();
      expect(httpStatus(a.response!)).toBe(401);
    }
    health.close();
  });

  it('after stop, the gRPC port and the admin API are closed', async () => {
    const fresh = new EnvoyClient(t.grpcPort);
    expect(await grpcCode(fresh.check({}))).toBe(grpc.status.UNAVAILABLE);
    fresh.close();
    await expect(fetch(`http://127.0.0.1:${t.adminPort}/healthz`)).rejects.toThrow();
  });
});
