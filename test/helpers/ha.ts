/**
 * High-availability fixtures built from the system's redis-server and
 * redis-sentinel on free loopback ports: a Sentinel group (primary, replica,
 * three sentinels), a three-node Redis Cluster, a TCP proxy that cuts, blackholes
 * or resets one client's connection to Redis while Redis itself stays up, and
 * a redis-server that can be paused, snapshotted and restored.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { until } from './app.js';
import { freePort } from './redis.js';

/** A redis-server or redis-sentinel process. */
export interface Node {
  readonly port: number;
  kill(): Promise<void>;
}

async function ping(port: number): Promise<boolean> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.ping();
    return true;
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

export async function spawnNode(bin: string, args: string[], port: number): Promise<Node> {
  const proc: ChildProcess = spawn(bin, args, { stdio: 'ignore' });
  let exited = false;
  proc.once('exit', () => (exited = true));
  await until(async () => {
    if (exited) throw new Error(`${bin} exited at start (args: ${args.join(' ')})`);
    return ping(port);
  }, 5000, 25);
  return {
    port,
    kill: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}

export function client(port: number): Redis {
  const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => null });
  c.on('error', () => {});
  return c;
}

export interface SentinelGroup {
  readonly primary: Node;
  readonly replica: Node;
  readonly sentinels: Node[];
  /** REDIS_URL naming the sentinels. */
  readonly url: string;
  /** Port of the node the sentinels currently name as primary. */
  primaryPort(): Promise<number>;
  close(): Promise<void>;
}

