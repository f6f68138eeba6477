/**
 * Interop with gRPC C-core (what Envoy's google_grpc client is built on),
 * through Debian's python3-grpcio at /usr/bin/python3. Requests are encoded
 * here with the official protos and sent by C-core as raw bytes; answers come
 * back as bytes and are decoded here with the official protos.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { envoyCheckRequest, header, httpStatus, type OfficialCheckResponse } from '../helpers/envoy.js';
import { decodeOfficialResponse, encodeOfficialRequest } from '../helpers/official.js';

const SCRIPT = resolve(import.meta.dirname, 'c-core-client.py');

let t: TestApp;
let out: Record<string, any>;

const decode = (b64: string) => decodeOfficialResponse(Buffer.from(b64, 'base64')) as OfficialCheckResponse;

beforeAll(async () => {
  t = await startApp();
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(a.status).toBe(201);
  const input = JSON.stringify({
    target: `127.0.0.1:${t.grpcPort}`,
    allow: encodeOfficialRequest(envoyCheckRequest({ headers: { authorization: `Bearer ${a.body.apiKey}` } })).toString('base64'),
    deny: encodeOfficialRequest(envoyCheckRequest({ headers: { authorization: 'Bearer cak_not_a_key' } })).toString('base64'),
    keepalive_s: 3,
  });
  const stdout = await new Promise<string>((res, rej) => {
    const p = execFile('/usr/bin/python3', [SCRIPT], { maxBuffer: 16 * 1024 * 1024, timeout: 40_000 }, (err, so, se) => (err ? rej(new Error(`${err.message}\n${se}`)) : res(so)));
    p.stdin!.end(input);
  });
  out = JSON.parse(stdout);
}, 45_000);

afterAll(async () => {
  await t.stop();
});

describe('gRPC C-core client (python3-grpcio)', () => {
  it('gets allow and deny answers the official protos decode', () => {
    expect(header(decode(out.allow).ok_response?.headers, 'x-consumer-name')).toBe('alice');
    expect(httpStatus(decode(out.deny))).toBe(401);
  });

  it('2,000 calls with 100 in flight on one channel all succeed, same answer', () => {
    expect(out.many.failures).toBe(0);
    expect(out.many.distinct).toBe(1);
    expect(header(decode(out.many.answer).ok_response?.headers, 'x-consumer-name')).toBe('alice');
  });

  it('1 ms deadlines end as OK or DEADLINE_EXCEEDED, and the channel is reused', () => {
    for (const c of out.deadlines) expect(['OK', 'DEADLINE_EXCEEDED']).toContain(c);
    expect(out.after_deadlines).toBe('OK');
  });

  it('gzip and deflate requests are answered', () => {
    expect(header(decode(out.gzip).ok_response?.headers, 'x-consumer-name')).toBe('alice');
    expect(header(decode(out.deflate).ok_response?.headers, 'x-consumer-name')).toBe('alice');
  });

  it('4 MiB limits, plain and decompressed: RESOURCE_EXHAUSTED, channel reused', () => {
    expect(out.limits).toEqual(['RESOURCE_EXHAUSTED', 'OK', 'RESOURCE_EXHAUSTED', 'OK']);
  });

  it('unknown method UNIMPLEMENTED, malformed request INVALID_ARGUMENT, channel reused after each', () => {
    expect(out.errors).toEqual(['UNIMPLEMENTED', 'OK', 'INVALID_ARGUMENT', 'OK']);
  });

  it('health Check: SERVING for both names, NOT_FOUND for another', () => {
    expect(Buffer.from(out.health, 'base64')).toEqual(Buffer.from([0x08, 0x01]));
    expect(Buffer.from(out.health_auth, 'base64')).toEqual(Buffer.from([0x08, 0x01]));
    expect(out.health_unknown).toBe('NOT_FOUND');
  });

  it('keepalive PINGs every second on an idle channel are permitted (no GOAWAY too_many_pings)', () => {
    expect(out.keepalive).toEqual(['OK', 'OK']);
  });
});
