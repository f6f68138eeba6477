/**
 * `npm run bench [-- --quick] [--out DIR] [--no-h2load] [--only id,id] [--report-only]`
 *
 * Starts its own redis-server, the no-op baseline server and the real service,
 * seeds consumers, and for every scenario measures, in the same run and with
 * the same request bytes, the baseline and the service:
 *   - maximum throughput, closed loop (h2load when the scenario has one
 *     distinct request and h2load is installed; otherwise the node:http2
 *     generator, for both sides of the ratio);
 *   - p50/p99 latency at 25/50/75 % of the baseline's maximum rate, open loop;
 *   - every answer verified (see lib/verify.ts and loadgen.ts);
 *   - Redis commands issued during the load, start-up time and heap.
 * Writes results.json, results.md and chart.svg to bench/results/ (or --out).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis } from '../test/helpers/redis.js';
import type { LoadResult, LoadSpec } from './loadgen.js';
import { H2LOAD, LOAD_CORE, SERVER_CORE, h2loadVersion, pinning, runH2load, runLoadgen, stallsOn, startNode, type Child, type H2loadResult } from './lib/procs.js';
import { embedTargets, writeReport, type BenchResults, type ScenarioResult, type Throughput } from './lib/report.js';
import { commandStats, seedConsumers } from './lib/seed.js';
import { seedJwtConsumers } from './lib/seed-jwt.js';
import { BENCH_ROUTES, seedRoutes } from './lib/seed-routes.js';
import { verify, type Verification } from './lib/verify.js';
import { FULL_SIZES, QUICK_SIZES, SCENARIOS, framesOf, type DataSet, type Scenario } from './scenarios.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = resolve(here, '../..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const useH2load = H2LOAD && !argv.includes('--no-h2load');
const outIdx = argv.indexOf('--out');
const outDir = outIdx >= 0 ? resolve(argv[outIdx + 1] as string) : join(root, 'bench/results');
const onlyIdx = argv.indexOf('--only');
const only = onlyIdx >= 0 ? new Set((argv[onlyIdx + 1] as string).split(',')) : undefined;

const sizes = quick ? QUICK_SIZES : FULL_SIZES;
const T = quick
  ? { durationMs: 300, warmupMs: 150, latencyMs: 300, connections: 2, streams: 8, rounds: 1 }
  : { durationMs: 2000, warmupMs: 1000, latencyMs: 4000, connections: 8, streams: 32, rounds: 5 };
const RATES = quick ? [0.5] : [0.25, 0.5, 0.75];

/** The upper rungs, in order: what grpc-js costs with no protobuf, then Node's HTTP/2 ceiling. */
const RUNGS: Array<[string, string]> = [
  ['grpcjs-raw', 'grpc-js, raw-byte (de)serializers, fixed answer'],
  ['http2-bare', 'bare node:http2, hand gRPC framing, fixed answer'],
];
type RungServer = Omit<Rung, 'files'>;

const tmp = mkdtempSync(join(tmpdir(), 'cauthz-bench-'));
const LOADGEN = join(here, 'loadgen.js');

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

interface AppMsg extends CpuMsg {
  ready?: boolean;
  grpcPort?: number;
  readyMs?: number;
  consumers?: number;
  memory?: { heapUsed: number; heapTotal: number; rss: number; external: number; arrayBuffers: number };
}

async function startApp(
  redisUrl: string,
  tokenCacheSize?: number,
): Promise<{ child: Child<AppMsg>; port: number; readyMs: number; spawnToReadyMs: number; consumers: number; heapAtReady: number }> {
  const t0 = Date.now();
  const env: Record<string, string> = { REDIS_URL: redisUrl };
  if (tokenCacheSize !== undefined) env.BENCH_TOKEN_CACHE_SIZE = String(tokenCacheSize);
  const child = startNode<AppMsg>(join(here, 'app-server.js'), env, ['--expose-gc', '--max-old-space-size=4096']);
  const m = await child.next((x) => x.ready === true, 120_000);
  return {
    child,
    port: m.grpcPort as number,
    readyMs: m.readyMs as number,
    spawnToReadyMs: Date.now() - t0,
    consumers: m.consumers as number,
    heapAtReady: m.memory?.heapUsed as number,
  };
}

