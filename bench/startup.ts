/**
 * Focused start-up probe, on its own redis-server:
 *
 *   node dist-bench/bench/startup.js [sizes=1000000] [runs=3] [--jwt] [--layout=1] [--upgrade] [app-server.js …]
 *
 * For each size (a comma list, e.g. `10000,100000,1000000`) it empties Redis,
 * seeds that many consumers (API-key ones; with `--jwt` JWT ones, HS256 and
 * ES256 alternately) in the current layout (`--layout=1`: the previous one,
 * full records only), then starts the real service (bench/app-server.js,
 * pinned like in the bench) `runs` times and prints, per run, spawn-to-ready
 * time, the heap after a full GC at ready (and per 100k consumers), RSS,
 * external and array buffers. With several sizes it ends with the slope of a
 * least-squares line through (consumers, best ready time).
 *
 * `--upgrade`: per run, seeds the previous layout afresh and starts TWO
 * instances at once; prints how long until the layout version is set (the
 * upgrade finished; polled every 20 ms from the spawn) and each instance's
 * ready time.
 *
 * Further arguments name other builds' app-server.js to compare against the
 * same seeded Redis (rounds alternate between them).
 */
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import type { ConsumerRecord, StoredJwk } from '../src/consumers/model.js';
import { startRedis } from '../test/helpers/redis.js';
import { startNode } from './lib/procs.js';
import { benchRecord, benchKey, seedRecords, type SeedLayout } from './lib/seed.js';

const here = dirname(fileURLToPath(import.meta.url));
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')));
const sizes = (positional[0] ?? '1000000').split(',').map(Number);
const runs = Number(positional[1] ?? 3);
const servers = positional.length > 2 ? positional.slice(2) : [join(here, 'app-server.js')];
const jwt = flags.has('--jwt');
const upgrade = flags.has('--upgrade');
const layout: SeedLayout = flags.has('--layout=1') || upgrade ? 1 : 2;

interface Ready {
  ready?: boolean;
  consumers?: number;
  memory?: { heapUsed: number; rss: number; external: number; arrayBuffers: number };
}

const T = '2026-01-01T00:00:00.000Z';

/** ES256 public keys shared by the ES256 consumers (the replica keeps each consumer's JWK; sharing changes nothing for it). */
const esKeys: StoredJwk[] = [];
async function esPool(): Promise<void> {
  for (let i = 0; i < 16; i++) {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const j = await exportJWK(publicKey);
    esKeys.push({ kty: 'EC', kid: `es-${i}`, alg: 'ES256', crv: 'P-256', x: j.x as string, y: j.y as string });
  }
}

/** JWT consumer i: HS256 (its own secret) for even i, ES256 for odd i. */
function jwtRecord(i: number): ConsumerRecord {
  const hex = i.toString(16).padStart(16, '0');
  const hs = i % 2 === 0;
  const jwk: StoredJwk = hs
    ? { kty: 'oct', kid: `hs-${i}`, alg: 'HS256', k: createHash('sha256').update(`bench-jwt-${i}`).digest('base64url') }
    : (esKeys[i % esKeys.length] as StoredJwk);
  return {
    id: `csm_${hex}`,
    name: `bench-jwt-${i}`,
    description: '',
    enabled: true,
    createdAt: T,
    updatedAt: T,
    version: 1,
    auth: {
      type: 'jwt',
      keyType: hs ? 'symmetric' : 'asymmetric',
      keys: [{ kid: jwk.kid, jwk, createdAt: T }],
      token: { in: 'header', name: 'authorization', prefix: 'Bearer ', passthrough: false },
      identity: { claim: 'uid', value: `uid-${hex}` },
      claims: { requireExp: true, clockSkewSeconds: 60 },
      claimsToHeaders: [],
    },
  };
}

const mib = (b: number | undefined) => ((b ?? NaN) / 2 ** 20).toFixed(1);
const spread = (xs: number[]) => `best ${Math.min(...xs)} ms, worst ${Math.max(...xs)} ms, spread ${Math.max(...xs) - Math.min(...xs)} ms`;

if (jwt) await esPool();
const make = jwt ? jwtRecord : (i: number) => benchRecord(i, benchKey(i));
const redis = await startRedis({ persist: false });
const admin = redis.client();
const best: Array<{ n: number; ms: number }> = [];
try {
  process.stdout.write(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} (the machine is shared)\n`);
  for (const n of sizes) {
    const seed = async () => {
      await admin.flushall();
      return seedRecords(redis.url, 0, n, make, 'cauthz:', layout);
    };
    if (upgrade) {
      const times: number[] = [];
      for (let r = 0; r < runs; r++) {
        const seedMs = await seed();
        const t0 = Date.now();
        const pair = [0, 1].map(() => startNode<Ready>(servers[0] as string, { REDIS_URL: redis.url }, ['--expose-gc', '--max-old-space-size=4096']));
        const readyAt = pair.map((c) => c.next((x) => x.ready === true, 300_000).then(() => Date.now() - t0));
        while ((await admin.get('cauthz:layout')) === null) await new Promise((res) => setTimeout(res, 20));
        const upgradedMs = Date.now() - t0;
        const ready = await Promise.all(readyAt);
        const checks = (await admin.keys('cauthz:q:*')).length;
        times.push(upgradedMs);
        process.stdout.write(`upgrade of ${n} (seeded in ${seedMs} ms) with two instances, run ${r + 1}: layout set ${upgradedMs} ms after spawn, ${checks} check records; instances ready at ${ready.join(' / ')} ms\n`);
        await Promise.all(pair.map((c) => c.stop()));
      }
      process.stdout.write(`upgrade ${n}: ${spread(times)}\n`);
      continue;
    }
    const seedMs = await seed();
    process.stdout.write(`seeded ${n} ${jwt ? 'JWT (HS256/ES256)' : 'API-key'} consumers, layout ${layout}, in ${seedMs} ms\n`);
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      for (const server of servers) {
        const t0 = Date.now();
        const child = startNode<Ready>(server, { REDIS_URL: redis.url }, ['--expose-gc', '--max-old-space-size=4096']);
        const m = await child.next((x) => x.ready === true, 300_000);
        const ms = Date.now() - t0;
        if (server === servers[0]) times.push(ms);
        const heap = m.memory?.heapUsed ?? NaN;
        process.stdout.write(
          `${server} ${n} run ${r + 1}: ready ${ms} ms after spawn, ${m.consumers} consumers, heap ${mib(heap)} MiB (${mib((heap * 100_000) / n)} MiB per 100k), rss ${mib(m.memory?.rss)} MiB, external ${mib(m.memory?.external)} MiB, arrayBuffers ${mib(m.memory?.arrayBuffers)} MiB\n`,
        );
        await child.stop();
      }
    }
    process.stdout.write(`ready ${n}: ${spread(times)}\n`);
    best.push({ n, ms: Math.min(...times) });
  }
  if (best.length > 1) {
    const mx = best.reduce((a, b) => a + b.n, 0) / best.length;
    const my = best.reduce((a, b) => a + b.ms, 0) / best.length;
    const slope = best.reduce((a, b) => a + (b.n - mx) * (b.ms - my), 0) / best.reduce((a, b) => a + (b.n - mx) ** 2, 0);
    process.stdout.write(`slope ${(slope * 100_000).toFixed(0)} ms per 100k consumers, intercept ${(my - slope * mx).toFixed(0)} ms (best times: ${best.map((b) => `${b.n}: ${b.ms} ms`).join(', ')})\n`);
  }
} finally {
  admin.disconnect();
  await redis.close();
}
