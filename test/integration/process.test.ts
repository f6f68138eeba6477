/**
 * The compiled service as a user runs it: a bad variable stops it with a
 * clear message; the README's CLI walkthrough works line by line against it;
 * SIGTERM drains in-flight Checks and exits 0.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvoyClient, httpStatus } from '../helpers/envoy.js';
import { freePort } from '../helpers/redis.js';
import { until } from '../helpers/app.js';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

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

describe('the README walkthrough against the running service', () => {
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
  });

  afterAll(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGKILL');
      await exited(proc);
    }
  });

  it('every line of the walkthrough runs, and the keys and tokens it makes are accepted by Check', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Walkthrough (CLI)'), readme.indexOf('<!-- section:deploy -->'));
    const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    // Lines joined by a trailing backslash are one command, as in a shell.
    const lines = blocks
      .join('\n')
      .replace(/\\\n/g, ' ')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
      // `check` lines exit 1 on a deny; test/deploy/readme-walkthrough.test.ts replays them with their outcomes.
      .filter((l) => !l.trim().startsWith('consumer-authz check'));
    expect(lines.length).toBeGreaterThan(15);
    // "In the project folder": a scratch folder whose bin/ is the project's, so
    // the files the walkthrough writes (JWKS, PEM) land outside the clone.
    const work = mkdtempSync(join(tmpdir(), 'cauthz-walk-'));
    symlinkSync(join(ROOT, 'bin'), join(work, 'bin'));
    // One shell, as a user pasting line by line; -e stops at the first failing line.
    const script = ['set -e', `cd ${JSON.stringify(work)}`, ...lines].join('\n');
    const { stdout } = await run('bash', ['-c', script], {
      env: { PATH: process.env.PATH ?? '', HOME: work, CONSUMER_AUTHZ_URL: adminUrl },
    });
    const key = /API key \(shown once; store it now\): (\S+)/.exec(stdout)?.[1];
    expect(key).toMatch(/^cak_/);
    // The echoed tokens: erin's, erin's after rotation, dave's.
    const tokens = stdout.split('\n').filter((l) => /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/.test(l));
    expect(tokens).toHaveLength(3);
    const envoy = new EnvoyClient(grpcPort);
    try {
      // alice holds the route "chat" grant from the walkthrough, bob a short-term
      // one (until 2030); someone holding no grant is refused it.
      expect(httpStatus(await envoy.check({ route: 'chat', headers: { authorization: `Bearer ${key}` } }))).toBe(200);
      expect(httpStatus(await envoy.check({ route: 'chat', headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe(200);
      expect(httpStatus(await envoy.check({ route: 'chat', headers: { authorization: `Bearer ${tokens[0]}` } }))).toBe(403);
      expect(httpStatus(await envoy.check({ headers: { authorization: `Bearer ${tokens[0]}` } }))).toBe(200);
      expect(httpStatus(await envoy.check({ headers: { authorization: `Bearer ${tokens[1]}` } }))).toBe(200);
      expect(httpStatus(await envoy.check({ headers: { 'x-jwt': tokens[2] as string } }))).toBe(200);
    } finally {
      envoy.close();
    }
  }, 90_000); // some 25 CLI processes one after another; slow on a loaded machine

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
