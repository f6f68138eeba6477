/**
 * A real redis-server for tests: started on a free loopback port with its own
 * temp dir (append-only file on, so data survives a stop/start like a real
 * deployment), stoppable and restartable on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL: no goodbye to clients, like a crash). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data dir. */
  start(): Promise<void>;
  /** A plain client, for poking at the data directly. */
  client(): Redis;
  /** Stops for good and removes the data dir. */
  close(): Promise<void>;
}

export async function startRedis(opts: { persist?: boolean } = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cauthz-redis-'));
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];

  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no'];
    args.push('--appendonly', opts.persist === false ? 'no' : 'yes', '--appendfsync', 'always');
    proc = spawn('redis-server', args, { stdio: 'ignore' });
    const p = proc;
    await new Promise<void>((resolve, reject) => {
      p.once('error', (err) => reject(new Error(`cannot start redis-server (is it installed?): ${err.message}`)));
      const probe = async (tries: number): Promise<void> => {
        const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on('error', () => {});
        try {
          await c.connect();
          await c.ping();
          c.disconnect();
          resolve();
        } catch {
          c.disconnect();
          if (tries <= 0) reject(new Error('redis-server did not start'));
          else setTimeout(() => void probe(tries - 1), 50);
        }
      };
      void probe(100);
    });
  };

  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
    proc = undefined;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    client() {
      const c = new Redis({ port, host: '127.0.0.1' });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
