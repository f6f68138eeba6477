/**
 * WORKERS=2: the built service (dist/) under node:cluster — two worker
 * processes serve one gRPC port, answer Check and health, and drain and exit
 * on SIGTERM. Also: WORKERS > 1 without REDIS_URL is a configuration error.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { EnvoyClient, httpStatus } from '../helpers/envoy.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { until } from '../helpers/app.js';

let redis: TestRedis;
let proc: ChildProcess | undefined;

beforeAll(async () => {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  expect(build.status, build.stdout + build.stderr).toBe(0);
  redis = await startRedis({ persist: false });
}, 120_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  await redis?.close();
});

it('WORKERS > 1 needs REDIS_URL', () => {
  expect(() => loadConfig({ WORKERS: '2' })).toThrow(ConfigError);
  expect(() => loadConfig({ WORKERS: '0' })).toThrow(/WORKERS/);
  expect(loadConfig({ WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:6379' }).workers).toBe(2);
  expect(loadConfig({}).workers).toBe(1);
});

it('two workers share the ports, answer Check, and drain on SIGTERM', async () => {
  const [grpcPort, adminPort] = [await freePort(), await freePort()];
  proc = spawn(process.execPath, ['dist/src/main.js'], {
    env: { ...process.env, WORKERS: '2', REDIS_URL: redis.url, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(grpcPort), ADMIN_PORT: String(adminPort), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => (out.match(/consumer cache in step with the store/g) ?? []).length === 2, 20_000);

  const pids = execFileSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' }).trim().split('\n');
  expect(pids).toHaveLength(2);

  const created = await fetch(`http://127.0.0.1:${adminPort}/v1/consumers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'w', auth: { type: 'api-key' } }),
  });
  expect(created.status).toBe(201);
  const { apiKey } = (await created.json()) as { apiKey: string };

  // Several connections, so both workers (round robin by connection) answer.
  const clients = Array.from({ length: 4 }, () => new EnvoyClient(grpcPort));
  await until(async () => {
    const statuses = await Promise.all(clients.map((c) => c.check({ headers: { authorization: `Bearer ${apiKey}` } }).then(httpStatus)));
    return statuses.every((s) => s === 200);
  }, 5000);
  for (const c of clients) c.close();

  const exited = new Promise<number | null>((resolve) => proc!.once('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 60_000);
