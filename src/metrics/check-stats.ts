/**
 * Check's hot-path counters: plain numbers in preallocated typed arrays,
 * indexed by outcome and auth type, plus a fixed-bucket latency histogram.
 * Recording is a few array increments; prom-client reads the arrays only when
 * /metrics is scraped (see registry.ts). Labels are bounded by construction:
 * outcomes are the reason codes, auth types a fixed list.
 */
import type { Decision } from '../authz/decision.js';
import { ALL_REASONS } from '../authz/reasons.js';

/** Outcome labels: `ok` for an allow, else the denial reason. */
export const OUTCOMES: readonly string[] = ['ok', ...ALL_REASONS];

/** Auth type labels; `none` when no consumer was identified. */
export const AUTH_TYPES = ['api-key', 'jwt', 'none'] as const;

/** Upper bounds of the latency buckets, in seconds (the last bucket is +Inf). */
export const LATENCY_BUCKETS_S: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

const BUCKETS_NS = LATENCY_BUCKETS_S.map((s) => s * 1e9);
const OUTCOME_INDEX: Readonly<Record<string, number>> = Object.fromEntries(OUTCOMES.map((o, i) => [o, i]));
const NONE = AUTH_TYPES.indexOf('none');

export class CheckStats {
  /** decisions[outcome * AUTH_TYPES.length + authType] */
  readonly decisions = new Float64Array(OUTCOMES.length * AUTH_TYPES.length);
  /** Non-cumulative counts per latency bucket; the last slot is +Inf. */
  readonly latencyBuckets = new Float64Array(BUCKETS_NS.length + 1);
  latencySumNs = 0;
  latencyCount = 0;

  /**
   * Counts one decision and its latency since `startedNs`
   * (`process.hrtime.bigint()` taken when the call arrived). Returns the latency in ns.
   */
  record(decision: Decision, startedNs: bigint, nowNs: bigint = process.hrtime.bigint()): number {
    const outcome = decision.allow ? 0 : (OUTCOME_INDEX[decision.reason] ?? 0);
    const type = decision.allow ? authTypeIndex(decision.identity.authType) : authTypeIndex(decision.authType);
    this.decisions[outcome * AUTH_TYPES.length + type]! += 1;
    const ns = Number(nowNs - startedNs);
    let b = 0;
    while (b < BUCKETS_NS.length && ns > (BUCKETS_NS[b] as number)) b++;
    this.latencyBuckets[b]! += 1;
    this.latencySumNs += ns;
    this.latencyCount++;
    return ns;
  }

  /** Count of decisions with this outcome (and auth type, when given). */
  count(outcome: string, authType?: (typeof AUTH_TYPES)[number]): number {
    const o = OUTCOME_INDEX[outcome];
    if (o === undefined) return 0;
    let n = 0;
    for (let t = 0; t < AUTH_TYPES.length; t++) {
      if (authType === undefined || AUTH_TYPES[t] === authType) n += this.decisions[o * AUTH_TYPES.length + t] as number;
    }
    return n;
  }
}

function authTypeIndex(type: string | undefined): number {
  if (type === 'api-key') return 0;
  if (type === 'jwt') return 1;
  return NONE;
}
