/**
 * Focused probe of route naming, without servers:
 * `node --expose-gc dist-bench/bench/route-naming.js [rounds=20] [opsPerRound=200000]`.
 *
 * One process, one replica holding 1,000 routes with match rules
 * (bench/lib/seed-routes.ts) and 100 API-key consumers. Two variants of the
 * same API-key allow, measured in alternating rounds (so drift of the
 * machine hits both alike):
 *   matched    no context_extensions: the route is named by the match rules;
 *   extension  the same request naming the route in context_extensions.
 * Per variant it prints the median ns per Check of the whole in-process path
 * (decode the CheckRequest bytes, authorize, encode the answer) and of the
 * authorizer alone, and the minor GCs (scavenges) that N authorizer calls
 * caused: an allocation-free allow causes none. Before measuring it asserts
 * that each request is allowed and that the route really is named (another
 * consumer, not granted there, is refused with route_forbidden).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Authorizer } from '../src/authz/authorizer.js';
import type { AuthzRequest } from '../src/authz/request.js';
import type { ConsumerRecord, RouteRecord } from '../src/consumers/model.js';
import { answerFrame } from '../src/grpc/check-answers.js';
import { decodeCheckRequest } from '../src/grpc/wire-decode.js';
import { ConsumerReplica } from '../src/replica/consumer-replica.js';
import { envoyCheckRequest } from '../test/helpers/envoy.js';
import { encodeOfficialRequest } from '../test/helpers/official.js';
import { BENCH_MATCHED_PATH, BENCH_MATCHED_ROUTE, BENCH_ROUTE_HOST, BENCH_ROUTES, benchRoute } from './lib/seed-routes.js';
import { benchKey, benchName, benchRecord } from './lib/seed.js';

const rounds = Number(process.argv[2] ?? 20);
const ops = Number(process.argv[3] ?? 200_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const replica = new ConsumerReplica();
const consumers = new Map<string, ConsumerRecord | null>();
for (let i = 0; i < 100; i++) consumers.set(benchName(i), JSON.parse(JSON.stringify(benchRecord(i, benchKey(i)))) as ConsumerRecord);
const routes = new Map<string, RouteRecord | null>();
for (let i = 0; i < BENCH_ROUTES; i++) {
  const r = JSON.parse(JSON.stringify(benchRoute(i))) as RouteRecord;
  routes.set(r.route, r);
}
replica.apply({ epoch: 'e', rev: 1, consumers, routes, more: false });
replica.authoritative = true;
const authz = new Authorizer({ replica });

const bytes = (route: string | undefined, key = benchKey(0)) =>
  encodeOfficialRequest(envoyCheckRequest({ method: 'POST', host: BENCH_ROUTE_HOST, path: BENCH_MATCHED_PATH, route, headers: { authorization: `Bearer ${key}` } }));

const variants = [
  { name: 'matched', wire: bytes(undefined), other: bytes(undefined, benchKey(1)) },
  { name: 'extension', wire: bytes(BENCH_MATCHED_ROUTE), other: bytes(BENCH_MATCHED_ROUTE, benchKey(1)) },
];

for (const v of variants) {
  const d = authz.check(decodeCheckRequest(v.wire) as AuthzRequest);
  if (d instanceof Promise || !d.allow || d.identity.consumerName !== benchName(0)) throw new Error(`${v.name}: not allowed as ${benchName(0)}`);
  const o = authz.check(decodeCheckRequest(v.other) as AuthzRequest);
  if (o instanceof Promise || o.allow || o.reason !== 'route_forbidden') throw new Error(`${v.name}: the route was not named (consumer 1 not refused)`);
}

let scavenges = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === 1) scavenges++;
});
obs.observe({ entryTypes: ['gc'] });

function fullPath(wire: Buffer): number {
  let n = 0;
  for (let i = 0; i < ops; i++) {
    const req = decodeCheckRequest(wire) as AuthzRequest;
    const d = authz.check(req) as Exclude<ReturnType<Authorizer['check']>, Promise<unknown>>;
    n += answerFrame(d).length;
  }
  return n;
}

function authorizerOnly(req: AuthzRequest): number {
  let n = 0;
  for (let i = 0; i < ops; i++) if ((authz.check(req) as { allow: boolean }).allow) n++;
  return n;
}

const results = variants.map((v) => ({ ...v, req: decodeCheckRequest(v.wire) as AuthzRequest, full: [] as number[], only: [] as number[], gcs: [] as number[] }));
let sink = 0;
for (let r = 0; r < rounds + 2; r++) {
  for (const v of r % 2 === 0 ? results : [...results].reverse()) {
    gc();
    let t = process.hrtime.bigint();
    sink += fullPath(v.wire);
    const full = Number(process.hrtime.bigint() - t) / ops;
    gc();
    await new Promise((res) => setImmediate(res)); // let the observer report the forced GCs first
    const before = scavenges;
    t = process.hrtime.bigint();
    sink += authorizerOnly(v.req);
    const only = Number(process.hrtime.bigint() - t) / ops;
    await new Promise((res) => setImmediate(res));
    if (r >= 2) {
      // The first two rounds warm the JIT up and are not counted.
      v.full.push(full);
      v.only.push(only);
      v.gcs.push(scavenges - before);
    }
  }
}
obs.disconnect();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const [m, e] = results as [(typeof results)[0], (typeof results)[0]];
for (const v of results) {
  process.stdout.write(
    `${v.name.padEnd(9)}  full path ${median(v.full).toFixed(0)} ns/Check, authorizer ${median(v.only).toFixed(0)} ns/Check, scavenges per ${ops} authorizer calls: median ${median(v.gcs)}, max ${Math.max(...v.gcs)}\n`,
  );
}
const pct = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)} %`;
process.stdout.write(
  `matched vs extension (${rounds} rounds × ${ops}, ${BENCH_ROUTES} routes): full path ${pct(median(m.full), median(e.full))} more, authorizer ${pct(median(m.only), median(e.only))} more (sink ${sink % 7})\n`,
);
