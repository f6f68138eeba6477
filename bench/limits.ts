/**
 * Focused probe of what a rate limit that is not reached costs an API-key
 * Check, without servers:
 * `node --expose-gc dist-bench/bench/limits.js [rounds=20] [opsPerRound=200000]`.
 *
 * One process, one replica of 100 API-key consumers, one Authorizer with a
 * Limiter on the file store's counters (LocalCounters). Two variants of the
 * same allow, measured in alternating rounds (drift of the machine hits both
 * alike):
 *   unlimited  a consumer without limits;
 *   limited    a consumer with a per-consumer rate limit and a quota, both
 *              far from reached (budget comes from leases in hand: no take
 *              on the measured path once warm).
 * Per variant: median ns per Check of the whole in-process path (decode,
 * authorize, encode) and of the authorizer alone, and the scavenges N
 * authorizer calls caused. Before measuring it asserts that both are allowed
 * and that the limit is enforced (a consumer with a 1-request bucket is
 * refused on its second request with rate_limited).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Authorizer } from '../src/authz/authorizer.js';
import type { AuthzRequest } from '../src/authz/request.js';
import type { ConsumerLimits, ConsumerRecord } from '../src/consumers/model.js';
import { answerFrame } from '../src/grpc/check-answers.js';
import { decodeCheckRequest } from '../src/grpc/wire-decode.js';
import { Limiter } from '../src/limits/limiter.js';
import { ConsumerReplica } from '../src/replica/consumer-replica.js';
import { LocalCounters } from '../src/store/usage-counters.js';
import { envoyCheckRequest } from '../test/helpers/envoy.js';
import { encodeOfficialRequest } from '../test/helpers/official.js';
import { benchKey, benchName, benchRecord } from './lib/seed.js';

const rounds = Number(process.argv[2] ?? 20);
const ops = Number(process.argv[3] ?? 200_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const FAR: ConsumerLimits = { rate: { requests: 1_000_000_000, per: 'second' }, quota: { requests: 1_000_000_000, period: 'month' } };
const TIGHT: ConsumerLimits = { rate: { requests: 1, per: 'hour' } };

const replica = new ConsumerReplica();
const consumers = new Map<string, ConsumerRecord | null>();
for (let i = 0; i < 100; i++) {
  const rec = JSON.parse(JSON.stringify(benchRecord(i, benchKey(i)))) as ConsumerRecord;
  consumers.set(benchName(i), i === 1 ? { ...rec, limits: FAR } : i === 2 ? { ...rec, limits: TIGHT } : rec);
}
replica.apply({ epoch: 'e', rev: 1, consumers, routes: new Map(), more: false });
replica.authoritative = true;
const limiter = new Limiter({ counters: new LocalCounters() });
const authz = new Authorizer({ replica, limiter });

const bytes = (key: string) => encodeOfficialRequest(envoyCheckRequest({ method: 'POST', path: '/v1/chat', route: 'chat', headers: { authorization: `Bearer ${key}` } }));

const decide = async (wire: Buffer) => authz.check(decodeCheckRequest(wire) as AuthzRequest);
for (const [i, want] of [[0, true], [1, true], [2, true]] as const) {
  const d = await decide(bytes(benchKey(i)));
  if (d.allow !== want) throw new Error(`consumer ${i}: not allowed`);
}
const tight = await decide(bytes(benchKey(2)));
if (tight.allow || tight.reason !== 'rate_limited') throw new Error('the limit is not enforced (a 1-request bucket admitted a second request)');
// Leases in hand for the limited consumer before measuring.
for (let i = 0; i < 10; i++) await decide(bytes(benchKey(1)));

const variants = [
  { name: 'unlimited', wire: bytes(benchKey(0)) },
  { name: 'limited', wire: bytes(benchKey(1)) },
];

let scavenges = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === 1) scavenges++;
});
obs.observe({ entryTypes: ['gc'] });

/**
 * Checks that waited for a lease: after a round of the other variant longer
 * than the lease idle time (1 s) the limited consumer's lease went back to
 * the counters, and its next Check takes a new one (once per round at most).
 */
let waits = 0;

// Both loops yield to the event loop every 1,000 Checks (a setImmediate), as a server's event loop does between
// packets: a renewal of a lease lands there. The same in both variants.
async function fullPath(wire: Buffer): Promise<number> {
  let n = 0;
  for (let i = 0; i < ops; i++) {
    if (i % 1000 === 999) await new Promise((res) => setImmediate(res));
    let d = authz.check(decodeCheckRequest(wire) as AuthzRequest);
    if (d instanceof Promise) {
      waits++;
      d = await d;
    }
    n += answerFrame(d).length;
  }
  return n;
}

async function authorizerOnly(req: AuthzRequest): Promise<number> {
  let n = 0;
  for (let i = 0; i < ops; i++) {
    if (i % 1000 === 999) await new Promise((res) => setImmediate(res));
    let d = authz.check(req);
    if (d instanceof Promise) {
      waits++;
      d = await d;
    }
    if (d.allow) n++;
  }
  return n;
}

const results = variants.map((v) => ({ ...v, req: decodeCheckRequest(v.wire) as AuthzRequest, full: [] as number[], only: [] as number[], gcs: [] as number[] }));
let sink = 0;
for (let r = 0; r < rounds + 2; r++) {
  for (const v of r % 2 === 0 ? results : [...results].reverse()) {
    gc();
    let t = process.hrtime.bigint();
    sink += await fullPath(v.wire);
    const full = Number(process.hrtime.bigint() - t) / ops;
    gc();
    await new Promise((res) => setImmediate(res)); // renewals land; the observer reports the forced GCs
    const before = scavenges;
    t = process.hrtime.bigint();
    sink += await authorizerOnly(v.req);
    const only = Number(process.hrtime.bigint() - t) / ops;
    await new Promise((res) => setImmediate(res));
    if (r >= 2) {
      v.full.push(full);
      v.only.push(only);
      v.gcs.push(scavenges - before);
    }
  }
}
obs.disconnect();
await limiter.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const [u, l] = results as [(typeof results)[0], (typeof results)[0]];
for (const v of results) {
  process.stdout.write(
    `${v.name.padEnd(9)}  full path ${median(v.full).toFixed(0)} ns/Check, authorizer ${median(v.only).toFixed(0)} ns/Check, scavenges per ${ops} authorizer calls: median ${median(v.gcs)}, max ${Math.max(...v.gcs)}\n`,
  );
}
const pct = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)} %`;
process.stdout.write(`limited vs unlimited (${rounds} rounds × ${ops}): full path ${pct(median(l.full), median(u.full))} more, authorizer ${pct(median(l.only), median(u.only))} more; ${waits} Checks waited for a lease (sink ${sink % 7})\n`);
