/**
 * The gRPC-over-HTTP/2 rules of src/grpc/transport.ts, driven on the real App
 * with a node:http2 client that sends exactly the bytes and headers a case
 * needs: content types, te, deadlines, encodings, size limits, unknown methods,
 * Trailers-Only errors, PING, health, GOAWAY on drain.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type http2 from 'node:http2';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Authorizer } from '../../src/authz/authorizer.js';
import { deny } from '../../src/authz/decision.js';
import { GrpcServer } from '../../src/grpc/server.js';
import { encodeGrpcMessage, parseGrpcTimeout } from '../../src/grpc/transport.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { envoyCheckRequest, header, type OfficialCheckResponse } from '../helpers/envoy.js';
import { framed, h2Call, h2Session } from '../helpers/h2-attacker.js';
import { decodeOfficialResponse, encodeOfficialRequest } from '../helpers/official.js';

let t: TestApp;
let key: string;
let session: http2.ClientHttp2Session;
let allowMsg: Buffer;

beforeAll(async () => {
  t = await startApp();
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(a.status).toBe(201);
  key = a.body.apiKey;
  allowMsg = encodeOfficialRequest(envoyCheckRequest({ headers: { authorization: `Bearer ${key}` } }));
  session = await h2Session(t.grpcPort);
});

afterAll(async () => {
  session.close();
  await t.stop();
});

function answerOf(body: Buffer): OfficialCheckResponse {
  expect(body.length).toBeGreaterThanOrEqual(5);
  expect(body[0]).toBe(0); // answers are never compressed
  expect(body.readUInt32BE(1)).toBe(body.length - 5);
  return decodeOfficialResponse(body.subarray(5)) as OfficialCheckResponse;
}

async function expectAllowed(res: Awaited<ReturnType<typeof h2Call>>): Promise<void> {
  expect(res.status).toBe(200);
  expect(res.grpcStatus).toBe(0);
  expect(res.headers['content-type']).toBe('application/grpc');
  expect(header(answerOf(res.body).ok_response?.headers, 'x-consumer-name')).toBe('alice');
}

/** An error answer is Trailers-Only: status in the only HEADERS frame, no body. */
function expectTrailersOnly(res: Awaited<ReturnType<typeof h2Call>>, code: number): void {
  expect(res.status).toBe(200);
  expect(res.headers['grpc-status']).toBe(String(code));
  expect(res.trailers).toBeUndefined();
  expect(res.body.length).toBe(0);
}

describe('content-type, method, te', () => {
  it('application/grpc and application/grpc+proto are served', async () => {
    await expectAllowed(await h2Call(session, [framed(allowMsg)]));
    await expectAllowed(await h2Call(session, [framed(allowMsg)], { 'content-type': 'application/grpc+proto' }));
  });

  it('any other content-type is HTTP 415, a method other than POST HTTP 405', async () => {
    for (const ct of ['application/json', 'application/grpc+json', 'application/grpcx', 'text/plain']) {
      const res = await h2Call(session, [framed(allowMsg)], { 'content-type': ct });
      expect(res.status, ct).toBe(415);
      expect(res.grpcStatus).toBeUndefined();
    }
    const get = await h2Call(session, [], { ':method': 'GET' });
    expect(get.status).toBe(405);
  });

  it('a request without "te: trailers" is INTERNAL', async () => {
    const res = await h2Call(session, [framed(allowMsg)], { te: undefined });
    expectTrailersOnly(res, grpc.status.INTERNAL);
    expect(res.grpcMessage).toContain('te');
  });

  it('an unknown method or service is UNIMPLEMENTED, Trailers-Only, and the connection goes on', async () => {
    for (const path of ['/envoy.service.auth.v3.Authorization/Nope', '/no.Such/Check', '/']) {
      const res = await h2Call(session, [framed(allowMsg)], {}, path);
      expectTrailersOnly(res, grpc.status.UNIMPLEMENTED);
    }
    await expectAllowed(await h2Call(session, [framed(allowMsg)]));
  });
});

