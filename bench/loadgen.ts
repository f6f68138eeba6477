/**
 * The benchmark's own load generator (node:http2), run as a child process
 * pinned to its own core. Two modes:
 *
 *   closed  `connections` × `streams` requests in flight, each answer sends
 *           the next: the maximum throughput (what h2load measures);
 *   open    a fixed schedule of `rate` requests/s, independent of answers;
 *           latency is measured from each request's SCHEDULED send time, so a
 *           stalled server is charged for the requests it delayed (no
 *           coordinated omission).
 *
 * Requests rotate through a list of pre-encoded frames. EVERY answer is
 * checked: HTTP 200, `grpc-status: 0` in the trailers, and the answer bytes
 * equal to the expected answer for that request (captured and decoded with the
 * official protos by the verifier before the run).
 *
 * Usage: node loadgen.js <spec.json>; prints one JSON result line on stdout.
 */
import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { REQUEST_HEADERS } from './lib/grpc-wire.js';

export interface LoadSpec {
  port: number;
  mode: 'closed' | 'open';
  connections: number;
  /** closed: requests in flight per connection. */
  streams: number;
  /** open: requests per second (all connections together). */
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** Concatenated gRPC frames (each: 5-byte header + CheckRequest). */
  framesFile: string;
  /** Concatenated gRPC frames of the expected answers, one per request frame. */
  expectFile: string;
}

export interface LoadResult {
  mode: 'closed' | 'open';
  /** Requests completed within the measured window. */
  requests: number;
  /** Answers that matched the expected bytes with grpc-status 0. */
  verified: number;
  mismatched: number;
  errors: number;
  /** Requests still unanswered when the run ended (counted as errors too). */
  timedOut: number;
  seconds: number;
  rps: number;
  /** open mode: the rate asked for. */
  targetRate?: number;
  latencyMs?: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** Counts of latencies at or below each bound (ms); the last bucket is everything above. */
  histogram?: { boundsMs: number[]; counts: number[] };
  /**
   * open mode: how late the generator sent requests relative to their schedule
   * (already included in the latencies; a large value means the generator, not
   * the server, was behind).
   */
  sendLagMs?: { mean: number; max: number };
  /** CPU the generator itself used, as a fraction of one core (near 1 = the generator was the limit). */
  generatorCpu: number;
  firstMismatches: string[];
}

function splitFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p + 5 <= buf.length) {
    const n = buf.readUInt32BE(p + 1);
    out.push(buf.subarray(p, p + 5 + n));
    p += 5 + n;
  }
  return out;
}

