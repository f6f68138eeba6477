/**
 * Attack class: gRPC message framing. The length-prefixed message is read by
 * the transport before any protobuf: each malformed shape has one exact
 * answer, and the connection keeps serving afterwards.
 */
import * as grpc from '@grpc/grpc-js';
import type http2 from 'node:http2';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { envoyCheckRequest, header, type OfficialCheckResponse } from '../helpers/envoy.js';
import { framed, h2Call, h2Session, type H2Answer } from '../helpers/h2-attacker.js';
import { decodeOfficialResponse, encodeOfficialRequest } from '../helpers/official.js';

let t: TestApp;
let session: http2.ClientHttp2Session;
let msg: Buffer;

beforeAll(async () => {
  t = await startApp();
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(a.status).toBe(201);
  msg = encodeOfficialRequest(envoyCheckRequest({ headers: { authorization: `Bearer ${a.body.apiKey}` } }));
  session = await h2Session(t.grpcPort);
});

afterAll(async () => {
  session.close();
  await t.stop();
});

function allowed(res: H2Answer): void {
  expect(res.grpcStatus).toBe(0);
  const answer = decodeOfficialResponse(res.body.subarray(5)) as OfficialCheckResponse;
  expect(header(answer.ok_response?.headers, 'x-consumer-name')).toBe('alice');
}

/** The case's answer, then proof the same connection still answers a valid call. */
async function refused(chunks: Buffer[], code: number, headers: http2.OutgoingHttpHeaders = {}): Promise<H2Answer> {
  const res = await h2Call(session, chunks, headers);
  expect(res.status).toBe(200);
  expect(res.grpcStatus).toBe(code);
  expect(res.body.length).toBe(0);
  allowed(await h2Call(session, [framed(msg)]));
  return res;
}

describe('flags byte', () => {
  it('compressed flag without grpc-encoding, or with identity, is INTERNAL (never read as uncompressed)', async () => {
    await refused([framed(msg, 1)], grpc.status.INTERNAL);
    await refused([framed(msg, 1)], grpc.status.INTERNAL, { 'grpc-encoding': 'identity' });
    // Even when the bytes are valid gzip.
    await refused([framed(zlib.gzipSync(msg), 1)], grpc.status.INTERNAL);
  });

  it('any reserved flag bit is INTERNAL, with or without an encoding', async () => {
    for (const flags of [0x02, 0x03, 0x04, 0x80, 0xff, 0x81]) {
      const res = await refused([framed(msg, flags)], grpc.status.INTERNAL);
      expect(res.grpcMessage).toContain('reserved');
      await refused([framed(zlib.gzipSync(msg), flags)], grpc.status.INTERNAL, { 'grpc-encoding': 'gzip' });
    }
  });
});

describe('length prefix and message boundaries', () => {
  it('a truncated frame (END_STREAM inside the prefix or the message) is INTERNAL', async () => {
    const whole = framed(msg);
    for (const cut of [1, 3, 4, 5, 6, whole.length - 1]) await refused([whole.subarray(0, cut)], grpc.status.INTERNAL);
  });

  it('a length prefix larger than the data sent is INTERNAL', async () => {
    await refused([framed(msg, 0, msg.length + 1)], grpc.status.INTERNAL);
    await refused([framed(msg, 0, 1_000_000)], grpc.status.INTERNAL);
  });

  it('a length prefix smaller than the data (trailing bytes) is INTERNAL', async () => {
    await refused([framed(msg, 0, msg.length - 1)], grpc.status.INTERNAL);
    await refused([Buffer.concat([framed(msg), Buffer.from([0])])], grpc.status.INTERNAL);
  });

  it('the 5-byte prefix split across DATA frames, and a message in 1-byte frames, are read', async () => {
    const whole = framed(msg);
    allowed(await h2Call(session, [whole.subarray(0, 2), whole.subarray(2, 4), whole.subarray(4)]));
    allowed(await h2Call(session, [whole.subarray(0, 5), whole.subarray(5)]));
    allowed(await h2Call(session, [...whole].map((b) => Buffer.from([b]))));
    allowed(await h2Call(session, [Buffer.alloc(0), whole, Buffer.alloc(0)]));
  });

  it('two messages in a unary call are INTERNAL, in one DATA frame or in two', async () => {
    await refused([Buffer.concat([framed(msg), framed(msg)])], grpc.status.INTERNAL);
    await refused([framed(msg), framed(msg)], grpc.status.INTERNAL);
    await refused([framed(msg), framed(Buffer.alloc(0))], grpc.status.INTERNAL);
  });

  it('an empty body (no message at all) is INTERNAL; an empty message is not a CheckRequest', async () => {
    await refused([], grpc.status.INTERNAL);
    // A zero-length message decodes as an empty CheckRequest: no attributes, answered as a denial.
    const res = await h2Call(session, [framed(Buffer.alloc(0))]);
    expect(res.grpcStatus).toBe(grpc.status.OK);
    const answer = decodeOfficialResponse(res.body.subarray(5)) as OfficialCheckResponse;
    expect(answer.http_response).toBe('denied_response');
    expect(answer.denied_response?.status?.code).toBe('Unauthorized');
  });

  it('a declared length over 4 MiB is RESOURCE_EXHAUSTED at once, before any data', async () => {
    for (const len of [4 * 1024 * 1024 + 1, 0x7fffffff, 0xffffffff]) {
      await refused([framed(Buffer.alloc(0), 0, len)], grpc.status.RESOURCE_EXHAUSTED);
    }
  });
});

describe('bytes that are framed right but are not a CheckRequest', () => {
  it('is INVALID_ARGUMENT, as before the transport change', async () => {
    await refused([framed(Buffer.from([0xff, 0xff, 0xff]))], grpc.status.INVALID_ARGUMENT);
    await refused([framed(zlib.gzipSync(Buffer.from([0x0a, 0x05, 1])), 1)], grpc.status.INVALID_ARGUMENT, { 'grpc-encoding': 'gzip' });
  });
});
