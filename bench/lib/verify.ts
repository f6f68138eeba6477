/**
 * The verification pass: sends every distinct request frame once over raw
 * HTTP/2 (exactly as the load generators do), checks `:status 200` and
 * `grpc-status: 0`, decodes each answer with the OFFICIAL Envoy protos and
 * checks it is the expected one (allow as the expected consumer, or the
 * expected denial). Returns the answer frames, which the load generator then
 * compares every answer against, byte for byte.
 */
import * as http2 from 'node:http2';
import { decodeOfficialResponse } from '../../test/helpers/official.js';
import { REQUEST_HEADERS, unframe } from './grpc-wire.js';

/** What a request must get: allowed (optionally as a named consumer) or denied for a reason. */
export type Expectation = { allow: true; consumer?: string } | { allow: false; reason: string };

interface Official {
  status?: { code: number } | null;
  http_response?: string;
  ok_response?: { headers: Array<{ header: { key: string; value: string } }> };
  denied_response?: { body: string };
}

function check(res: Official, want: Expectation): string | undefined {
  if (want.allow) {
    if (res.status?.code !== 0 || res.http_response !== 'ok_response') return `expected allow, got ${JSON.stringify(res).slice(0, 200)}`;
    if (want.consumer !== undefined) {
      const name = res.ok_response?.headers.find((h) => h.header.key === 'x-consumer-name')?.header.value;
      if (name !== want.consumer) return `expected consumer ${want.consumer}, got ${name}`;
    }
    return undefined;
  }
  if (res.http_response !== 'denied_response' || !res.denied_response) return `expected deny ${want.reason}, got ${JSON.stringify(res).slice(0, 200)}`;
  const code = (JSON.parse(res.denied_response.body) as { error: { code: string } }).error.code;
  return code === want.reason ? undefined : `expected deny ${want.reason}, got ${code}`;
}

function once(session: http2.ClientHttp2Session, body: Buffer): Promise<{ status: number; grpcStatus?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request(REQUEST_HEADERS, { endStream: false });
    let status = 0;
    let grpcStatus: string | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => (grpcStatus = String(t['grpc-status'])));
    req.on('end', () => resolve({ status, grpcStatus, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end(body);
  });
}

export interface Verification {
  checked: number;
  failed: number;
  /** The first few failures. */
  failures: string[];
  /** The answer frame of each request frame (same order). */
  answers: Buffer[];
}

export async function verify(port: number, frames: Buffer[], expect: (i: number) => Expectation): Promise<Verification> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const failures: string[] = [];
  const answers: Buffer[] = [];
  let failed = 0;
  try {
    for (let i = 0; i < frames.length; i++) {
      const r = await once(session, frames[i] as Buffer);
      answers.push(r.body);
      const msg = unframe(r.body);
      let problem: string | undefined;
      if (r.status !== 200) problem = `:status ${r.status}`;
      else if (r.grpcStatus !== '0') problem = `grpc-status ${r.grpcStatus}`;
      else if (!msg) problem = 'answer is not one gRPC frame';
      else problem = check(decodeOfficialResponse(Buffer.from(msg)) as Official, expect(i));
      if (problem) {
        failed++;
        if (failures.length < 10) failures.push(`request #${i}: ${problem}`);
      }
    }
  } finally {
    session.destroy();
  }
  return { checked: frames.length, failed, failures, answers };
}
