/**
 * SIGTERM on the built service: health turns NOT_SERVING (gRPC) and /readyz
 * 503 at once, Checks keep being answered for LAME_DUCK_MS (a stream of calls
 * on Envoy's kind of long-lived connection sees no failure), then the drain,
 * and exit 0. A second signal skips the rest of the lame duck.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/app.js';
import { EnvoyClient, httpStatus } from '../helpers/envoy.js';
import { createServer } from 'node:net';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { startService, type Service } from '../helpers/service.js';

const healthPkg = grpc.loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String })) as any;

async function started(env: Record<string, string>): Promise<{ svc: Service; key: string }> {
  const svc = await startService({ DATA_FILE: join(mkdtempSync(join(tmpdir(), 'cauthz-lame-')), 'consumers.json'), LOG_LEVEL: 'info', ...env });
  await svc.ready();
  const r = await svc.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(r.status).toBe(201);
  return { svc, key: r.body.apiKey };
}

function healthStatus(client: any): Promise<string> {
  return new Promise((resolve) =>
    client.Check({ service: 'envoy.service.auth.v3.Authorization' }, { deadline: Date.now() + 1000 }, (err: unknown, res: { status: string }) =>
      resolve(err ? 'ERROR' : res.status),
    ),
  );
}

describe('SIGTERM: lame duck, then drain', () => {
  it('NOT_SERVING at once, every Check answered during LAME_DUCK_MS, then exit 0', async () => {
    const LAME_DUCK_MS = 1500;
    const { svc, key } = await started({ LAME_DUCK_MS: String(LAME_DUCK_MS), DRAIN_MS: '2000' });
    const envoy = new EnvoyClient(svc.grpcPort);
    const health = new healthPkg.grpc.health.v1.Health(`127.0.0.1:${svc.grpcPort}`, grpc.credentials.createInsecure());
    expect(await healthStatus(health)).toBe('SERVING');
    expect(httpStatus(await envoy.check({ headers: { authorization: `Bearer ${key}` } }))).toBe(200);

    // A stream of Checks, 4 at a time, until the process is gone; each outcome with its time.
    const results: Array<{ at: number; ok: boolean }> = [];
    let running = true;
    const worker = async () => {
      while (running) {
        const ok = await envoy.check({ headers: { authorization: `Bearer ${key}` } }).then(
          (r) => httpStatus(r) === 200,
          () => false,
        );
        results.push({ at: Date.now(), ok });
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    await until(() => results.length >= 20, 5000, 5);

    const t0 = Date.now();
    svc.kill('SIGTERM');
    // Health and readiness flip at once (well within Envoy's 1 s health-check interval).
    const notServingAfter = await until(async () => (await healthStatus(health)) === 'NOT_SERVING', 1000, 10);
    const readyz = await fetch(`${svc.adminUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ ready: false, draining: true });
    expect(notServingAfter).toBeLessThan(500);

    const code = await svc.exited;
    const exitedAfter = Date.now() - t0;
    running = false;
    await Promise.all(workers);
    envoy.close();
    health.close();

    expect(code).toBe(0);
    expect(exitedAfter).toBeGreaterThanOrEqual(LAME_DUCK_MS);
    const during = results.filter((r) => r.at > t0 && r.at < t0 + LAME_DUCK_MS - 100);
    expect(during.length).toBeGreaterThan(50);
    expect(during.filter((r) => !r.ok)).toEqual([]);
    expect(svc.out()).toContain('lame duck: health NOT_SERVING, still answering Checks');
  });

  it('a second SIGTERM during the lame duck drains at once', async () => {
    const { svc } = await started({ LAME_DUCK_MS: '20000' });
    const t0 = Date.now();
    svc.kill('SIGTERM');
    await until(() => svc.out().includes('lame duck'), 3000, 10);
    svc.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('LAME_DUCK_MS=0 drains at once, as before', async () => {
    const { svc } = await started({ LAME_DUCK_MS: '0' });
    const t0 = Date.now();
    svc.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('WORKERS=2: the primary forwards SIGTERM; each worker is a lame duck, then drains', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis({ persist: false });
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('every worker reports NOT_SERVING at once and answers Checks through the lame duck; the primary exits 0', async () => {
    const LAME_DUCK_MS = 1500;
    const svc = await startService({ WORKERS: '2', REDIS_URL: redis.url, LOG_LEVEL: 'info', LAME_DUCK_MS: String(LAME_DUCK_MS) });
    await until(() => (svc.out().match(/consumer cache in step with the store/g) ?? []).length === 2, 20_000);
    const r = await svc.admin('POST', '/v1/consumers', { name: 'w', auth: { type: 'api-key' } });
    expect(r.status).toBe(201);
    const key = r.body.apiKey as string;
    // Several connections, so both workers (round robin by connection) hold some.
    const clients = Array.from({ length: 4 }, () => new EnvoyClient(svc.grpcPort));
    const healths = Array.from({ length: 4 }, () => new healthPkg.grpc.health.v1.Health(`127.0.0.1:${svc.grpcPort}`, grpc.credentials.createInsecure()));
    await until(async () => {
      const s = await Promise.all(clients.map((c) => c.check({ headers: { authorization: `Bearer ${key}` } }).then(httpStatus, () => 0)));
      return s.every((x) => x === 200);
    }, 5000);
    expect(await Promise.all(healths.map(healthStatus))).toEqual(['SERVING', 'SERVING', 'SERVING', 'SERVING']);

    const results: Array<{ at: number; ok: boolean }> = [];
    let running = true;
    const workers = clients.map(async (c) => {
      while (running) {
        const ok = await c.check({ headers: { authorization: `Bearer ${key}` } }).then((x) => httpStatus(x) === 200, () => false);
        results.push({ at: Date.now(), ok });
      }
    });
    const t0 = Date.now();
    svc.kill('SIGTERM');
    await until(async () => (await Promise.all(healths.map(healthStatus))).every((s) => s === 'NOT_SERVING'), 1000, 10);
    const code = await svc.exited;
    running = false;
    await Promise.all(workers);
    for (const c of clients) c.close();
    for (const h of healths) h.close();
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LAME_DUCK_MS);
    const during = results.filter((x) => x.at > t0 && x.at < t0 + LAME_DUCK_MS - 100);
    expect(during.length).toBeGreaterThan(50);
    expect(during.filter((x) => !x.ok)).toEqual([]);
  }, 40_000);

  it('a worker that cannot start (GRPC_PORT in use) is not forked again: the primary exits 2 with the one line', async () => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      const svc = await startService({ WORKERS: '2', REDIS_URL: redis.url, GRPC_PORT: String(port) });
      expect(await svc.exited).toBe(2);
      expect(svc.err()).toContain(`consumer-authz: GRPC_PORT=${port}: address 127.0.0.1:${port} is already in use; stop the other process or choose another port`);
      expect(svc.err()).not.toMatch(/^\s+at /m);
    } finally {
      blocker.close();
    }
  });
});
