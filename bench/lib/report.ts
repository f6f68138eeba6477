/**
 * The benchmark's outputs: results.json (everything measured), results.md
 * (tables) and chart.svg (ratio to the baseline per scenario, targets marked).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from '../loadgen.js';
import type { DataSet, Targets } from '../scenarios.js';
import type { H2loadResult } from './procs.js';

export interface Throughput {
  tool: 'h2load' | 'loadgen';
  rps: number;
  requests: number;
  /** h2load: every answer 2xx; loadgen: every answer verified. */
  ok: boolean;
  /** The server's CPU time per request (user + system, µs): robust to a noisy machine. */
  cpuUsPerRequest?: number;
  /** The last run's details. */
  detail: H2loadResult | LoadResult;
  /** Every round's details. */
  runs?: Array<H2loadResult | LoadResult>;
}

export interface ScenarioResult {
  id: string;
  title: string;
  dataSet: DataSet;
  requestBytes: number;
  /** ratio: median of the per-round ratios (rounds alternate baseline and service). */
  throughput: {
    baseline: Throughput;
    service: Throughput;
    ratio: number;
    rounds: Array<{ baseline: number; service: number; ratio: number }>;
    /** The upper rungs measured in the same rounds; serviceRatio: median of per-round service ÷ rung. */
    ladder?: Array<{ rung: string; title: string; rps: number; cpuUsPerRequest?: number; ok: boolean; serviceRatio: number }>;
  };
  latency: Array<{ fraction: number; rate: number; baseline: LoadResult; service: LoadResult }>;
  redis: { commands: Record<string, number>; total: number; perRequest: number };
  answers: {
    distinct: number;
    verifiedBefore: number;
    verifiedAfter: number;
    loadAnswers: number;
    loadAnswersVerified: number;
    h2loadAll2xx: boolean;
    allVerified: boolean;
    failures: string[];
  };
  targets: Targets;
}

export interface DataSetResult {
  dataSet: DataSet;
  consumers: number;
  seedMs: number;
  /** From process start to warm (module loading included). */
  readyMs: number;
  /** From spawn to the ready message, as an orchestrator sees it. */
  spawnToReadyMs: number;
  heapAtReady: number;
  heapAfterLoad: number;
  rssAfterLoad: number;
  externalAfterLoad?: number;
  arrayBuffersAfterLoad?: number;
}

export interface TargetResult {
  scenario: string;
  target: string;
  limit: string;
  measured: string;
  value: number;
  met: boolean;
}

export interface BenchResults {
  startedAt: string;
  quick: boolean;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  scenarios: ScenarioResult[];
  dataSets: DataSetResult[];
  targets?: TargetResult[];
  seconds: number;
}

const MiB = 2 ** 20;

/** MiB of heap per 100k consumers, measured against the small data set. */
export function heapPer100k(r: BenchResults, ds: DataSet): number {
  const small = r.dataSets.find((d) => d.dataSet === 'small');
  const d = r.dataSets.find((x) => x.dataSet === ds);
  if (!small || !d || d.consumers <= small.consumers) return NaN;
  return ((d.heapAfterLoad - small.heapAfterLoad) / (d.consumers - small.consumers)) * 100_000 / MiB;
}