describe('grpc-timeout', () => {
  it('parses every unit, refuses malformed values', () => {
    expect(parseGrpcTimeout('2H')).toBe(7_200_000);
    expect(parseGrpcTimeout('3M')).toBe(180_000);
    expect(parseGrpcTimeout('4S')).toBe(4000);
    expect(parseGrpcTimeout('250m')).toBe(250);
    expect(parseGrpcTimeout('1500u')).toBe(1.5);
    expect(parseGrpcTimeout('99999999n')).toBeCloseTo(99.999999);
    for (const bad of ['', 'm', '1', '123456789m', '-1m', '1.5S', '1x', ' 1m']) expect(parseGrpcTimeout(bad), bad).toBeUndefined();
  });

  it('a request still incomplete at its deadline is DEADLINE_EXCEEDED; a malformed timeout INTERNAL', async () => {
    const started = Date.now();
    const half = framed(allowMsg).subarray(0, 10);
    const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '100m' });
    req.write(half);
    const status = await new Promise<string>((resolve) => req.on('response', (h) => resolve(String(h['grpc-status']))));
    req.close();
    expect(status).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expectTrailersOnly(await h2Call(session, [framed(allowMsg)], { 'grpc-timeout': '1.5S' }), grpc.status.INTERNAL);
    await expectAllowed(await h2Call(session, [framed(allowMsg)], { 'grpc-timeout': '5S' }));
  });
});

describe('grpc-encoding', () => {
  it('gzip, deflate and identity requests are answered (answers uncompressed)', async () => {
    await expectAllowed(await h2Call(session, [framed(zlib.gzipSync(allowMsg), 1)], { 'grpc-encoding': 'gzip' }));
    await expectAllowed(await h2Call(session, [framed(zlib.deflateSync(allowMsg), 1)], { 'grpc-encoding': 'deflate' }));
    await expectAllowed(await h2Call(session, [framed(allowMsg, 0)], { 'grpc-encoding': 'gzip' })); // flag 0: not compressed
    await expectAllowed(await h2Call(session, [framed(allowMsg)], { 'grpc-encoding': 'identity' }));
  });

  it('an unknown encoding is UNIMPLEMENTED with grpc-accept-encoding', async () => {
    const res = await h2Call(session, [framed(allowMsg, 1)], { 'grpc-encoding': 'br' });
    expectTrailersOnly(res, grpc.status.UNIMPLEMENTED);
    expect(String(res.headers['grpc-accept-encoding']).split(',').sort()).toEqual(['deflate', 'gzip', 'identity']);
  });

  it('data that does not inflate is INTERNAL', async () => {
    expectTrailersOnly(await h2Call(session, [framed(Buffer.from('not gzip at all'), 1)], { 'grpc-encoding': 'gzip' }), grpc.status.INTERNAL);
    expectTrailersOnly(await h2Call(session, [framed(zlib.gzipSync(allowMsg), 1)], { 'grpc-encoding': 'deflate' }), grpc.status.INTERNAL);
  });
});

describe('size limits (4 MiB)', () => {
  const MiB = 1024 * 1024;

  it('a message of more than 4 MiB is RESOURCE_EXHAUSTED, answered on its prefix alone', async () => {
    const res = await h2Call(session, [framed(Buffer.alloc(0), 0, 4 * MiB + 1)]);
    expectTrailersOnly(res, grpc.status.RESOURCE_EXHAUSTED);
    await expectAllowed(await h2Call(session, [framed(allowMsg)]));
  });

  it('a message of exactly 4 MiB is read (then refused as not a CheckRequest)', async () => {
    const res = await h2Call(session, [framed(Buffer.alloc(4 * MiB, 0xff))]);
    expectTrailersOnly(res, grpc.status.INVALID_ARGUMENT);
  });

  it('a compressed message inflating past 4 MiB is RESOURCE_EXHAUSTED; just under it is read', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(4 * MiB + 1));
    expect(bomb.length).toBeLessThan(10_000);
    expectTrailersOnly(await h2Call(session, [framed(bomb, 1)], { 'grpc-encoding': 'gzip' }), grpc.status.RESOURCE_EXHAUSTED);
    const deflated = zlib.deflateSync(Buffer.alloc(4 * MiB + 1));
    expectTrailersOnly(await h2Call(session, [framed(deflated, 1)], { 'grpc-encoding': 'deflate' }), grpc.status.RESOURCE_EXHAUSTED);
    // 4 MiB of zero bytes is not a valid CheckRequest: INVALID_ARGUMENT proves it was inflated and decoded.
    const under = zlib.gzipSync(Buffer.alloc(4 * MiB));
    expectTrailersOnly(await h2Call(session, [framed(under, 1)], { 'grpc-encoding': 'gzip' }), grpc.status.INVALID_ARGUMENT);
    await expectAllowed(await h2Call(session, [framed(allowMsg)]));
  });
});

