/**
 * Measures how often the machine stalls a busy process: an idle loop records
 * the gaps between its iterations for `ms` milliseconds. On a dedicated core
 * gaps stay in microseconds; on a shared VM the scheduler takes the core away
 * for milliseconds at a time, and no latency measured on that core can be
 * lower than those stalls. Usage: node hiccup.js <ms>; prints one JSON line.
 */
import { performance } from 'node:perf_hooks';

export interface Stalls {
  seconds: number;
  /** Gaps longer than 1 ms, per second. */
  over1msPerSecond: number;
  p9999Ms: number;
  maxMs: number;
}

const ms = Number(process.argv[2] ?? 2000);
const gaps: number[] = [];
let last = performance.now();
const end = last + ms;
await new Promise<void>((resolve) => {
  const tick = () => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
    if (now < end) setImmediate(tick);
    else resolve();
  };
  tick();
});
gaps.sort((a, b) => a - b);
const out: Stalls = {
  seconds: ms / 1000,
  over1msPerSecond: gaps.filter((g) => g > 1).length / (ms / 1000),
  p9999Ms: gaps[Math.floor(0.9999 * (gaps.length - 1))] as number,
  maxMs: gaps[gaps.length - 1] as number,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