async function memoryOf(child: Child<AppMsg>) {
  child.send({ cmd: 'memory' });
  return (await child.next((x) => x.memory !== undefined && x.ready === undefined)).memory!;
}

interface CpuMsg {
  cpu?: { user: number; system: number };
}

async function cpuOf(child: Child<CpuMsg>): Promise<number> {
  child.send({ cmd: 'cpu' });
  const c = (await child.next((x) => x.cpu !== undefined)).cpu!;
  return c.user + c.system;
}

/** An upper rung of the ladder (bench/rung-servers.ts): a fixed-answer server measured in every round. */
interface Rung {
  name: string;
  title: string;
  port: number;
  child: Child<CpuMsg>;
  files: { framesFile: string; expectFile: string };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Baseline and service in alternating rounds (A B A B …): on a shared or noisy
 * machine each pair sees the same conditions; the ratio is the median of the
 * per-round ratios. Also measures each server's CPU time per request.
 */
async function pair(
  base: { port: number; child: Child<CpuMsg>; files: { framesFile: string; expectFile: string } },
  app: { port: number; child: Child<CpuMsg>; files: { framesFile: string; expectFile: string } },
  frames: Buffer[],
  tool: 'h2load' | 'loadgen',
  rungs: Rung[],
): Promise<ScenarioResult['throughput']> {
  const runs: { baseline: Throughput[]; service: Throughput[] } = { baseline: [], service: [] };
  const rounds: Array<{ baseline: number; service: number; ratio: number }> = [];
  const rungRuns = rungs.map(() => [] as Throughput[]);
  const rungRatios = rungs.map(() => [] as number[]);
  for (let r = 0; r < T.rounds; r++) {
    const one = async (side: typeof base) => {
      const c0 = await cpuOf(side.child);
      const t = await throughput(side.port, frames, side.files, tool);
      const c1 = await cpuOf(side.child);
      // CPU over warm-up + window, divided by the requests that span implies.
      t.cpuUsPerRequest = (c1 - c0) / (t.rps * ((T.durationMs + T.warmupMs) / 1000));
      return t;
    };
    const b = await one(base);
    const rs: Throughput[] = [];
    for (const [i, rung] of rungs.entries()) {
      const t = await one(rung);
      rungRuns[i]!.push(t);
      rs.push(t);
    }
    const a = await one(app);
    rs.forEach((t, i) => rungRatios[i]!.push(a.rps / t.rps));
    runs.baseline.push(b);
    runs.service.push(a);
    rounds.push({ baseline: b.rps, service: a.rps, ratio: a.rps / b.rps });
  }
  const summarize = (ts: Throughput[]): Throughput => ({
    tool,
    rps: median(ts.map((t) => t.rps)),
    requests: ts.reduce((n, t) => n + t.requests, 0),
    ok: ts.every((t) => t.ok),
    cpuUsPerRequest: median(ts.map((t) => t.cpuUsPerRequest ?? NaN)),
    detail: ts[ts.length - 1]!.detail,
    runs: ts.map((t) => t.detail),
  });
  const ladder = rungs.map((r, i) => {
    const t = summarize(rungRuns[i]!);
    return { rung: r.name, title: r.title, rps: t.rps, cpuUsPerRequest: t.cpuUsPerRequest, ok: t.ok, serviceRatio: median(rungRatios[i]!) };
  });
  return { baseline: summarize(runs.baseline), service: summarize(runs.service), ratio: median(rounds.map((x) => x.ratio)), rounds, ladder };
}

function files(name: string, frames: Buffer[], answers: Buffer[]) {
  const framesFile = join(tmp, `${name}.frames`);
  const expectFile = join(tmp, `${name}.expect`);
  writeFileSync(framesFile, Buffer.concat(frames));
  writeFileSync(expectFile, Buffer.concat(answers));
  return { framesFile, expectFile };
}

async function throughput(port: number, frames: Buffer[], f: { framesFile: string; expectFile: string }, tool: 'h2load' | 'loadgen'): Promise<Throughput> {
  if (tool === 'h2load') {
    const bodyFile = join(tmp, 'body.bin');
    writeFileSync(bodyFile, frames[0] as Buffer);
    const r: H2loadResult = await runH2load(port, bodyFile, {
      connections: T.connections,
      streams: T.streams,
      durationS: T.durationMs / 1000,
      warmupS: T.warmupMs / 1000,
    });
    return { tool, rps: r.rps, requests: r.requests, ok: r.statusOther === 0 && r.failed === 0 && r.status2xx > 0, detail: r };
  }
  const spec: LoadSpec = { port, mode: 'closed', connections: T.connections, streams: T.streams, rate: 0, warmupMs: T.warmupMs, durationMs: T.durationMs, ...f };
  const r = await runLoadgen(LOADGEN, spec, tmp);
  return { tool, rps: r.rps, requests: r.requests, ok: r.verified === r.requests && r.requests > 0, detail: r };
}

async function openLoop(port: number, rate: number, f: { framesFile: string; expectFile: string }): Promise<LoadResult> {
  const spec: LoadSpec = { port, mode: 'open', connections: T.connections, streams: 0, rate, warmupMs: Math.min(T.warmupMs, 500), durationMs: T.latencyMs, ...f };
  return runLoadgen(LOADGEN, spec, tmp);
}

function sameAnswers(a: Verification, b: Verification): boolean {
  return a.answers.length === b.answers.length && a.answers.every((x, i) => x.equals(b.answers[i] as Buffer));
}

async function runScenario(
  s: Scenario,
  appPort: number,
  basePort: number,
  redisUrl: string,
  appChild: Child<CpuMsg>,
  baseChild: Child<CpuMsg>,
  rungServers: RungServer[],
): Promise<ScenarioResult> {
  const frames = framesOf(s, sizes);
  const distinct = frames.length;
  const tool = useH2load && distinct === 1 ? 'h2load' : 'loadgen';
  log(`${s.id}: ${distinct} distinct request(s) of ${frames[0]!.length - 5} bytes; throughput with ${tool}`);

  // Verification before: every distinct request, official decoding.
  const vBase = await verify(basePort, frames, () => ({ allow: true }));
  const vApp = await verify(appPort, frames, (i) => s.expect(i, sizes));
  const fb = files(`${s.id}-base`, frames, vBase.answers);
  const fa = files(`${s.id}-app`, frames, vApp.answers);
  const rungs: Rung[] = [];
  for (const r of rungServers) {
    const v = await verify(r.port, frames, () => ({ allow: true }));
    if (v.failed > 0) throw new Error(`rung ${r.name}: ${v.failures.join('; ')}`);
    rungs.push({ ...r, files: files(`${s.id}-${r.name}`, frames, v.answers) });
  }

  const stats0 = await commandStats(redisUrl);
  const tp = await pair({ port: basePort, child: baseChild, files: fb }, { port: appPort, child: appChild, files: fa }, frames, tool, rungs);
  const stats1 = await commandStats(redisUrl);
  const base = tp.baseline;
  const app = tp.service;
  const redisCommands: Record<string, number> = {};
  let redisTotal = 0;
  for (const [cmd, n] of Object.entries(stats1)) {
    if (cmd === 'info') continue; // our own probes
    // (the baseline runs in between touch no Redis; only the service could)
    const d = n - (stats0[cmd] ?? 0);
    if (d > 0) {
      redisCommands[cmd] = d;
      redisTotal += d;
    }
  }
  for (const r of tp.ladder ?? []) {
    log(`${s.id}: rung ${r.rung} ${r.rps.toFixed(0)} req/s (${r.cpuUsPerRequest?.toFixed(0)} µs CPU/req); service ÷ rung ${r.serviceRatio.toFixed(2)}`);
  }
  log(
    `${s.id}: baseline ${base.rps.toFixed(0)} req/s (${base.cpuUsPerRequest?.toFixed(0)} µs CPU/req), service ${app.rps.toFixed(0)} req/s (${app.cpuUsPerRequest?.toFixed(0)} µs CPU/req), ratio ${tp.ratio.toFixed(2)} (rounds ${tp.rounds.map((r) => r.ratio.toFixed(2)).join(' ')})`,
  );

  const latency: ScenarioResult['latency'] = [];
  if (s.latency) {
    for (const frac of RATES) {
      const rate = Math.max(50, Math.round(base.rps * frac));
      const b = await openLoop(basePort, rate, fb);
      const a = await openLoop(appPort, rate, fa);
      latency.push({ fraction: frac, rate, baseline: b, service: a });
      log(`${s.id}: ${frac * 100}% (${rate} req/s) p99 baseline ${b.latencyMs?.p99.toFixed(2)} ms, service ${a.latencyMs?.p99.toFixed(2)} ms`);
    }
  }

  // Verification after: the same answers as before the load.
  const vAppAfter = await verify(appPort, frames, (i) => s.expect(i, sizes));
  const loadRuns: Array<LoadResult | undefined> = [
    ...(base.tool === 'loadgen' ? (base.runs as LoadResult[]) : []),
    ...(app.tool === 'loadgen' ? (app.runs as LoadResult[]) : []),
    ...latency.flatMap((l) => [l.baseline, l.service]),
  ];
  const answers = {
    verifiedBefore: vApp.checked - vApp.failed,
    verifiedAfter: vAppAfter.checked - vAppAfter.failed,
    distinct,
    failures: [...vBase.failures, ...vApp.failures, ...vAppAfter.failures, ...loadRuns.flatMap((r) => r?.firstMismatches ?? [])].slice(0, 10),
    loadAnswers: loadRuns.reduce((n, r) => n + (r?.requests ?? 0), 0),
    loadAnswersVerified: loadRuns.reduce((n, r) => n + (r?.verified ?? 0), 0),
    h2loadAll2xx: [base, app].every((t) => t.tool !== 'h2load' || t.ok),
    allVerified: false,
  };
  answers.allVerified =
    vBase.failed === 0 &&
    vApp.failed === 0 &&
    vAppAfter.failed === 0 &&
    sameAnswers(vApp, vAppAfter) &&
    answers.loadAnswers === answers.loadAnswersVerified &&
    answers.h2loadAll2xx;

  return {
    id: s.id,
    title: s.title,
    dataSet: s.dataSet,
    requestBytes: frames[0]!.length - 5,
    throughput: tp,
    latency,
    redis: { commands: redisCommands, total: redisTotal, perRequest: redisTotal / Math.max(1, app.requests) },
    answers,
    targets: s.targets,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    h2load: useH2load ? h2loadVersion() : undefined,
    pinning: pinning(),
    /** 1-minute load average before the run (other processes compete for the cores when it exceeds the core count). */
    loadAverageBefore: Number(loadavg()[0]!.toFixed(2)),
    loadAverageAfter: NaN,
    /** Scheduler stalls seen by an idle loop on each core used (the floor under any latency measured there). */
    stalls: {} as Record<string, unknown>,
  };
  const probeMs = quick ? 300 : 2000;
  machine.stalls[`core${LOAD_CORE}`] = await stallsOn(join(here, 'hiccup.js'), LOAD_CORE, probeMs);
  if (SERVER_CORE !== LOAD_CORE) machine.stalls[`core${SERVER_CORE}`] = await stallsOn(join(here, 'hiccup.js'), SERVER_CORE, probeMs);
  log(`stalls: ${JSON.stringify(machine.stalls)}`);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}; ${machine.pinning}; ${quick ? 'QUICK' : 'full'} mode`);

  const redis = await startRedis({ persist: false });
  const baseline = startNode<{ port?: number } & CpuMsg>(join(here, 'baseline-server.js'));
  const basePort = (await baseline.next((m) => m.port !== undefined)).port as number;
  const rungServers: RungServer[] = [];
  for (const [name, title] of RUNGS) {
    const child = startNode<{ port?: number } & CpuMsg>(join(here, 'rung-servers.js'), { BENCH_RUNG: name });
    rungServers.push({ name, title, child, port: (await child.next((m) => m.port !== undefined)).port as number });
  }
  const results: BenchResults = {
    startedAt: new Date(started).toISOString(),
    quick,
    machine,
    settings: { ...T, rates: RATES, sizes },
    scenarios: [],
    dataSets: [],
    seconds: 0,
  };
  try {
    let seeded = 0;
    const order: DataSet[] = ['small', '100k', '1m'];
    if (SCENARIOS.some((s) => s.id.startsWith('jwt-') && (!only || only.has(s.id)))) {
      log(`JWT consumers seeded through the admin service in ${await seedJwtConsumers(redis.url)} ms`);
    }
    // The routes grant bench consumer 0: seeded once the first data set's consumers exist.
    let routesPending = SCENARIOS.some((s) => s.id.startsWith('route-') && (!only || only.has(s.id)));
    for (const ds of order) {
      const scenarios = SCENARIOS.filter((s) => s.dataSet === ds && (!only || only.has(s.id)));
      if (scenarios.length === 0) continue;
      const n = sizes.consumers[ds];
      const seedMs = await seedConsumers(redis.url, seeded, n);
      log(`data set ${ds}: seeded ${n - seeded} consumers in ${seedMs} ms (${n} in Redis)`);
      seeded = n;
      if (routesPending) {
        log(`${BENCH_ROUTES} routes with match rules seeded in ${await seedRoutes(redis.url)} ms`);
        routesPending = false;
      }
      // One service instance per token-cache setting; the default instance's numbers stand for the data set.
      const groups = [...new Set(scenarios.map((s) => s.tokenCacheSize))];
      for (const cacheSize of groups) {
        const app = await startApp(redis.url, cacheSize);
        const label = cacheSize === undefined ? ds : `${ds} (token cache ${cacheSize})`;
        log(`data set ${label}: service ready ${app.spawnToReadyMs} ms after spawn, ${app.consumers} consumers, heap ${(app.heapAtReady / 2 ** 20).toFixed(1)} MiB`);
        try {
          for (const s of scenarios.filter((x) => x.tokenCacheSize === cacheSize)) {
            results.scenarios.push(await runScenario(s, app.port, basePort, redis.url, app.child, baseline, rungServers));
          }
          const mem = await memoryOf(app.child);
          if (cacheSize === undefined || !groups.includes(undefined)) {
            results.dataSets.push({
              dataSet: ds,
              consumers: app.consumers,
              seedMs,
              readyMs: app.readyMs,
              spawnToReadyMs: app.spawnToReadyMs,
              heapAtReady: app.heapAtReady,
              heapAfterLoad: mem.heapUsed,
              rssAfterLoad: mem.rss,
              externalAfterLoad: mem.external,
              arrayBuffersAfterLoad: mem.arrayBuffers,
            });
          }
        } finally {
          await app.child.stop();
        }
      }
    }
  } finally {
    await baseline.stop();
    for (const r of rungServers) await r.child.stop();
    await redis.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  results.seconds = (Date.now() - started) / 1000;
  results.machine.loadAverageAfter = Number(loadavg()[0]!.toFixed(2));
  mkdirSync(outDir, { recursive: true });
  writeReport(results, outDir);
  // The committed run (default output) also refreshes the targets table in docs/performance.md.
  if (outIdx < 0 && !quick) embedTargets(results, join(root, 'docs/performance.md'));
  log(`done in ${results.seconds.toFixed(0)} s; results in ${outDir}`);
}

/** `--report-only`: rewrites results.md, chart.svg (and the docs table) from an existing results.json. */
if (argv.includes('--report-only')) {
  const { readFileSync } = await import('node:fs');
  const results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as BenchResults;
  writeReport(results, outDir);
  if (outIdx < 0 && !results.quick) embedTargets(results, join(root, 'docs/performance.md'));
  rmSync(tmp, { recursive: true, force: true });
} else {
  await main();
}