/** Primary + replica + three sentinels (quorum 2), tuned to fail over in about a second. */
export async function startSentinelGroup(opts: { downAfterMs?: number } = {}): Promise<SentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'cauthz-sentinel-'));
  const nodes: Node[] = [];
  try {
    const pPort = await freePort();
    const primary = await spawnNode('redis-server', ['--port', String(pPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], pPort);
    nodes.push(primary);
    const rPort = await freePort();
    const replica = await spawnNode(
      'redis-server',
      ['--port', String(rPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--replicaof', '127.0.0.1', String(pPort)],
      rPort,
    );
    nodes.push(replica);
    const sentinels: Node[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor mymaster 127.0.0.1 ${pPort} 2`,
          `sentinel down-after-milliseconds mymaster ${opts.downAfterMs ?? 500}`,
          'sentinel failover-timeout mymaster 1000',
          'sentinel parallel-syncs mymaster 1',
          '',
        ].join('\n'),
      );
      const s = await spawnNode('redis-sentinel', [conf], port);
      nodes.push(s);
      sentinels.push(s);
    }
    // Ready when every sentinel knows the replica and the two other sentinels.
    const probes = sentinels.map((s) => client(s.port));
    try {
      await until(async () => {
        for (const p of probes) {
          const replicas = (await p.call('SENTINEL', 'REPLICAS', 'mymaster')) as unknown[];
          const others = (await p.call('SENTINEL', 'SENTINELS', 'mymaster')) as unknown[];
          if (replicas.length < 1 || others.length < 2) return false;
        }
        return true;
      }, 15_000, 100);
    } finally {
      for (const p of probes) p.disconnect();
    }
    return {
      primary,
      replica,
      sentinels,
      url: `redis-sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/mymaster`,
      async primaryPort() {
        const p = client(sentinels[1]!.port);
        try {
          const [, port] = (await p.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as [string, string];
          return Number(port);
        } finally {
          p.disconnect();
        }
      },
      async close() {
        for (const n of nodes) await n.kill();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const n of nodes) await n.kill();
    throw err;
  }
}

export interface RedisCluster {
  readonly nodes: Node[];
  readonly url: string;
  close(): Promise<void>;
}

/** Three primaries, no replicas, slots assigned by `redis-cli --cluster create`. */
export async function startCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'cauthz-cluster-'));
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      nodes.push(
        await spawnNode(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
            '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000'],
          port,
        ),
      );
    }
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const probes = nodes.map((n) => client(n.port));
    try {
      await until(async () => {
        for (const p of probes) if (!/cluster_state:ok/.test(String(await p.call('CLUSTER', 'INFO')))) return false;
        return true;
      }, 15_000, 100);
    } finally {
      for (const p of probes) p.disconnect();
    }
    return {
      nodes,
      url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
      async close() {
        for (const n of nodes) await n.kill();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const n of nodes) await n.kill();
    throw err;
  }
}

/**
 * A TCP proxy in front of one Redis port. `cut()` drops and refuses
 * connections; `blackhole()` stops forwarding bytes either way without closing
 * anything (a partition that drops packets: no FIN, no RST; new connections
 * are accepted and hang); `reset()` sends RST on every connection and to every
 * new one; `restore()` forwards again (a blackholed link resumes with what was
 * held, as TCP retransmission would deliver it).
 */
export interface CutProxy {
  readonly port: number;
  readonly url: string;
  cut(): Promise<void>;
  blackhole(): void;
  reset(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  down: Socket;
  up: Socket | undefined;
}

export async function startProxy(targetPort: number): Promise<CutProxy> {
  const port = await freePort();
  const pairs = new Set<Pair>();
  let mode: 'pass' | 'blackhole' | 'reset' = 'pass';
  let server: Server | undefined;
  const drop = (p: Pair) => {
    pairs.delete(p);
    p.down.destroy();
    p.up?.destroy();
  };
  const wire = (p: Pair) => {
    if (!p.up) {
      const up = connect(targetPort, '127.0.0.1');
      up.on('error', () => {});
      up.on('close', () => drop(p));
      p.up = up;
    }
    p.down.pipe(p.up);
    p.up.pipe(p.down);
  };
  const freeze = (p: Pair) => {
    p.down.unpipe();
    p.up?.unpipe();
    p.down.pause();
    p.up?.pause();
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((down) => {
        down.on('error', () => {});
        if (mode === 'reset') {
          down.resetAndDestroy();
          return;
        }
        const pair: Pair = { down, up: undefined };
        pairs.add(pair);
        down.on('close', () => drop(pair));
        if (mode === 'pass') wire(pair);
        else down.pause();
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
      server = s;
    });
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const p of [...pairs]) drop(p);
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut,
    blackhole() {
      mode = 'blackhole';
      for (const p of pairs) freeze(p);
    },
    reset() {
      mode = 'reset';
      for (const p of [...pairs]) {
        pairs.delete(p);
        p.down.resetAndDestroy();
        p.up?.destroy();
      }
    },
    async restore() {
      if (!server) await listen();
      const was = mode;
      mode = 'pass';
      if (was === 'blackhole') for (const p of pairs) wire(p);
    },
    close: cut,
  };
}

/**
 * A redis-server on a free port whose process the test controls: `signal`
 * (SIGSTOP/SIGCONT), RDB snapshots (`save()` copies dump.rdb aside,
 * `restoreSnapshot()` puts it back while stopped), and a stop/start on the
 * same port, with its data (`persist: 'rdb'`) or empty (`persist: 'none'`).
 */
export interface ControlledRedis {
  readonly port: number;
  readonly url: string;
  signal(sig: NodeJS.Signals): void;
  /** SAVE, then keeps a copy of the snapshot file. */
  save(): Promise<void>;
  /** SIGKILL (a crash: nothing saved on the way down). */
  kill(): Promise<void>;
  /** While stopped: puts the kept snapshot back as the data file. */
  restoreSnapshot(): void;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startControlledRedis(opts: { persist: 'rdb' | 'none' }): Promise<ControlledRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cauthz-redis-ctl-'));
  let node: (Node & { proc: ChildProcess }) | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'no', '--save', ''];
    if (opts.persist === 'rdb') args.push('--dbfilename', 'dump.rdb');
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    let exited = false;
    proc.once('exit', () => (exited = true));
    await until(async () => {
      if (exited) throw new Error('redis-server exited at start');
      return ping(port);
    }, 5000, 10);
    node = {
      port,
      proc,
      kill: () =>
        new Promise<void>((resolve) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
          proc.once('exit', () => resolve());
          proc.kill('SIGKILL');
        }),
    };
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    signal(sig) {
      node?.proc.kill(sig);
    },
    async save() {
      const c = client(port);
      try {
        await c.save();
      } finally {
        c.disconnect();
      }
      copyFileSync(join(dir, 'dump.rdb'), join(dir, 'snapshot.rdb'));
    },
    async kill() {
      await node?.kill();
      node = undefined;
    },
    restoreSnapshot() {
      if (node) throw new Error('stop redis-server before restoring a snapshot');
      copyFileSync(join(dir, 'snapshot.rdb'), join(dir, 'dump.rdb'));
    },
    start,
    async close() {
      node?.proc.kill('SIGCONT');
      await node?.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
