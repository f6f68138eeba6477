/**
 * The start-up line tells the person who just started the service where it is:
 * the gRPC and admin addresses, the console URL, and where the data lives (the
 * file's absolute path, or the Redis address without user, password or the
 * sentinels' password).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';

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
