#!/usr/bin/env node
/**
 * The long Check fuzz run (not in CI): test/adversarial/fuzz-check.test.ts
 * with many more generated requests, a fixed seed, and a JSON report.
 *
 *   node scripts/fuzz-check.mjs                      # 1,000,000 in process + 100,000 over gRPC
 *   node scripts/fuzz-check.mjs --runs 200000 --grpc-runs 20000 --seed 42
 *   node scripts/fuzz-check.mjs --include-known      # also send the open known items; count them
 *
 * The report lands in fuzz-results/fuzz-check-<seed>.json (runs, time, wrong
 * allows, mismatches, counts per known item, the first failures in full).
 * Exit status: vitest's (non-zero on any wrong allow).
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opts = { runs: 1_000_000, grpcRuns: 100_000, seed: undefined, includeKnown: false };

for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined || !/^-?\d+$/.test(v)) usage(`${a} needs an integer`);
    return Number(v);
  };
  if (a === '--runs') opts.runs = value();
  else if (a === '--grpc-runs') opts.grpcRuns = value();
  else if (a === '--seed') opts.seed = value();
  else if (a === '--include-known') opts.includeKnown = true;
  else if (a === '--help' || a === '-h') usage();
  else usage(`unknown argument ${a}`);
}
if (opts.runs < 1 || opts.grpcRuns < 1) usage('--runs and --grpc-runs must be at least 1');

function usage(problem) {
  if (problem) console.error(`fuzz-check: ${problem}`);
  console.error('usage: node scripts/fuzz-check.mjs [--runs N] [--grpc-runs N] [--seed S] [--include-known]');
  process.exit(problem ? 2 : 0);
}

const seed = opts.seed ?? (Date.now() & 0x7fffffff);
mkdirSync(join(root, 'fuzz-results'), { recursive: true });
const report = join(root, 'fuzz-results', `fuzz-check-${seed}${opts.includeKnown ? '-known' : ''}.json`);
// About 1 ms per request in process and 5 ms over gRPC on a loaded 2-core machine, with room to spare.
const timeoutMs = Math.max(120_000, opts.runs * 5 + opts.grpcRuns * 30);

const env = {
  ...process.env,
  FUZZ_RUNS: String(opts.runs),
  FUZZ_GRPC_RUNS: String(opts.grpcRuns),
  FUZZ_SEED: String(seed),
  FUZZ_INCLUDE_KNOWN: opts.includeKnown ? '1' : '0',
  FUZZ_REPORT: report,
  FUZZ_TIMEOUT_MS: String(timeoutMs),
};
console.log(`fuzz-check: ${opts.runs} in process, ${opts.grpcRuns} over gRPC, seed ${seed}${opts.includeKnown ? ', known items included' : ''}; report ${report}`);
const started = Date.now();
const child = spawn('npx', ['vitest', 'run', 'test/adversarial/fuzz-check.test.ts', '-t', 'generated requests', '--testTimeout', String(timeoutMs)], {
  cwd: root,
  env,
  stdio: 'inherit',
});
child.on('exit', (code, signal) => {
  console.log(`fuzz-check: finished in ${((Date.now() - started) / 1000).toFixed(0)} s (${signal ?? `exit ${code}`}); report ${report}`);
  process.exit(code ?? 1);
});