describe('grpc-message', () => {
  it('is percent-encoded: bytes outside printable ASCII and "%"', () => {
    expect(encodeGrpcMessage('plain text ~!')).toBe('plain text ~!');
    expect(encodeGrpcMessage('100% done')).toBe('100%25 done');
    expect(encodeGrpcMessage('line\nbreak')).toBe('line%0Abreak');
    expect(encodeGrpcMessage('café')).toBe('caf%C3%A9');
    expect(decodeURIComponent(encodeGrpcMessage('ü% \r\t€'))).toBe('ü% \r\t€');
  });

  it('is percent-encoded on the wire', async () => {
    // The unknown-method message names the path, and a path may carry '%'.
    const res = await h2Call(session, [framed(allowMsg)], {}, '/a%2Fb/C');
    expectTrailersOnly(res, grpc.status.UNIMPLEMENTED);
    expect(res.grpcMessage).toBe('unknown method /a%252Fb/C');
  });
});

describe('HTTP/2 PING and health', () => {
  it('PINGs are answered on an idle connection', async () => {
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    }
  });

  it('health Check per service name; Watch streams status changes, SERVICE_UNKNOWN for unknown names', async () => {
    const def = grpc.loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String })) as any;
    const client = new def.grpc.health.v1.Health(`127.0.0.1:${t.grpcPort}`, grpc.credentials.createInsecure());
    const ask = (service: string) =>
      new Promise<string>((resolve, reject) => client.Check({ service }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))));
    expect(await ask('')).toBe('SERVING');
    expect(await ask('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    await expect(ask('nope')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    const seen: string[] = [];
    const unknown: string[] = [];
    const w = client.Watch({ service: '' });
    w.on('data', (m: { status: string }) => seen.push(m.status));
    w.on('error', () => {});
    const u = client.Watch({ service: 'nope' });
    u.on('data', (m: { status: string }) => unknown.push(m.status));
    u.on('error', () => {});
    await until(() => seen.length === 1 && unknown.length === 1);
    expect(seen).toEqual(['SERVING']);
    expect(unknown).toEqual(['SERVICE_UNKNOWN']);
    w.cancel();
    u.cancel();
    client.close();
  });
});

describe('a GrpcServer of its own', () => {
  it('Watch streams every status change; drain sends GOAWAY, finishes the call in flight, refuses new streams', async () => {
    const server = new GrpcServer({ authorizer: { check: () => deny('missing_credential') } as unknown as Authorizer, logger: pino({ level: 'silent' }) });
    const port = await server.listen('127.0.0.1', 0);
    const def = grpc.loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String })) as any;
    const client = new def.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const seen: string[] = [];
    const w = client.Watch({ service: 'envoy.service.auth.v3.Authorization' });
    w.on('data', (m: { status: string }) => seen.push(m.status));
    let watchEnd: number | undefined;
    w.on('error', (e: { code: number }) => (watchEnd = e.code));
    await until(() => seen.length === 1);
    server.setServing(true);
    await until(() => seen.length === 2);
    server.setServing(true); // no change, no message
    server.setServing(false);
    await until(() => seen.length === 3);
    expect(seen).toEqual(['NOT_SERVING', 'SERVING', 'NOT_SERVING']);

    const s = await h2Session(port);
    const goaway = new Promise<number>((resolve) => s.once('goaway', (code: number) => resolve(code)));
    const req = s.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
    const whole = framed(allowMsg);
    req.write(whole.subarray(0, 7));
    const answer = new Promise<string>((resolve) => {
      req.on('trailers', (h) => resolve(String(h['grpc-status'])));
      req.on('data', () => {});
    });
    await new Promise<void>((resolve, reject) => s.ping((err) => (err ? reject(err) : resolve())));
    let drained = false;
    const draining = server.drain(5000).then(() => (drained = true));
    expect(await goaway).toBe(0);
    await until(() => watchEnd !== undefined);
    expect(watchEnd).toBe(grpc.status.UNAVAILABLE);
    expect(drained).toBe(false);
    req.end(whole.subarray(7));
    expect(await answer).toBe('0');
    await draining;
    expect(server.transport.openCalls).toBe(0);
    s.destroy();
    client.close();
  });
});
