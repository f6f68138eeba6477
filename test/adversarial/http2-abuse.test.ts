/**
 * Attack class: HTTP/2 abuse of the unauthenticated gRPC port. The service
 * runs as a child process (`node dist/src/main.js`), so its memory is its own
 * (VmRSS from /proc); attackers write raw frames (test/helpers/h2-attacker.ts).
 * During each attack another connection keeps getting its Check answered
 * quickly, and memory stays bounded and does not grow from round to round.
 *
 * Sizes are reduced for CI; scripts/h2-flood.mjs runs the full-size flood.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authorizer } from '../../src/authz/authorizer.js';
import { deny } from '../../src/authz/decision.js';
import { GrpcServer } from '../../src/grpc/server.js';
import { until } from '../helpers/app.js';
import { EnvoyClient, envoyCheckRequest, httpStatus } from '../helpers/envoy.js';
import { framed, h2Call, h2Session, RawH2 } from '../helpers/h2-attacker.js';
import { encodeOfficialRequest } from '../helpers/official.js';
import { freePort } from '../helpers/redis.js';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

const ROOT = resolve(import.meta.dirname, '../..');
const ENHANCE_YOUR_CALM = 0xb;
const INTERNAL_ERROR = 0x2;
/** The service's RSS must stay under this during every attack here (baseline ~80 MB). */
const RSS_BOUND_MB = 400;
/** Answer time of a Check on another connection during an attack (Envoy's timeout is 250 ms). */
const PROBE_MS = 50;

let proc: ChildProcess;
let grpcPort: number;
let adminUrl: string;
let key: string;
let probe: EnvoyClient;
/** Median probe time before any attack. */
let baselineMs: number;

function rssMb(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/** One Check on the probe's own connection: its time in ms (the answer must be an allow). */
async function probeMs(): Promise<number> {
  const started = performance.now();
  const res = await probe.check({ headers: { authorization: `Bearer ${key}` } });
  const ms = performance.now() - started;
  expect(httpStatus(res)).toBe(200);
  return ms;
}

/** Probes every few ms until `done` resolves; returns the answer times. */
async function probeWhile(done: Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  let over = false;
  void done.finally(() => (over = true));
  while (!over || times.length < 5) {
    times.push(await probeMs());
    await new Promise((r) => setTimeout(r, 5));
  }
  return times;
}

function expectFast(times: number[]): void {
  const sorted = [...times].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length * 0.5)] as number;
  // On a loaded machine the bound grows with the same probe's median before any attack.
  expect(p50).toBeLessThan(Math.max(PROBE_MS, 3 * baselineMs));
  // The median within PROBE_MS, every probe within a second: CI machines are shared and a
  // loaded one deschedules processes for hundreds of ms (docs/performance.md has unloaded figures).
  expect(sorted.at(-1)).toBeLessThan(1000);
}