const BOUNDS_MS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)] as number;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const frames = splitFrames(readFileSync(spec.framesFile));
  const expected = splitFrames(readFileSync(spec.expectFile));
  if (frames.length === 0 || frames.length !== expected.length) throw new Error('frames and expected answers do not match');

  const sessions: http2.ClientHttp2Session[] = [];
  for (let i = 0; i < spec.connections; i++) {
    const s = http2.connect(`http://127.0.0.1:${spec.port}`);
    s.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    sessions.push(s);
  }

  let next = 0;
  let measuring = false;
  let stopping = false;
  let inFlight = 0;
  let requests = 0;
  let verified = 0;
  let mismatched = 0;
  let errors = 0;
  const firstMismatches: string[] = [];
  const capacity = spec.mode === 'open' ? Math.ceil((spec.rate * spec.durationMs) / 1000 * 1.2) + 1000 : 0;
  const latencies = new Float64Array(capacity);
  let nLat = 0;
  let onIdle: (() => void) | undefined;
  let maxLag = 0;
  let lagSum = 0;
  let lagN = 0;

  const send = (session: http2.ClientHttp2Session, scheduledAt: number, counted: boolean, done: () => void) => {
    const i = next;
    next = next + 1 === frames.length ? 0 : next + 1;
    inFlight++;
    let status = 0;
    let grpcStatus: string | undefined;
    const chunks: Buffer[] = [];
    let finished = false;
    const finish = (err?: string) => {
      if (finished) return;
      finished = true;
      inFlight--;
      if (counted) {
        requests++;
        if (err) {
          errors++;
          if (firstMismatches.length < 5) firstMismatches.push(err);
        } else {
          const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
          if (status === 200 && grpcStatus === '0' && body.equals(expected[i] as Buffer)) verified++;
          else {
            mismatched++;
            if (firstMismatches.length < 5) {
              firstMismatches.push(`request #${i}: :status ${status}, grpc-status ${grpcStatus}, answer ${body.toString('hex').slice(0, 120)}`);
            }
          }
          if (spec.mode === 'open' && nLat < capacity) latencies[nLat++] = performance.now() - scheduledAt;
        }
      }
      if (inFlight === 0 && onIdle) onIdle();
      done();
    };
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request(REQUEST_HEADERS, { endStream: false });
    } catch (e) {
      finish(`request failed: ${String(e)}`);
      return;
    }
    req.on('response', (h) => {
      status = Number(h[':status']);
      const gs = h['grpc-status'];
      if (gs !== undefined) grpcStatus = String(gs); // trailers-only answer
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => {
      grpcStatus = String(t['grpc-status']);
    });
    req.on('end', () => finish());
    req.on('error', (e) => finish(`stream error: ${e.message}`));
    req.end(frames[i]);
  };

  const cpu0 = process.cpuUsage();
  let t0 = 0;
  let t1 = 0;

  if (spec.mode === 'closed') {
    const loop = (s: http2.ClientHttp2Session) => {
      if (stopping) return;
      send(s, 0, measuring, () => loop(s));
    };
    for (const s of sessions) for (let k = 0; k < spec.streams; k++) loop(s);
    await sleep(spec.warmupMs);
    measuring = true;
    t0 = performance.now();
    await sleep(spec.durationMs);
    t1 = performance.now();
    stopping = true;
    measuring = false; // answers after the window are not counted
  } else {
    const interval = 1000 / spec.rate;
    const start = performance.now();
    const warmEnd = start + spec.warmupMs;
    const end = warmEnd + spec.durationMs;
    let n = 0;
    let conn = 0;
    t0 = warmEnd;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        for (;;) {
          const at = start + n * interval;
          if (at > now || at >= end) break;
          n++;
          const s = sessions[conn] as http2.ClientHttp2Session;
          conn = conn + 1 === sessions.length ? 0 : conn + 1;
          if (at >= warmEnd) {
            const lag = now - at;
            if (lag > maxLag) maxLag = lag;
            lagSum += lag;
            lagN++;
          }
          send(s, at, at >= warmEnd, () => {});
        }
        if (start + n * interval >= end) resolve();
        else setImmediate(tick);
      };
      tick();
    });
    t1 = end;
  }

  // Let what is in flight finish (open mode counts these: they were scheduled in the window).
  let timedOut = 0;
  if (inFlight > 0) {
    await Promise.race([new Promise<void>((r) => (onIdle = r)), sleep(5000)]);
    timedOut = inFlight;
  }
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - (t0 - spec.warmupMs);
  for (const s of sessions) s.destroy();

  const seconds = (t1 - t0) / 1000;
  const result: LoadResult = {
    mode: spec.mode,
    requests,
    verified,
    mismatched,
    errors: errors + timedOut,
    timedOut,
    seconds,
    rps: requests / seconds,
    generatorCpu: (cpu.user + cpu.system) / 1000 / wallMs,
    firstMismatches,
  };
  if (spec.mode === 'open') {
    const lat = latencies.subarray(0, nLat).sort();
    let sum = 0;
    for (const x of lat) sum += x;
    const counts = new Array<number>(BOUNDS_MS.length + 1).fill(0);
    let b = 0;
    for (const x of lat) {
      while (b < BOUNDS_MS.length && x > (BOUNDS_MS[b] as number)) b++;
      counts[b] = (counts[b] as number) + 1;
    }
    result.targetRate = spec.rate;
    result.latencyMs = {
      p50: percentile(lat, 0.5),
      p90: percentile(lat, 0.9),
      p99: percentile(lat, 0.99),
      p999: percentile(lat, 0.999),
      max: lat.length ? (lat[lat.length - 1] as number) : NaN,
      mean: lat.length ? sum / lat.length : NaN,
    };
    result.histogram = { boundsMs: BOUNDS_MS, counts };
    result.sendLagMs = { mean: lagN ? lagSum / lagN : 0, max: maxLag };
  }
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() as string) && process.argv[2]) {
  const spec = JSON.parse(readFileSync(process.argv[2], 'utf8')) as LoadSpec;
  runLoad(spec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`loadgen failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