export function evaluateTargets(r: BenchResults): TargetResult[] {
  const out: TargetResult[] = [];
  for (const s of r.scenarios) {
    const t = s.targets;
    if (t.throughput) {
      const v = s.throughput.ratio;
      out.push({ scenario: s.id, target: 'throughput', limit: `≥ ${t.throughput.min}×`, measured: `${v.toFixed(2)}×`, value: v, met: v >= t.throughput.min });
      if (t.throughput.stretch !== undefined) {
        out.push({ scenario: s.id, target: 'throughput (stretch)', limit: `≥ ${t.throughput.stretch}×`, measured: `${v.toFixed(2)}×`, value: v, met: v >= t.throughput.stretch });
      }
    }
    if (t.p99At50Ms !== undefined) {
      const l = s.latency.find((x) => x.fraction === 0.5);
      const v = l?.service.latencyMs?.p99 ?? NaN;
      out.push({ scenario: s.id, target: 'p99 at 50 % of baseline max', limit: `≤ ${t.p99At50Ms} ms`, measured: `${v.toFixed(2)} ms`, value: v, met: v <= t.p99At50Ms });
    }
    if (t.redisPerRequest !== undefined) {
      const v = s.redis.perRequest;
      out.push({ scenario: s.id, target: 'Redis commands per request', limit: `≤ ${t.redisPerRequest}`, measured: `${v.toFixed(5)} (${s.redis.total} in ${s.throughput.service.requests} requests)`, value: v, met: v <= t.redisPerRequest });
    }
    if (t.heapMiBPer100k !== undefined) {
      const v = heapPer100k(r, s.dataSet);
      out.push({ scenario: s.id, target: 'heap per 100k consumers', limit: `≤ ${t.heapMiBPer100k} MiB`, measured: `${v.toFixed(1)} MiB`, value: v, met: v <= t.heapMiBPer100k });
    }
    if (t.readyMs !== undefined) {
      const d = r.dataSets.find((x) => x.dataSet === s.dataSet);
      const v = d?.spawnToReadyMs ?? NaN;
      out.push({ scenario: s.id, target: `start-up to ready (${d?.consumers ?? '?'} consumers)`, limit: `≤ ${t.readyMs / 1000} s`, measured: `${(v / 1000).toFixed(1)} s`, value: v, met: v <= t.readyMs });
    }
  }
  return out;
}

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f2 = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(2) : '–');

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(`# consumer-authz benchmark${r.quick ? ' (QUICK mode: smoke test, numbers not meaningful)' : ''}`);
  lines.push('');
  lines.push(`${r.startedAt} · ${m.cpu} · ${m.cores} cores · ${m.memoryGiB} GiB · Node ${m.node} · ${m.platform} · ${m.pinning}${m.h2load ? ` · ${m.h2load}` : ''} · ${r.seconds.toFixed(0)} s`);
  // Before the run nothing of ours is running: any load then is other work competing for the cores.
  const busy = Number(m.loadAverageBefore) > 0.5;
  lines.push('');
  lines.push(
    `Load average before/after: ${m.loadAverageBefore} / ${m.loadAverageAfter}${busy ? ` — **other work was running on the machine (load average ${m.loadAverageBefore} before the benchmark started anything): absolute numbers and latencies are unreliable; the alternating rounds and CPU µs/req are the more trustworthy figures**` : ''}.`,
  );
  const stalls = Object.entries((m.stalls ?? {}) as Record<string, { over1msPerSecond: number; maxMs: number }>);
  if (stalls.length > 0) {
    lines.push('');
    lines.push(
      `Scheduler stalls seen by an idle loop (the floor under any latency measured here): ${stalls.map(([core, s]) => `${core} ${s.over1msPerSecond.toFixed(1)}/s over 1 ms, max ${s.maxMs.toFixed(1)} ms`).join('; ')}.`,
    );
  }
  lines.push('');
  lines.push('Ratios are to the no-op grpc-js baseline (proto-loader objects) measured in the same run with the same request bytes and the same load tool.');
  lines.push('Latency: open-loop node:http2 generator, measured from the scheduled send time; service p50 / p99 in ms (ratio of p99 to the baseline p99). "generator lag": mean delay between a request\'s scheduled and actual send (included in the latency); above ~0.2 ms the generator itself was starved of CPU and the latency figures are not the server\'s.');
  lines.push('');
  lines.push('| scenario | request | tool | baseline req/s | service req/s | ratio (median of rounds) | server CPU µs/req baseline → service | @25 % p50 / p99 | @50 % p50 / p99 | @75 % p50 / p99 | Redis cmds / req | answers verified |');
  lines.push('|---|---|---|---:|---:|---:|---:|---|---|---|---:|---|');
  for (const s of r.scenarios) {
    const lat = [0.25, 0.5, 0.75].map((fr) => {
      const l = s.latency.find((x) => x.fraction === fr);
      if (!l) return '–';
      const a = l.service.latencyMs;
      const b = l.baseline.latencyMs;
      const lag = Math.max(l.service.sendLagMs?.mean ?? 0, l.baseline.sendLagMs?.mean ?? 0);
      return `${f2(a?.p50)} / ${f2(a?.p99)} (${f2((a?.p99 ?? NaN) / (b?.p99 ?? NaN))}×) at ${f0(l.rate)}/s${lag > 0.2 ? `; generator lag ${f2(lag)} ms` : ''}`;
    });
    const a = s.answers;
    const genCpu = s.throughput.service.tool === 'loadgen' ? Math.max(...[...(s.throughput.baseline.runs ?? []), ...(s.throughput.service.runs ?? [])].map((x) => (x as LoadResult).generatorCpu ?? 0)) : 0;
    const bound = genCpu >= 0.9 ? ` (generator at ${f2(genCpu)} core: partly generator-bound, the ratio understates differences)` : '';
    const verified = `${a.allVerified ? 'yes' : '**NO**'}: ${a.distinct} distinct × 2 decoded; ${f0(a.loadAnswersVerified)}/${f0(a.loadAnswers)} load answers byte-checked${a.h2loadAll2xx ? '' : '; h2load non-2xx!'}`;
    lines.push(
      `| ${s.title} | ${a.distinct} × ${s.requestBytes} B | ${s.throughput.service.tool} | ${f0(s.throughput.baseline.rps)} | ${f0(s.throughput.service.rps)} | **${f2(s.throughput.ratio)}×**${bound} (${s.throughput.rounds.map((x) => f2(x.ratio)).join(', ')}) | ${f0(s.throughput.baseline.cpuUsPerRequest ?? NaN)} → ${f0(s.throughput.service.cpuUsPerRequest ?? NaN)} | ${lat.join(' | ')} | ${s.redis.perRequest.toFixed(5)} | ${verified} |`,
    );
  }
  if (r.scenarios.some((s) => (s.throughput.ladder ?? []).length > 0)) {
    lines.push('');
    lines.push('The ladder: every scenario against each rung measured in the same rounds (no-op grpc-js with proto-loader objects; grpc-js with raw-byte (de)serializers and a fixed answer; bare node:http2 with hand gRPC framing and a fixed answer, Node\'s ceiling). Ratio: median of the per-round service ÷ rung.');
    lines.push('');
    const names = [...new Set(r.scenarios.flatMap((s) => (s.throughput.ladder ?? []).map((l) => l.title)))];
    lines.push(`| scenario | service req/s (CPU µs/req) | no-op grpc-js req/s (CPU µs/req) | ${names.map((n) => `${n} req/s (CPU µs/req)`).join(' | ')} | service ÷ no-op | ${names.map((n) => `service ÷ ${n}`).join(' | ')} |`);
    lines.push(`|---|---:|---:|${names.map(() => '---:|').join('')}---:|${names.map(() => '---:|').join('')}`);
    for (const s of r.scenarios) {
      const t = s.throughput;
      const by = names.map((n) => (t.ladder ?? []).find((l) => l.title === n));
      lines.push(
        `| ${s.title} | ${f0(t.service.rps)} (${f0(t.service.cpuUsPerRequest ?? NaN)}) | ${f0(t.baseline.rps)} (${f0(t.baseline.cpuUsPerRequest ?? NaN)}) | ${by.map((l) => (l ? `${f0(l.rps)} (${f0(l.cpuUsPerRequest ?? NaN)})` : '–')).join(' | ')} | ${f2(t.ratio)}× | ${by.map((l) => (l ? `**${f2(l.serviceRatio)}×**` : '–')).join(' | ')} |`,
      );
    }
  }
  lines.push('');
  lines.push('| data set | consumers | seed | ready (process start → warm) | heap at ready | heap after load (after GC) | RSS after load | heap / 100k consumers |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const d of r.dataSets) {
    lines.push(
      `| ${d.dataSet} | ${f0(d.consumers)} | ${(d.seedMs / 1000).toFixed(1)} s | ${(d.readyMs / 1000).toFixed(2)} s (spawn → ready ${(d.spawnToReadyMs / 1000).toFixed(2)} s) | ${f2(d.heapAtReady / MiB)} MiB | ${f2(d.heapAfterLoad / MiB)} MiB | ${f2(d.rssAfterLoad / MiB)} MiB | ${d.dataSet === 'small' ? '–' : `${f2(heapPer100k(r, d.dataSet))} MiB`} |`,
    );
  }
  lines.push('');
  lines.push('| target | scenario | limit | measured | met |');
  lines.push('|---|---|---|---|---|');
  for (const t of r.targets ?? []) lines.push(`| ${t.target} | ${t.scenario} | ${t.limit} | ${t.measured} | ${r.quick ? 'n/a (quick)' : t.met ? 'yes' : '**no**'} |`);
  lines.push('');
  return lines.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars: throughput ratio per scenario with the targets as marks; p99 at 50 % beside the 1 ms target. */
