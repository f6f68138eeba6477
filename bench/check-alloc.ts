/**
 * Focused probe of what one Check costs in process, without sockets:
 * `node --expose-gc --min-semi-space-size=256 --max-semi-space-size=256 dist-bench/bench/check-alloc.js [checks=200000]`.
 *
 * For each case (an API-key allow from the bearer header, from an API-key
 * header, and a denial of an unknown key) it warms the path up, then runs
 * `checks` decisions and, in a second pass, decisions and the encoded answer
 * bytes (`answerFrame`, what the gRPC edge sends), and prints the heap bytes
 * allocated per call (heap growth over the pass, with a young generation large
 * enough that no scavenge runs inside it: a pass that saw a GC is reported as
 * such) and the ns per call. The API-key allow path is meant to allocate only
 * what it cannot avoid (the key's digest, the bearer regex match); a change
 * that adds an object or a closure per request shows here as more bytes.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Authorizer } from '../src/authz/authorizer.js';
import type { AuthzRequest } from '../src/authz/request.js';
import { answerFrame } from '../src/grpc/check-answers.js';
import { ConsumerReplica } from '../src/replica/consumer-replica.js';
import { apiKeyConsumer, apiKeyRecord, changeSet } from '../test/helpers/fixtures.js';

const n = Number(process.argv[2] ?? 200_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc --min-semi-space-size=256 --max-semi-space-size=256');

const BEARER_KEY = 'bench-bearer-key-0000000001';
const HEADER_KEY = 'bench-header-key-0000000002';
const replica = new ConsumerReplica();
replica.apply(
  changeSet({
    consumers: [
      apiKeyConsumer('alice', [apiKeyRecord('key_a', BEARER_KEY)]),
      apiKeyConsumer('bob', [apiKeyRecord('key_b', HEADER_KEY)], { source: { in: 'header', name: 'x-api-key' } }),
    ],
  }),
);
replica.authoritative = true;
const authorizer = new Authorizer({ replica });

function request(headers: Record<string, string>): AuthzRequest {
  return { id: '', method: 'POST', path: '/v1/chat', headers, route: '' };
}

const CASES: Array<[string, AuthzRequest, boolean]> = [
  ['api-key allow, bearer', request({ authorization: `Bearer ${BEARER_KEY}` }), true],
  ['api-key allow, x-api-key header', request({ 'x-api-key': HEADER_KEY }), true],
  ['unknown key, deny', request({ authorization: 'Bearer bench-unknown-key-000000000' }), false],
];

let gcs = 0;
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });

/** The observer reports GCs asynchronously: a tick lets it catch up. */
const settle = () => new Promise((r) => setTimeout(r, 20));

/** Bytes and ns per call of `fn` over n calls, and whether a GC ran inside the pass. */
async function measure(fn: () => unknown): Promise<{ bytes: number; ns: number; gc: boolean }> {
  for (let i = 0; i < 20_000; i++) fn();
  gc!();
  gc!();
  await settle();
  const seen = gcs;
  const before = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const t1 = process.hrtime.bigint();
  const after = process.memoryUsage().heapUsed;
  await settle();
  return { bytes: (after - before) / n, ns: Number(t1 - t0) / n, gc: gcs !== seen };
}

for (const [title, req, allow] of CASES) {
  const first = authorizer.check(req);
  if (first instanceof Promise || first.allow !== allow) throw new Error(`${title}: unexpected decision`);
  const decide = await measure(() => authorizer.check(req));
  const answer = await measure(() => answerFrame(authorizer.check(req) as never));
  const note = (m: { gc: boolean }) => (m.gc ? ' (a GC ran: bytes undercounted)' : '');
  process.stdout.write(
    `${title}: decision ${decide.bytes.toFixed(1)} B, ${decide.ns.toFixed(0)} ns${note(decide)}; ` +
      `decision + answer bytes ${answer.bytes.toFixed(1)} B, ${answer.ns.toFixed(0)} ns${note(answer)}\n`,
  );
}
