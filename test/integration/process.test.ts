/**
 * The compiled service as a user runs it: a bad variable stops it with a
 * clear message; SIGTERM drains in-flight Checks and exits 0. (The README's
 * walkthroughs run against it in test/deploy/readme-walkthrough.test.ts.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvoyClient, httpStatus } from '../helpers/envoy.js';
import { freePort } from '../helpers/redis.js';
import { until } from '../helpers/app.js';

const ROOT = resolve(import.meta.dirname, '../..');

function startService(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (code) => r(code)));
}

describe('configuration errors', () => {
  it('a bad variable stops the service with exit code 2 and a message naming it', async () => {
    const p = startService({ GRPC_PORT: 'ninety', ADMIN_HOST: '0.0.0.0' });
    let err = '';
    p.stderr!.on('data', (d) => (err += d));
    expect(await exited(p)).toBe(2);
    expect(err).toContain('GRPC_PORT="ninety": must be a port number');
    expect(err).toContain('ADMIN_TOKEN: a token (ADMIN_TOKEN or ADMIN_TOKENS_FILE) is required when ADMIN_HOST (0.0.0.0) is not a loopback address');
  });
});

describe('the running service', () => {
  let proc: ChildProcess;
  let grpcPort: number;
  let adminUrl: string;

  beforeAll(async () => {
    grpcPort = await freePort();
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    proc = startService({
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      ADMIN_PORT: String(adminPort),
      DATA_FILE: join(mkdtempSync(join(tmpdir(), 'cauthz-proc-')), 'consumers.json'),
    });
    await until(async () => (await fetch(`${adminUrl}/readyz`).catch(() => undefined))?.ok === true, 10_000, 50);
    const created = await fetch(`${adminUrl}/v1/consumers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bob', auth: { type: 'api-key', generation: 'custom', key: 'bob-custom-key-0001', source: { in: 'header', name: 'x-api-key' } } }),
    });
    expect(created.status).toBe(201);
  });

  afterAll(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGKILL');
      await exited(proc);
    }
  });

  it('SIGTERM: in-flight Checks are answered, then the process exits 0', async () => {
    const envoy = new EnvoyClient(grpcPort);
    // An open connection, as Envoy keeps one; then a burst, and SIGTERM while it is in flight.
    expect(httpStatus(await envoy.check({ headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe(200);
    const inflight = Array.from({ length: 200 }, () => envoy.check({ headers: { 'x-api-key': 'bob-custom-key-0001' } }));
    await new Promise((r) => setImmediate(r));
    proc.kill('SIGTERM');
    const answers = await Promise.allSettled(inflight);
    const code = await exited(proc);
    envoy.close();
    expect(code).toBe(0);
    // Calls already accepted by the server get their answer; none is dropped half-way.
    const answered = answers.filter((a) => a.status === 'fulfilled').length;
    const refused = answers.filter((a) => a.status === 'rejected').map((a) => String((a as PromiseRejectedResult).reason));
    expect(answered + refused.length).toBe(200);
    expect(answered).toBeGreaterThan(0);
    for (const r of refused) expect(r).toMatch(/UNAVAILABLE|CANCELLED/);
  });
});
