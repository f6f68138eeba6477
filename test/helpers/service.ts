/**
 * The built service (dist/src/main.js) as a real child process: start it on
 * free ports, read its output, wait for readiness or exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { until } from './app.js';
import { freePort } from './redis.js';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Service {
  proc: ChildProcess;
  grpcPort: number;
  adminPort: number;
  adminUrl: string;
  /** Everything written to stdout and stderr so far. */
  out(): string;
  err(): string;
  exited: Promise<number | null>;
  ready(timeoutMs?: number): Promise<void>;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  kill(signal?: NodeJS.Signals): void;
}

export async function startService(env: Record<string, string>, spawnOpts: { uid?: number; gid?: number } = {}): Promise<Service> {
  const grpcPort = Number(env.GRPC_PORT ?? (await freePort()));
  const adminPort = Number(env.ADMIN_PORT ?? (await freePort()));
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', GRPC_HOST: '127.0.0.1', ...env, GRPC_PORT: String(grpcPort), ADMIN_PORT: String(adminPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...spawnOpts,
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    proc,
    grpcPort,
    adminPort,
    adminUrl,
    out: () => out,
    err: () => err,
    exited,
    async ready(timeoutMs = 10_000) {
      await until(async () => {
        if (proc.exitCode !== null) throw new Error(`service exited ${proc.exitCode}: ${err}${out}`);
        return (await fetch(`${adminUrl}/readyz`).catch(() => undefined))?.ok === true;
      }, timeoutMs, 30);
    },
    async admin(method, path, body) {
      const res = await fetch(`${adminUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}
