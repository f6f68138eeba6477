/**
 * The start-up line tells the person who just started the service where it is:
 * the gRPC and admin addresses, the console URL, and where the data lives (the
 * file's absolute path, or the Redis address without user, password or the
 * sentinels' password). A Redis that cannot be reached is said so, with its
 * address and the error, again with a back-off while it lasts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { until } from '../helpers/app.js';
import { startRedis } from '../helpers/redis.js';

async function startupLine(env: Record<string, string>): Promise<{ line: Record<string, unknown>; raw: string; ports: { grpc: number; admin: number } }> {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = loadConfig({ GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', ...env });
  const app = await App.create({ config, logger: createLogger('info', stream) });
  const ports = await app.start();
  await app.stop();
  const text = raw.find((l) => l.includes('consumer-authz listening')) as string;
  expect(text).toBeDefined();
  return { line: JSON.parse(text), raw: raw.join('\n'), ports };
}

describe('start-up log line', () => {
  it('embedded store: addresses, console URL and the data file\'s absolute path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-startup-'));
    const { line, ports } = await startupLine({ DATA_FILE: join(dir, 'consumers.json') });
    expect(line).toMatchObject({
      grpc: `127.0.0.1:${ports.grpc}`,
      admin: `127.0.0.1:${ports.admin}`,
      console: `http://127.0.0.1:${ports.admin}/`,
      store: 'file',
      data: join(dir, 'consumers.json'),
    });
    expect(line.msg).toBe(
      `consumer-authz listening: gRPC 127.0.0.1:${ports.grpc}, admin API and console http://127.0.0.1:${ports.admin}/, data in ${join(dir, 'consumers.json')}`,
    );
  });

  it.each([
    ['redis://app:s3cr3t-pw@127.0.0.1:1/2', 'redis://127.0.0.1:1/2'],
    ['redis-sentinel://u:s3cr3t-pw@127.0.0.1:1,127.0.0.1:2/mymaster?sentinelPassword=s3cr3t-pw', 'redis-sentinel://127.0.0.1:1,127.0.0.1:2/mymaster'],
  ])('Redis %s: the address, never a password', async (url, shown) => {
    const { line, raw } = await startupLine({ REDIS_URL: url });
    expect(line).toMatchObject({ store: 'redis', data: shown });
    expect(line.msg).toContain(`data in Redis ${shown}`);
    expect(raw).not.toContain('s3cr3t');
  });
});

describe('Redis unreachable at start', () => {
  it('warns with the address and the error after a second, repeats with a back-off, and says when it is back', async () => {
    const redis = await startRedis({ persist: false });
    await redis.kill();
    const raw: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        raw.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const url = `redis://127.0.0.1:${redis.port}`;
    const config = loadConfig({ GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', REDIS_URL: url });
    const app = await App.create({ config, logger: createLogger('info', stream) });
    try {
      const started = Date.now();
      await app.start();
      const warnings = () => raw.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).startsWith('cannot reach Redis'));
      await until(async () => warnings().length >= 2, 10_000, 50);
      const [first, second] = warnings() as [Record<string, unknown>, Record<string, unknown>];
      expect(first).toMatchObject({ level: 40, redis: `redis://127.0.0.1:${redis.port}`, err: `connect ECONNREFUSED 127.0.0.1:${redis.port}` });
      expect(first.msg).toBe(
        `cannot reach Redis at redis://127.0.0.1:${redis.port} (connect ECONNREFUSED 127.0.0.1:${redis.port}): unknown credentials get 503 and admin writes fail until it answers; retrying (REDIS_URL)`,
      );
      // Not before a second of being down; the second one about 2 s after the first.
      expect(Date.parse(String(first.time)) - started).toBeGreaterThanOrEqual(900);
      expect(Date.parse(String(second.time)) - Date.parse(String(first.time))).toBeGreaterThanOrEqual(1900);
      // Nothing else repeats the outage at warn level (the layout upgrade waits quietly), and no stack trace.
      const otherWarnings = raw.filter((l) => JSON.parse(l).level >= 40 && !l.includes('cannot reach Redis') && !l.includes('SECRETS_KEK'));
      expect(otherWarnings).toEqual([]);
      expect(raw.join('\n')).not.toMatch(/\n\s+at /);
      expect(app.readiness().ready).toBe(false);

      await redis.start();
      await until(async () => raw.some((l) => l.includes('reachable again')), 10_000, 50);
      const back = JSON.parse(raw.find((l) => l.includes('reachable again')) as string);
      expect(back).toMatchObject({ level: 30, msg: `Redis at redis://127.0.0.1:${redis.port} reachable again` });
      await until(async () => app.readiness().ready, 10_000, 50);
    } finally {
      await app.stop();
      await redis.close();
    }
  });
});
