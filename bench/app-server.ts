/**
 * The real service (App) for the benchmark, as a child process with IPC:
 * sends {ready, grpcPort, readyMs, memory} once the consumer cache is warm
 * (readyMs: from process start, module loading included), answers
 * {cmd:'memory'} with the heap after a full GC, and stops on {cmd:'stop'}.
 * Needs --expose-gc for meaningful heap numbers. BENCH_TOKEN_CACHE_SIZE sets
 * the verified-token cache size (0: every JWT is verified).
 */
import { performance } from 'node:perf_hooks';
import { App } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';

function memory() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

const config = loadConfig({
  GRPC_HOST: '127.0.0.1',
  GRPC_PORT: '0',
  ADMIN_PORT: '0',
  LOG_LEVEL: 'silent',
  REDIS_URL: process.env.REDIS_URL,
  SYNC_INTERVAL_MS: '1000',
});
const cacheSize = process.env.BENCH_TOKEN_CACHE_SIZE;
const app = await App.create({ config, tokenCacheSize: cacheSize === undefined ? undefined : Number(cacheSize) });
const ports = await app.start();
await app.replicator.whenWarm();
const readyMs = performance.now();
process.send?.({ ready: true, grpcPort: ports.grpc, readyMs, consumers: app.replica.size, memory: memory() });

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'memory') process.send?.({ memory: memory() });
  if (m.cmd === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (m.cmd === 'stop') void app.stop().then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
