/**
 * `npm run bench -- --quick` end to end, so the benchmark cannot rot: every
 * scenario ran, every answer was verified, every ratio is a finite number.
 * Asserts nothing about speed. Uses h2load when installed and the node:http2
 * generator otherwise (BENCH_NO_H2LOAD=1 forces the fallback).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { BenchResults } from '../../bench/lib/report.js';
import { SCENARIOS } from '../../bench/scenarios.js';

const out = mkdtempSync(join(tmpdir(), 'cauthz-bench-quick-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('npm run bench -- --quick produces sane, fully verified results', () => {
  const args = ['run', 'bench', '--silent', '--', '--quick', '--out', out];
  if (process.env.BENCH_NO_H2LOAD) args.push('--no-h2load');
  const r = spawnSync('npm', args, { encoding: 'utf8', timeout: 170_000 });
  expect(r.status, r.stderr).toBe(0);

  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchResults;
  expect(res.quick).toBe(true);
  expect(res.machine.node).toBe(process.version);
  expect(res.scenarios.map((s) => s.id)).toEqual(SCENARIOS.map((s) => s.id));
  for (const s of res.scenarios) {
    expect(s.answers.allVerified, `${s.id}: ${s.answers.failures.join('; ')}`).toBe(true);
    expect(s.answers.verifiedBefore).toBe(s.answers.distinct);
    expect(s.answers.verifiedAfter).toBe(s.answers.distinct);
    expect(s.throughput.baseline.requests).toBeGreaterThan(0);
    expect(s.throughput.service.requests).toBeGreaterThan(0);
    expect(Number.isFinite(s.throughput.ratio) && s.throughput.ratio > 0).toBe(true);
    for (const l of s.latency) {
      expect(Number.isFinite(l.service.latencyMs!.p99)).toBe(true);
      expect(Number.isFinite(l.service.latencyMs!.p99 / l.baseline.latencyMs!.p99)).toBe(true);
      expect(l.service.verified).toBe(l.service.requests);
    }
    expect(Number.isFinite(s.redis.perRequest)).toBe(true);
  }
  expect(res.dataSets.map((d) => d.dataSet)).toEqual(['small', '100k', '1m']);
  for (const d of res.dataSets) expect(d.heapAfterLoad).toBeGreaterThan(0);
  expect(res.targets!.length).toBeGreaterThan(0);
  for (const t of res.targets!) expect(Number.isFinite(t.value), t.target).toBe(true);
  const md = readFileSync(join(out, 'results.md'), 'utf8');
  for (const s of res.scenarios) expect(md).toContain(s.title);
  expect(readFileSync(join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
}, 180_000);