beforeAll(async () => {
  grpcPort = await freePort();
  const adminPort = await freePort();
  adminUrl = `http://127.0.0.1:${adminPort}`;
  proc = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'error',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      ADMIN_PORT: String(adminPort),
      DATA_FILE: join(mkdtempSync(join(tmpdir(), 'cauthz-abuse-')), 'consumers.json'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await until(async () => (await fetch(`${adminUrl}/readyz`).catch(() => undefined))?.ok === true, 10_000, 50);
  const res = await fetch(`${adminUrl}/v1/consumers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'alice', auth: { type: 'api-key' } }),
  });
  key = ((await res.json()) as { apiKey: string }).apiKey;
  probe = new EnvoyClient(grpcPort);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) times.push(await probeMs());
  baselineMs = times.sort((a, b) => a - b)[10] as number;
});

afterAll(async () => {
  probe?.close();
  proc?.kill('SIGKILL');
});

describe('half-open stream flood (headers, never a body)', () => {
  it('streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused and the connection dropped; held streams cost no answer time; memory bounded and stable over rounds', async () => {
    const afterRounds: number[] = [];
    let peak = 0;
    for (let round = 0; round < 2; round++) {
      // 4 connections × 5,000 streams: past 100 per connection nghttp2 refuses them and node drops the connection.
      const naive = await Promise.all(Array.from({ length: 4 }, () => RawH2.connect(grpcPort)));
      // 20 connections × 100 streams within the limit, held open.
      const polite = await Promise.all(Array.from({ length: 20 }, () => RawH2.connect(grpcPort)));
      const flood = (async () => {
        for (const c of naive) c.openStreams(5000);
        for (const c of polite) c.openStreams(100);
        await Promise.all([...naive, ...polite].map((c) => c.drained()));
        await Promise.all(naive.map((c) => c.closed));
      })();
      // While node admits the streams (tens of µs each, see docs/performance.md) a Check can wait; it is still answered.
      const burst = await probeWhile(flood);
      expect(Math.max(...burst)).toBeLessThan(2000);
      console.log(`half-open flood round ${round}: probe ms during admission ${burst.map(Math.round).join(' ')}`);
      for (const c of naive) {
        expect(c.stats.closed).toBe(true);
        // Node 20's nghttp2 refuses the streams past the limit with RST_STREAM before dropping the
        // connection; Node 24 drops the connection at once (measured with scripts/test-node24.sh).
        // Either way the connection is closed, which is what bounds the flood.
        if (NODE_MAJOR < 24) expect(c.stats.rstStreams).toBeGreaterThan(0);
        // The GOAWAY may be lost when node destroys the socket right after writing it (seen in
        // about 1 of 3 full runs); when it arrives, it admits no stream past the limit.
        if (c.stats.goaway) expect(c.stats.goaway.lastStreamId).toBeLessThanOrEqual(2 * 100 - 1);
      }
      // The polite flood is held; Checks on another connection are not slowed by it.
      expect(polite.every((c) => !c.stats.closed && c.stats.headers === 0)).toBe(true);
      const held: number[] = [];
      for (let i = 0; i < 20; i++) held.push(await probeMs());
      expectFast(held);
      peak = Math.max(peak, rssMb());
      for (const c of polite) c.destroy();
      await Promise.all(polite.map((c) => c.closed));
      await probeMs(); // still answering (an allow)
      afterRounds.push(rssMb());
    }
    // The second round reuses what the first one freed: no growth.
    expect(afterRounds[1]).toBeLessThan((afterRounds[0] as number) + 40);
    expect(Math.max(peak, ...afterRounds)).toBeLessThan(RSS_BOUND_MB);
  });
});

describe('rapid reset, PING and SETTINGS floods', () => {
  it('streams reset as soon as opened (CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM, others unaffected', async () => {
    const c = await RawH2.connect(grpcPort);
    const flood = (async () => {
      for (let i = 0; i < 20 && c.stats.goaway === undefined; i++) {
        c.openStreams(500, true);
        await c.drained();
      }
      await until(() => c.stats.goaway !== undefined, 5000);
    })();
    expectFast(await probeWhile(flood));
    // nghttp2's own stream-reset rate limit answers first (GOAWAY INTERNAL_ERROR), before any stream reaches the service.
    expect([INTERNAL_ERROR, ENHANCE_YOUR_CALM]).toContain(c.stats.goaway?.errorCode);
    c.destroy();
  });

  it('a PING flood gets GOAWAY ENHANCE_YOUR_CALM', async () => {
    const c = await RawH2.connect(grpcPort);
    const flood = (async () => {
      for (let i = 0; i < 20 && !c.stats.closed; i++) {
        c.ping(5000);
        await c.drained();
      }
      await c.closed;
    })();
    expectFast(await probeWhile(flood));
    expect(c.stats.closed).toBe(true);
    if (c.stats.goaway !== undefined) expect(c.stats.goaway.errorCode).toBe(ENHANCE_YOUR_CALM);
    expect(c.stats.pingAcks).toBeLessThan(1000);
  });

  it('a SETTINGS flood gets GOAWAY ENHANCE_YOUR_CALM', async () => {
    const c = await RawH2.connect(grpcPort);
    const flood = (async () => {
      for (let i = 0; i < 20 && !c.stats.closed; i++) {
        c.settings(2000);
        await c.drained();
      }
      await c.closed;
    })();
    expectFast(await probeWhile(flood));
    expect(c.stats.closed).toBe(true);
    // GOAWAY ENHANCE_YOUR_CALM, when it reaches the attacker before the socket closes.
    if (c.stats.goaway !== undefined) expect(c.stats.goaway.errorCode).toBe(ENHANCE_YOUR_CALM);
  });

  it('keepalive PINGs (one a second) on a connection without calls are answered, not punished', async () => {
    const c = await RawH2.connect(grpcPort);
    for (let i = 0; i < 3; i++) {
      c.ping(1);
      await until(() => c.stats.pingAcks === i + 1);
    }
    expect(c.stats.goaway).toBeUndefined();
    c.destroy();
  });
});

describe('1,000 idle connections', () => {
  it('are held without harm: Checks on another connection stay fast, memory bounded', async () => {
    const before = rssMb();
    const idle: RawH2[] = [];
    for (let i = 0; i < 10; i++) idle.push(...(await Promise.all(Array.from({ length: 100 }, () => RawH2.connect(grpcPort)))));
    // Every one got the server's SETTINGS (and is alive).
    await until(() => idle.every((c) => !c.stats.closed && c.stats.settings > 0), 10_000);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) times.push(await probeMs());
    console.log(`1,000 idle connections: probe ms ${times.map(Math.round).join(' ')} (baseline median ${Math.round(baselineMs)})`);
    expectFast(times);
    const during = rssMb();
    expect(during).toBeLessThan(RSS_BOUND_MB);
    expect(during - before).toBeLessThan(150);
    for (const c of idle) c.destroy();
    await Promise.all(idle.map((c) => c.closed));
    await probeMs(); // still answering (an allow) once they are gone
  });
});

describe('bounds, each on a server of its own with a small limit', () => {
  const logger = pino({ level: 'silent' });
  const authorizer = { check: () => deny('missing_credential') } as unknown as Authorizer;
  const msg = encodeOfficialRequest(envoyCheckRequest({}));

  async function server(limits: ConstructorParameters<typeof GrpcServer>[0]['limits']): Promise<{ s: GrpcServer; port: number }> {
    const s = new GrpcServer({ authorizer, logger, limits });
    return { s, port: await s.listen('127.0.0.1', 0) };
  }

  it('connections past maxConnections are closed on accept', async () => {
    const { s, port } = await server({ maxConnections: 3 });
    const held = await Promise.all([0, 1, 2].map(() => RawH2.connect(port)));
    await until(() => s.transport.connections === 3);
    const extra = await RawH2.connect(port);
    await extra.closed;
    expect(held.every((c) => !c.stats.closed)).toBe(true);
    for (const c of held) c.destroy();
    await s.drain(1000);
  });

  it('an idle connection is closed with GOAWAY after idleConnectionMs; PINGs count as activity', async () => {
    const { s, port } = await server({ idleConnectionMs: 300 });
    const quiet = await RawH2.connect(port);
    const pinging = await RawH2.connect(port);
    const timer = setInterval(() => pinging.ping(1), 100);
    await quiet.closed;
    expect(quiet.stats.goaway?.errorCode).toBe(0);
    expect(pinging.stats.closed).toBe(false);
    clearInterval(timer);
    pinging.destroy();
    await s.drain(1000);
  });

  it('a stream whose request does not arrive within requestTimeoutMs is ended (DEADLINE_EXCEEDED)', async () => {
    const { s, port } = await server({ requestTimeoutMs: 200 });
    const c = await RawH2.connect(port);
    c.openStreams(50);
    await until(() => c.stats.headers === 50, 3000);
    await until(() => s.transport.openCalls === 0);
    c.destroy();
    await s.drain(1000);
  });

  it('past maxOpenStreams the oldest stream still waiting for its request is cancelled, so a new Check is answered', async () => {
    const { s, port } = await server({ maxOpenStreams: 20 });
    const c = await RawH2.connect(port);
    c.openStreams(20);
    await until(() => s.transport.openCalls === 20);
    const session = await h2Session(port);
    const res = await h2Call(session, [framed(msg)]);
    expect(res.grpcStatus).toBe(grpc.status.OK);
    expect(c.stats.headers).toBe(1);
    session.destroy();
    c.destroy();
    await s.drain(1000);
  });

  it('request bytes buffered per connection are bounded (RESOURCE_EXHAUSTED past it)', async () => {
    const { s, port } = await server({ maxBufferedBytesPerConnection: 100_000 });
    const session = await h2Session(port);
    const part = framed(Buffer.alloc(1_000_000)).subarray(0, 60_000);
    const open = (): Promise<number | undefined> =>
      new Promise((resolve) => {
        const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
        req.on('response', (h) => resolve(h['grpc-status'] === undefined ? undefined : Number(h['grpc-status'])));
        req.on('error', () => {});
        req.write(part);
      });
    const first = open();
    const second = await open();
    expect(second).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(s.transport.openCalls).toBe(1);
    void first;
    session.destroy();
    await s.drain(1000);
  });

  it('a header list over 16 KiB is refused, and the connection goes on', async () => {
    const { s, port } = await server({});
    const session = await h2Session(port);
    // The limit holds once the client has acknowledged the server's SETTINGS (a PING round trip later).
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    const big = await new Promise<number>((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers', 'x-big': 'a'.repeat(20_000) });
      req.on('error', () => {});
      req.on('close', () => resolve(req.rstCode ?? -1));
      req.end(framed(msg));
    });
    expect(big).not.toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect((await h2Call(session, [framed(msg)])).grpcStatus).toBe(grpc.status.OK);
    session.destroy();
    await s.drain(1000);
  });
});
