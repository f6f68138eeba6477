/**
 * Bytes that are not a CheckRequest, sent to the real gRPC server: answered
 * with INVALID_ARGUMENT (never an allow, never a crash), and the server keeps
 * answering well-formed requests on the same connection.
 */
import * as http2 from 'node:http2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeOfficialRequest, grpcFrame } from '../helpers/official.js';
import { envoyCheckRequest } from '../helpers/envoy.js';
import { startApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let session: http2.ClientHttp2Session;

beforeAll(async () => {
  t = await startApp();
  session = http2.connect(`http://127.0.0.1:${t.grpcPort}`);
});

afterAll(async () => {
  session.close();
  await t.stop();
});

function call(body: Buffer): Promise<{ grpcStatus: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
    let grpcStatus = '';
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
    });
    req.on('trailers', (h) => (grpcStatus = String(h['grpc-status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ grpcStatus, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end(body);
  });
}

it('malformed CheckRequests get INVALID_ARGUMENT; the next valid one is answered', async () => {
  const bad = [
    [0x0a, 0x05, 0x22], // length past the end
    [0x80], // truncated varint
    [0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f], // length over 32 bits
    [0x0f], // wire type 7
    Array.from({ length: 5000 }, () => 0x0b), // groups nested 5000 deep
  ];
  for (const bytes of bad) {
    const res = await call(grpcFrame(Buffer.from(bytes)));
    expect(res.grpcStatus).toBe('3');
    expect(res.body.length).toBe(0);
  }
  const ok = await call(grpcFrame(encodeOfficialRequest(envoyCheckRequest({}))));
  expect(ok.grpcStatus).toBe('0');
  expect(ok.body.length).toBeGreaterThan(5); // a CheckResponse (here: the missing-credential denial)
});
