#!/usr/bin/env node
/**
 * Full-size HTTP/2 flood against the built service (`npm run build` first):
 *   node scripts/h2-flood.mjs [--connections 4] [--streams 50000] [--held 100] [--rounds 3]
 *
 * Starts `node dist/src/main.js` (file store, one API-key consumer) and, per round:
 *   1. the flood: `--connections` raw connections each sending `--streams`
 *      HEADERS frames (a Check, no body, no END_STREAM) as fast as the socket takes them;
 *   2. a held flood within the limits: `--held` connections × 100 half-open streams;
 * while a grpc-free node:http2 probe on its own connection sends one allow Check at a
 * time. Prints probe latencies (p50/p99/max), the service's VmRSS (from /proc) before,
 * during and after, and what the attackers got back (GOAWAY codes, refused streams).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const CONNS = arg('connections', 4);
const STREAMS = arg('streams', 50_000);
const HELD = arg('held', 100);
const ROUNDS = arg('rounds', 3);
const GRPC = 47_000 + Math.floor(Math.random() * 1000);
const ADMIN = GRPC + 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const proc = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
  env: { PATH: process.env.PATH, LOG_LEVEL: 'error', GRPC_HOST: '127.0.0.1', GRPC_PORT: String(GRPC), ADMIN_PORT: String(ADMIN), DATA_FILE: join(mkdtempSync(join(tmpdir(), 'h2-flood-')), 'c.json') },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const rss = () => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))[1]) / 1024);

// --- frames ---
const frame = (type, flags, id, payload) => {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(id, 5);
  payload.copy(b, 9);
  return b;
};
const hpack = (pairs) => Buffer.concat(pairs.flatMap(([n, v]) => [Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]));
const BLOCK = hpack([[':method', 'POST'], [':scheme', 'http'], [':path', '/envoy.service.auth.v3.Authorization/Check'], [':authority', 'authz'], ['content-type', 'application/grpc'], ['te', 'trailers']]);

function attacker() {
  return new Promise((resolveConn) => {
    const s = net.connect(GRPC, '127.0.0.1', () => {
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
      resolveConn(c);
    });
    const c = { s, rst: 0, goaway: undefined, closed: new Promise((r) => s.on('close', r)), next: 1 };
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        if (buf[3] === 4 && (buf[4] & 1) === 0) s.write(frame(4, 1, 0, Buffer.alloc(0)));
        if (buf[3] === 3) c.rst++;
        if (buf[3] === 7) c.goaway = buf.readUInt32BE(13);
        buf = buf.subarray(9 + len);
      }
    });
  });
}
async function open(c, n) {
  for (let done = 0; done < n && !c.s.destroyed; ) {
    const k = Math.min(1000, n - done);
    const parts = [];
    for (let i = 0; i < k; i++, c.next += 2) parts.push(frame(1, 4, c.next, BLOCK));
    if (!c.s.write(Buffer.concat(parts))) await new Promise((r) => (c.s.once('drain', r), c.s.once('close', r)));
    done += k;
  }
}

// --- probe ---
async function probeSession() {
  const s = http2.connect(`http://127.0.0.1:${GRPC}`);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  return s;
}
function probe(s, msg) {
  const t = performance.now();
  return new Promise((r) => {
    const q = s.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
    q.on('error', () => {});
    q.on('data', () => {});
    q.on('close', () => r(performance.now() - t));
    q.end(msg);
  });
}
const pct = (xs, p) => (xs.length ? Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]) : NaN);

async function main() {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${ADMIN}/readyz`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  const res = await fetch(`http://127.0.0.1:${ADMIN}/v1/consumers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'probe', auth: { type: 'api-key' } }) });
  const { apiKey } = await res.json();
  // A CheckRequest { attributes { request { http { headers { "authorization": "Bearer <key>" } } } } }, hand-encoded.
  const ld = (field, b) => Buffer.concat([Buffer.from([(field << 3) | 2]), varint(b.length), b]);
  const varint = (n) => { const o = []; while (n > 127) { o.push((n & 127) | 128); n >>>= 7; } o.push(n); return Buffer.from(o); };
  const entry = Buffer.concat([ld(1, Buffer.from('authorization')), ld(2, Buffer.from(`Bearer ${apiKey}`))]);
  const body = ld(1, ld(4, ld(2, ld(3, entry))));
  const msg = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
  msg.writeUInt32BE(body.length, 1);
  const ps = await probeSession();
  for (let i = 0; i < 200; i++) await probe(ps, msg);
  const base = [];
  for (let i = 0; i < 100; i++) base.push(await probe(ps, msg));
  console.log(`baseline: RSS ${rss()} MB, probe p50 ${pct(base, 0.5)} ms p99 ${pct(base, 0.99)} ms`);
  for (let round = 1; round <= ROUNDS; round++) {
    const times = [];
    let peak = 0;
    let flooding = true;
    const t0 = performance.now();
    const flood = (async () => {
      const naive = await Promise.all(Array.from({ length: CONNS }, attacker));
      await Promise.all(naive.map((c) => open(c, STREAMS)));
      await Promise.race([Promise.all(naive.map((c) => c.closed)), sleep(5000)]);
      const floodMs = performance.now() - t0;
      const held = await Promise.all(Array.from({ length: HELD }, attacker));
      await Promise.all(held.map((c) => open(c, 100)));
      await sleep(2000);
      peak = Math.max(peak, rss());
      const heldRss = rss();
      for (const c of [...naive, ...held]) c.s.destroy();
      flooding = false;
      return { naive, held, floodMs, heldRss };
    })();
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 100);
    while (flooding) {
      times.push(await probe(ps, msg));
      await sleep(2);
    }
    const r = await flood;
    clearInterval(sampler);
    await sleep(3000);
    const goaways = [...new Set(r.naive.map((c) => c.goaway))];
    console.log(
      `round ${round}: ${CONNS} × ${STREAMS} streams sent in ${Math.round(r.floodMs)} ms (GOAWAY codes ${goaways.join(',')}, ${r.naive.reduce((n, c) => n + c.rst, 0)} streams refused), then ${HELD} × 100 held;` +
        ` probes ${times.length}: p50 ${pct(times, 0.5)} ms p99 ${pct(times, 0.99)} ms max ${pct(times, 1)} ms; RSS peak ${peak} MB, held ${r.heldRss} MB, 3 s after ${rss()} MB`,
    );
  }
  ps.destroy();
  proc.kill();
}
main().catch((err) => {
  console.error(err);
  proc.kill();
  process.exit(1);
});
