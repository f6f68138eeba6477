/**
 * Focused start-up probe: `node dist-bench/bench/startup.js [consumers=1000000] [runs=2] [app-server.js …]`.
 * Seeds `consumers` API-key consumers into its own redis-server (as the bench
 * does), then starts the real service (bench/app-server.js, pinned like in the
 * bench) `runs` times and prints, per run, spawn-to-ready time and the heap
 * after a full GC at ready. Further arguments name other builds' app-server.js
 * to compare against the same seeded Redis (rounds alternate between them).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis } from '../test/helpers/redis.js';
import { startNode } from './lib/procs.js';
import { seedConsumers } from './lib/seed.js';

const here = dirname(fileURLToPath(import.meta.url));
const n = Number(process.argv[2] ?? 1_000_000);
const runs = Number(process.argv[3] ?? 2);
const servers = process.argv.length > 4 ? process.argv.slice(4) : [join(here, 'app-server.js')];

interface Ready {
  ready?: boolean;
  consumers?: number;
  memory?: { heapUsed: number; rss: number };
}

const redis = await startRedis({ persist: false });
try {
  const seedMs = await seedConsumers(redis.url, 0, n);
  process.stdout.write(`seeded ${n} consumers in ${seedMs} ms\n`);
  for (let r = 0; r < runs; r++) {
    for (const server of servers) {
      const t0 = Date.now();
      const child = startNode<Ready>(server, { REDIS_URL: redis.url }, ['--expose-gc', '--max-old-space-size=4096']);
      const m = await child.next((x) => x.ready === true, 300_000);
      const ms = Date.now() - t0;
      const mib = (b: number | undefined) => ((b ?? NaN) / 2 ** 20).toFixed(0);
      process.stdout.write(`${server} run ${r + 1}: ready ${ms} ms after spawn, ${m.consumers} consumers, heap ${mib(m.memory?.heapUsed)} MiB, rss ${mib(m.memory?.rss)} MiB\n`);
      await child.stop();
    }
  }
} finally {
  await redis.close();
}
