/**
 * Focused probe of the replica's memory and load time, without servers:
 * `node --expose-gc dist-bench/bench/replica-heap.js [consumers=100000]`.
 * Applies `consumers` bench records (the same as bench/lib/seed.ts writes to
 * Redis, parsed from JSON like the store does) to a ConsumerReplica in batches of
 * 10k and prints the retained heap per 100k consumers after a full GC, and
 * the time parsing and applying took.
 */
import { ConsumerReplica } from '../src/replica/consumer-replica.js';
import type { ConsumerRecord } from '../src/consumers/model.js';
import { benchKey, benchRecord } from './lib/seed.js';

const n = Number(process.argv[2] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

gc();
gc();
const before = process.memoryUsage().heapUsed;
const dir = new ConsumerReplica();
let ms = 0;
for (let start = 0; start < n; start += 10_000) {
  // Each batch's JSON is made fresh and dropped, like the text the store reads from Redis.
  const json: string[] = [];
  for (let i = start; i < Math.min(n, start + 10_000); i++) json.push(JSON.stringify(benchRecord(i, benchKey(i))));
  const t0 = performance.now();
  const consumers = new Map<string, ConsumerRecord | null>();
  for (const text of json) {
    const rec = JSON.parse(text) as ConsumerRecord;
    consumers.set(rec.name, rec);
  }
  dir.apply({ epoch: 'e', rev: start, consumers, routes: new Map(), more: false });
  ms += performance.now() - t0;
}
gc();
gc();
const after = process.memoryUsage().heapUsed;
const perConsumer = (after - before) / n;
process.stdout.write(
  `${n} consumers: ${((perConsumer * 100_000) / 2 ** 20).toFixed(1)} MiB per 100k (${perConsumer.toFixed(0)} B each), applied in ${ms.toFixed(0)} ms; size ${dir.size}\n`,
);