export function svg(r: BenchResults): string {
  const W = 960;
  const labelW = 280;
  const plotW = W - labelW - 70;
  const rowH = 34;
  const top = 56;
  const rows = r.scenarios;
  const maxRatio = Math.max(1.2, ...rows.map((s) => (Number.isFinite(s.throughput.ratio) ? s.throughput.ratio : 0) * 1.08));
  const x = (v: number) => labelW + (Math.min(v, maxRatio) / maxRatio) * plotW;
  const h1 = top + rows.length * rowH + 30;
  const lat = rows.filter((s) => s.latency.some((l) => l.fraction === 0.5));
  const top2 = h1 + 50;
  const latMax = Math.max(1.5, ...lat.flatMap((s) => s.latency.filter((l) => l.fraction === 0.5).flatMap((l) => [l.service.latencyMs?.p99 ?? 0, l.baseline.latencyMs?.p99 ?? 0])).map((v) => v * 1.1));
  // Latency spans 0.1 ms to seconds on a busy machine: log scale.
  const lo = 0.1;
  const latW = W - labelW - 210; // room for the value label after the bar
  const xl = (v: number) => labelW + (Math.log10(Math.max(lo, Math.min(v, latMax)) / lo) / Math.log10(latMax / lo)) * latW;
  const H = top2 + lat.length * rowH + 30;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`);
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="12" y="22" font-size="15" font-weight="600">Throughput, ratio to the no-op grpc-js baseline (same run, same request bytes)${r.quick ? ' — QUICK mode' : ''}</text>`);
  o.push(`<text x="12" y="40" fill="#555">${esc(String(r.machine.cpu))}, ${r.machine.cores} cores, Node ${r.machine.node}. Bar: service ÷ baseline. Black mark: target; dashed: stretch.</text>`);
  for (const g of [0, 0.5, 1]) {
    o.push(`<line x1="${x(g)}" y1="${top - 6}" x2="${x(g)}" y2="${h1 - 24}" stroke="${g === 1 ? '#333' : '#ddd'}" stroke-width="${g === 1 ? 1.2 : 1}"/>`);
    o.push(`<text x="${x(g)}" y="${h1 - 10}" text-anchor="middle" fill="#555">${g === 1 ? '1.0× baseline' : `${g}×`}</text>`);
  }
  rows.forEach((s, i) => {
    const y = top + i * rowH;
    const v = s.throughput.ratio;
    const min = s.targets.throughput?.min;
    const met = min === undefined || v >= min;
    o.push(`<text x="${labelW - 10}" y="${y + 20}" text-anchor="end">${esc(s.title)}</text>`);
    o.push(`<rect x="${labelW}" y="${y + 6}" width="${Math.max(0, x(v) - labelW)}" height="${rowH - 12}" fill="${met ? '#3b8b5a' : '#d9822b'}" rx="2"/>`);
    o.push(`<text x="${x(v) + 6}" y="${y + 21}" font-weight="600">${Number.isFinite(v) ? v.toFixed(2) : '–'}×</text>`);
    if (min !== undefined) o.push(`<line x1="${x(min)}" y1="${y + 2}" x2="${x(min)}" y2="${y + rowH - 2}" stroke="#000" stroke-width="3"/>`);
    const st = s.targets.throughput?.stretch;
    if (st !== undefined) o.push(`<line x1="${x(st)}" y1="${y + 2}" x2="${x(st)}" y2="${y + rowH - 2}" stroke="#000" stroke-width="2" stroke-dasharray="4 3"/>`);
  });
  o.push(`<text x="12" y="${top2 - 22}" font-size="15" font-weight="600">p99 latency at 50 % of the baseline's max rate (open loop), ms</text>`);
  o.push(`<text x="12" y="${top2 - 6}" fill="#555">Log scale. Grey: baseline; colour: service. Black mark: the 1 ms target. Dotted: the worst scheduler stall seen by an idle loop.</text>`);
  for (const t of [0.1, 1, 10, 100, 1000, 10000]) {
    if (t > latMax) break;
    o.push(`<line x1="${xl(t)}" y1="${top2}" x2="${xl(t)}" y2="${top2 + lat.length * rowH}" stroke="#eee"/>`);
    o.push(`<text x="${xl(t)}" y="${top2 + lat.length * rowH + 14}" text-anchor="middle" fill="#555">${t} ms</text>`);
  }
  const stallMax = Math.max(0, ...Object.values((r.machine.stalls ?? {}) as Record<string, { maxMs: number }>).map((x) => x.maxMs));
  if (stallMax > 0 && lat.length > 0) {
    o.push(`<line x1="${xl(stallMax)}" y1="${top2}" x2="${xl(stallMax)}" y2="${top2 + lat.length * rowH}" stroke="#777" stroke-dasharray="2 3"/>`);
  }
  lat.forEach((s, i) => {
    const y = top2 + i * rowH;
    const l = s.latency.find((q) => q.fraction === 0.5)!;
    const sv = l.service.latencyMs?.p99 ?? NaN;
    const bv = l.baseline.latencyMs?.p99 ?? NaN;
    const limit = s.targets.p99At50Ms;
    const met = limit === undefined || sv <= limit;
    o.push(`<text x="${labelW - 10}" y="${y + 20}" text-anchor="end">${esc(s.title)}</text>`);
    o.push(`<rect x="${labelW}" y="${y + 5}" width="${Math.max(0, xl(bv) - labelW)}" height="10" fill="#bbb" rx="2"/>`);
    o.push(`<rect x="${labelW}" y="${y + 16}" width="${Math.max(0, xl(sv) - labelW)}" height="12" fill="${met ? '#3b8b5a' : '#d9822b'}" rx="2"/>`);
    o.push(`<text x="${xl(Math.max(sv, bv)) + 6}" y="${y + 21}" font-weight="600">${f2(sv)} ms <tspan fill="#777" font-weight="400">(baseline ${f2(bv)})</tspan></text>`);
    if (limit !== undefined) o.push(`<line x1="${xl(limit)}" y1="${y + 2}" x2="${xl(limit)}" y2="${y + rowH - 2}" stroke="#000" stroke-width="3"/>`);
  });
  o.push('</svg>');
  return o.join('\n');
}

