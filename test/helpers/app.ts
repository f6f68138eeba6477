/**
 * Starts the real App (real gRPC server and admin API on port 0) for
 * integration tests, plus small clients for both.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { EnvoyClient } from './envoy.js';

export interface TestApp {
  app: App;
  grpcPort: number;
  adminPort: number;
  envoy: EnvoyClient;
  /** Calls the admin API; resolves with status and parsed JSON body. */
  admin(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  redisUrl?: string;
  dataFile?: string;
  env?: Record<string, string>;
  now?: () => number;
  adminToken?: string;
  /** A logger of the test's own (e.g. one writing to a captured stream). */
  logger?: Logger;
}

export async function startApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const env: Record<string, string> = {
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    ADMIN_PORT: '0',
    LOG_LEVEL: 'silent',
    SYNC_INTERVAL_MS: '200',
    DRAIN_MS: '2000',
    DATA_FILE: opts.dataFile ?? join(mkdtempSync(join(tmpdir(), 'cauthz-data-')), 'consumers.json'),
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...(opts.adminToken ? { ADMIN_TOKEN: opts.adminToken } : {}),
    ...opts.env,
  };
  const config = loadConfig(env);
  const app = await App.create({ config, logger: opts.logger ?? createLogger(config.logLevel), now: opts.now });
  const ports = await app.start();
  await app.replicator.whenWarm();
  await app.upkeep; // start-up passes (grants upgrade) done: they would show in command counts
  const envoy = new EnvoyClient(ports.grpc);
  return {
    app,
    grpcPort: ports.grpc,
    adminPort: ports.admin,
    envoy,
    async admin(method, path, body, token = opts.adminToken) {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`http://127.0.0.1:${ports.admin}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      envoy.close();
      await app.stop();
    },
  };
}

/** Polls `fn` until it returns true (events we cannot await directly, e.g. another instance's cache). */
export async function until(fn: () => Promise<boolean> | boolean, timeoutMs = 3000, stepMs = 20): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
