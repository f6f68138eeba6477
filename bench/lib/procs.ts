/**
 * Child processes of the benchmark: servers and load generators, each pinned
 * to a core with `taskset` when the machine has two or more cores and taskset
 * exists (servers on the last core, load on core 0).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { LoadResult, LoadSpec } from '../loadgen.js';
import { CHECK_PATH } from './grpc-wire.js';

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export const CORES = cpus().length;
const PIN = CORES >= 2 && has('taskset');
export const SERVER_CORE = CORES - 1;
export const LOAD_CORE = 0;

export function pinning(): string {
  return PIN ? `server on core ${SERVER_CORE}, load generator on core ${LOAD_CORE} (taskset)` : 'not pinned';
}

function pinned(core: number, cmd: string, args: string[]): [string, string[]] {
  return PIN ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
}

export interface Child<M> {
  proc: ChildProcess;
  /** Resolves with the first IPC message matching `pred`. */
  next(pred: (m: M) => boolean, timeoutMs?: number): Promise<M>;
  send(m: unknown): void;
  stop(): Promise<void>;
}

/** Starts a compiled bench script with IPC on the server core. */
export function startNode<M>(script: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Child<M> {
  const [cmd, args] = pinned(SERVER_CORE, process.execPath, [...nodeArgs, script]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  const messages: M[] = [];
  const waiters: Array<{ pred: (m: M) => boolean; resolve: (m: M) => void }> = [];
  proc.on('message', (m: M) => {
    const w = waiters.findIndex((x) => x.pred(m));
    if (w >= 0) waiters.splice(w, 1)[0]!.resolve(m);
    else messages.push(m);
  });
  return {
    proc,
    next(pred, timeoutMs = 120_000) {
      const i = messages.findIndex(pred);
      if (i >= 0) return Promise.resolve(messages.splice(i, 1)[0] as M);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${script}: no answer within ${timeoutMs} ms`)), timeoutMs);
        const onExit = (code: number | null) => reject(new Error(`${script} exited (${code})`));
        proc.once('exit', onExit);
        waiters.push({ pred, resolve: (m) => (clearTimeout(t), proc.off('exit', onExit), resolve(m)) });
      });
    },
    send(m) {
      proc.send?.(m as never);
    },
    stop() {
      return new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        proc.once('exit', () => (clearTimeout(t), resolve()));
        proc.send?.({ cmd: 'stop' });
      });
    },
  };
}

function collect(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** Runs the node:http2 load generator in its own process on the load core. */
export async function runLoadgen(script: string, spec: LoadSpec, tmp: string): Promise<LoadResult> {
  const file = join(tmp, `spec-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const [cmd, args] = pinned(LOAD_CORE, process.execPath, [script, file]);
  const r = await collect(cmd, args);
  if (r.code !== 0) throw new Error(`load generator failed: ${r.err}`);
  return JSON.parse(r.out.trim().split('\n').pop() as string) as LoadResult;
}

/** Runs the stall probe (hiccup.js) pinned to `core`. */
export async function stallsOn(script: string, core: number, ms: number): Promise<unknown> {
  const [cmd, args] = pinned(core, process.execPath, [script, String(ms)]);
  const r = await collect(cmd, args);
  if (r.code !== 0) throw new Error(`stall probe failed: ${r.err}`);
  return JSON.parse(r.out.trim());
}

export const H2LOAD = has('h2load');

export function h2loadVersion(): string | undefined {
  if (!H2LOAD) return undefined;
  return spawnSync('h2load', ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
}

export interface H2loadResult {
  tool: 'h2load';
  requests: number;
  succeeded: number;
  failed: number;
  status2xx: number;
  /** 3xx + 4xx + 5xx answers. */
  statusOther: number;
  seconds: number;
  rps: number;
  meanMs?: number;
}

/** Closed-loop maximum throughput with h2load (one body: h2load sends the same body every time). */
export async function runH2load(port: number, bodyFile: string, o: { connections: number; streams: number; durationS: number; warmupS: number }): Promise<H2loadResult> {
  const [cmd, args] = pinned(LOAD_CORE, 'h2load', [
    '-t', '1', '-c', String(o.connections), '-m', String(o.streams),
    '-D', `${Math.round(o.durationS * 1000)}ms`, `--warm-up-time=${Math.round(o.warmupS * 1000)}ms`,
    '-d', bodyFile,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    `http://127.0.0.1:${port}${CHECK_PATH}`,
  ]);
  const r = await collect(cmd, args);
  const fin = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(r.out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(r.out);
  const st = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(r.out);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(r.out);
  if (!fin || !req || !st) throw new Error(`cannot parse h2load output:\n${r.out}\n${r.err}`);
  const seconds = Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1);
  const unit = mean?.[2] === 'us' ? 1e-3 : mean?.[2] === 's' ? 1e3 : 1;
  return {
    tool: 'h2load',
    requests: Number(req[3]),
    succeeded: Number(req[4]),
    failed: Number(req[5]) + Number(req[6]) + Number(req[7]),
    status2xx: Number(st[1]),
    statusOther: Number(st[2]) + Number(st[3]) + Number(st[4]),
    seconds,
    rps: Number(fin[3]),
    meanMs: mean ? Number(mean[1]) * unit : undefined,
  };
}