/** The targets table docs/performance.md embeds between its `targets` markers. */
export function targetsTable(r: BenchResults): string {
  const m = r.machine;
  const lines = [
    `Run of ${r.startedAt.slice(0, 10)} on ${m.cpu}, ${m.cores} cores, Node ${m.node}${r.quick ? ' (QUICK mode)' : ''}:`,
    '',
    '| target | scenario | limit | measured | met |',
    '|---|---|---|---|---|',
    ...(r.targets ?? []).map((t) => `| ${t.target} | ${t.scenario} | ${t.limit} | ${t.measured} | ${r.quick ? 'n/a' : t.met ? '✅ yes' : '❌ no'} |`),
  ];
  return lines.join('\n');
}

/** Replaces the text between `<!-- targets:start -->` and `<!-- targets:end -->` in a markdown file. */
export function embedTargets(r: BenchResults, docFile: string): boolean {
  if (!existsSync(docFile)) return false;
  const doc = readFileSync(docFile, 'utf8');
  const re = /(<!-- targets:start -->\n)[\s\S]*?(\n<!-- targets:end -->)/;
  if (!re.test(doc)) return false;
  writeFileSync(docFile, doc.replace(re, (_m, a: string, b: string) => `${a}${targetsTable(r)}${b}`));
  return true;
}

export function writeReport(r: BenchResults, dir: string): void {
  r.targets = evaluateTargets(r);
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'results.md'), markdown(r));
  writeFileSync(join(dir, 'chart.svg'), svg(r));
}
