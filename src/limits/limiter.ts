/**
 * The limit engine: whether an identified consumer may spend one request of
 * its rate limits and quota, decided in-process. Budget is taken from the
 * shared counters (UsageCounters: Redis, or the file store's local counts) in
 * leases, batches of tokens an instance spends locally; a lease running low
 * is renewed in the background, so a consumer under its limits costs no
 * round trip. Only a consumer whose lease is empty waits for one (its first
 * request on an instance, or one that outran the renewal).
 *
 * Bounds (docs/limits.md states them):
 * - Store reachable: every request admitted spent a token the store granted.
 *   A quota is never exceeded. A rate limit admits at most one token bucket
 *   (burst plus rate × time) plus what the N instances hold in leases (the
 *   bucket refills while they hold them): N × maxLease, a tenth of the burst
 *   each. Unspent rate tokens go back after `leaseIdleMs` idle; a killed
 *   instance's quota lease is lost (an under-admission of one lease).
 * - Store unreachable (a take failing or slower than `storeWaitMs`): a rate
 *   limit is enforced by each instance alone with the whole bucket, so N
 *   instances admit at most N buckets; a quota admits at most one more lease
 *   on credit (counted when the store is back), then answers 503: it cannot
 *   be sure, so it does not allow.
 */
import { burstOf, quotaPeriod, ratePerMs, windowMs, type ConsumerLimits, type QuotaPeriod, type QuotaSpec, type RateLimitSpec } from '../consumers/limits.js';
import type { UsageCounters } from '../store/usage-counters.js';

/** A header of the client's response: name and value. */
export type HeaderPair = readonly [name: string, value: string];

/** What the limits say about one request that some limit covers. */
export interface LimitVerdict {
  /** undefined: admitted. */
  readonly refused?: 'rate_limited' | 'quota_exhausted' | 'limits_unavailable';
  /** The headers for the client: RateLimit-Policy, RateLimit, and on a refusal Retry-After. */
  readonly headers: readonly HeaderPair[];
}

/** Admitted and nothing to say (the consumer's limits do not ask for headers on allowed answers). */
export const ADMITTED: LimitVerdict = Object.freeze({ headers: Object.freeze([]) as readonly HeaderPair[] });

export interface LimiterOptions {
  counters: UsageCounters;
  /** Epoch ms (injectable for tests). */
  now?: () => number;
  /** How long a take may take before the store counts as unreachable (default 250). */
  storeWaitMs?: number;
  /** Unspent rate tokens go back after this long without a request (default 1000). */
  leaseIdleMs?: number;
}

/** How long one lease should last at the rate it is spent. */
const LEASE_TARGET_MS = 100;
/** An exhausted quota asks the store again at most this often (a top-up shows within it). */
const QUOTA_RECHECK_MS = 1000;
/** How long a lease that could not reach the store is enforced locally before asking again. */
const LOCAL_MS = 1000;

type Step = 'ok' | 'wait' | 'deny' | 'unavailable';

abstract class Lease {
  /** Tokens in hand. */
  have = 0;
  /** What the store said it holds after the last take (-1: not asked yet). */
  stored = -1;
  /** The store has nothing before this (epoch ms): refuse without asking. */
  askAfter = 0;
  /** The take in flight. */
  pending: Promise<void> | undefined;
  /** Tokens spent since the last take started, and when that was (0: never): the spending rate. */
  spent = 0;
  takenAt = 0;
  usedAt = 0;
  /** The store could not be reached: local enforcement until then. */
  localUntil = 0;

  constructor(readonly key: string) {}

  /** The largest lease (a bound on tokens one instance holds). */
  abstract readonly maxLease: number;

  /** One token now, if in hand; 'wait' when the store must be asked first. */
  step(now: number): Step {
    this.usedAt = now;
    if (this.have >= 1) {
      this.have--;
      this.spent++;
      return 'ok';
    }
    if (now < this.localUntil) return this.localStep(now);
    if (now < this.askAfter) return 'deny';
    return 'wait';
  }

  refund(): void {
    this.have++;
    this.spent--;
  }

  /** How many tokens to ask for: what the recent rate spends in LEASE_TARGET_MS, plus those waiting. */
  want(now: number, waiting: number): number {
    // Not measured yet (the first take): half the largest lease.
    if (this.takenAt === 0) return Math.max(1, Math.ceil(this.maxLease / 2), Math.min(this.maxLease, waiting));
    const perMs = this.spent / Math.max(1, now - this.takenAt);
    return Math.max(1, Math.min(this.maxLease, Math.ceil(perMs * LEASE_TARGET_MS) + waiting));
  }

  abstract localStep(now: number): Step;
  /** The store could not be reached: enforce locally for LOCAL_MS. */
  abstract goLocal(now: number): void;
  /** Seconds until the limit has budget again (Retry-After), at least 1. */
  abstract retryAfterS(now: number): number;
  abstract policyItem(): string;
  abstract statusItem(now: number): string;
}

class RateLease extends Lease {
  readonly perMs: number;
  readonly burst: number;
  readonly maxLease: number;
  /** Local bucket, while the store is unreachable. */
  localTokens = 0;
  localAt = 0;

  constructor(key: string, readonly name: string, readonly spec: RateLimitSpec) {
    super(key);
    this.perMs = ratePerMs(spec);
    this.burst = burstOf(spec);
    this.maxLease = Math.max(1, Math.floor(this.burst / 10));
  }

  localStep(now: number): Step {
    this.localTokens = Math.min(this.burst, this.localTokens + (now - this.localAt) * this.perMs);
    this.localAt = now;
    if (this.localTokens < 1) return 'deny';
    this.localTokens--;
    return 'ok';
  }

  goLocal(now: number): void {
    if (now >= this.localUntil) {
      this.localTokens = this.burst;
      this.localAt = now;
    }
    this.localUntil = now + LOCAL_MS;
  }

  retryAfterS(now: number): number {
    const waitMs = now < this.localUntil ? (1 - this.localTokens) / this.perMs : this.askAfter - now;
    return Math.max(1, Math.ceil(waitMs / 1000));
  }

  #remaining(now: number): number {
    if (now < this.localUntil) return Math.floor(this.localTokens);
    return Math.floor(this.have) + Math.max(0, this.stored);
  }

  policyItem(): string {
    return `"${this.name}";q=${this.spec.requests};w=${windowMs(this.spec) / 1000}`;
  }

  statusItem(now: number): string {
    const r = Math.min(this.burst, this.#remaining(now));
    const t = r < 1 ? this.retryAfterS(now) : Math.ceil((this.burst - r) / this.perMs / 1000);
    return `"${this.name}";r=${r};t=${t}`;
  }
}

class QuotaLease extends Lease {
  readonly maxLease: number;
  /** Admitted on credit while the store was unreachable, not yet counted there. */
  debt = 0;
  /** Credit left in the current outage. */
  credit = 0;

  constructor(key: string, readonly spec: QuotaSpec, readonly period: QuotaPeriod) {
    super(key);
    // A thousandth of the quota, 10,000 at most: what a killed instance can strand, and how far `used` runs ahead of spending.
    this.maxLease = Math.max(1, Math.min(10_000, Math.floor(spec.requests / 1000)));
  }

  localStep(): Step {
    if (this.credit < 1) return 'unavailable';
    this.credit--;
    this.debt++;
    return 'ok';
  }

  goLocal(now: number): void {
    // One credit per outage: a take that gets through sets localUntil back to 0.
    if (this.localUntil === 0) this.credit = this.maxLease;
    this.localUntil = now + LOCAL_MS;
  }

  retryAfterS(now: number): number {
    // An exhausted quota has budget again at the next period (or a top-up).
    return Math.max(1, Math.ceil((this.period.endMs - now) / 1000));
  }

  policyItem(): string {
    return `"quota";q=${this.spec.requests};w=${Math.round((this.period.endMs - this.period.startMs) / 1000)}`;
  }

  statusItem(now: number): string {
    const r = Math.max(0, Math.floor(this.have) + Math.max(0, this.stored));
    return `"quota";r=${r};t=${Math.max(0, Math.ceil((this.period.endMs - now) / 1000))}`;
  }
}

/** A consumer's leases, made for one version of its limits. */
interface Holder {
  readonly limits: ConsumerLimits;
  readonly consumerId: string;
  rate: RateLease | undefined;
  routes: Map<string, RateLease> | undefined;
  quota: QuotaLease | undefined;
  usedAt: number;
}

export class Limiter {
  readonly #counters: UsageCounters;
  readonly #now: () => number;
  readonly #storeWaitMs: number;
  readonly #idleMs: number;
  readonly #holders = new Map<string, Holder>();
  readonly #sweep: NodeJS.Timeout;
  /** Takes made and takes that failed (for metrics and tests). */
  readonly stats = { takes: 0, takeFailures: 0 };

  constructor(opts: LimiterOptions) {
    this.#counters = opts.counters;
    this.#now = opts.now ?? Date.now;
    this.#storeWaitMs = opts.storeWaitMs ?? 250;
    this.#idleMs = opts.leaseIdleMs ?? 1000;
    this.#sweep = setInterval(() => this.#giveBackIdle(), Math.max(50, this.#idleMs / 2));
    this.#sweep.unref();
  }

  /** Consumers whose leases this instance holds. */
  get size(): number {
    return this.#holders.size;
  }

  /**
   * Spends one request of `limits` for consumer `consumerId` on `route`:
   * the verdict now when the leases in hand decide it, else once the store
   * answered (or was given up on).
   */
  admit(consumerId: string, limits: ConsumerLimits, route: string): LimitVerdict | Promise<LimitVerdict> {
    const now = this.#now();
    const h = this.#holder(consumerId, limits, now);
    const routeLease = route === '' ? undefined : this.#routeLease(h, route);
    const verdict = this.#try(h, routeLease, now);
    if (verdict !== undefined) return verdict;
    return this.#waitAndTry(h, routeLease, 0);
  }

  async #waitAndTry(h: Holder, routeLease: RateLease | undefined, round: number): Promise<LimitVerdict> {
    const waits: Promise<void>[] = [];
    const now = this.#now();
    for (const lease of [h.rate, routeLease, h.quota]) {
      if (lease && lease.have < 1 && now >= lease.localUntil && now >= lease.askAfter) waits.push(this.#take(lease, h, 1));
    }
    await Promise.all(waits);
    const later = this.#now();
    const verdict = this.#try(h, routeLease, later);
    if (verdict !== undefined) return verdict;
    // Others spent what the take brought: ask again, a few times at most.
    if (round < 3) return this.#waitAndTry(h, routeLease, round + 1);
    const short = [h.rate, routeLease, h.quota].find((l) => l && l.have < 1) as Lease;
    return this.#verdict(h, routeLease, later, short instanceof QuotaLease ? 'quota_exhausted' : 'rate_limited', short);
  }

  /** Every lease spends one token: the verdict; or undefined when some lease must wait for the store (nothing spent then). */
  #try(h: Holder, routeLease: RateLease | undefined, now: number): LimitVerdict | undefined {
    h.usedAt = now;
    const a = h.rate ? h.rate.step(now) : 'ok';
    if (a !== 'ok') return this.#unspent(h, routeLease, now, a, h.rate as Lease, []);
    const b = routeLease ? routeLease.step(now) : 'ok';
    if (b !== 'ok') return this.#unspent(h, routeLease, now, b, routeLease as Lease, [h.rate]);
    const c = h.quota ? h.quota.step(now) : 'ok';
    if (c !== 'ok') return this.#unspent(h, routeLease, now, c, h.quota as Lease, [h.rate, routeLease]);
    // Three calls, not a loop over a fresh array: this is every limited request's path.
    if (h.rate) this.#renewIfLow(h.rate, h, now);
    if (routeLease) this.#renewIfLow(routeLease, h, now);
    if (h.quota) this.#renewIfLow(h.quota, h, now);
    return h.limits.headers ? this.#verdict(h, routeLease, now, undefined, undefined) : ADMITTED;
  }

  /** Gives back what the leases before `failed` spent, then refuses (or waits: undefined). */
  #unspent(h: Holder, routeLease: RateLease | undefined, now: number, step: Step, failed: Lease, spentBefore: Array<Lease | undefined>): LimitVerdict | undefined {
    for (const l of spentBefore) if (l) l.refund();
    if (step === 'wait') return undefined;
    if (step === 'unavailable') return this.#verdict(h, routeLease, now, 'limits_unavailable', failed);
    return this.#verdict(h, routeLease, now, failed instanceof QuotaLease ? 'quota_exhausted' : 'rate_limited', failed);
  }

  #verdict(h: Holder, routeLease: RateLease | undefined, now: number, refused: LimitVerdict['refused'], failed: Lease | undefined): LimitVerdict {
    const leases = [h.rate, routeLease, h.quota].filter((l): l is RateLease | QuotaLease => l !== undefined);
    const policy = leases.map((l) => l.policyItem()).join(', ');
    const status = leases.map((l) => l.statusItem(now)).join(', ');
    const headers: HeaderPair[] = [['ratelimit-policy', policy], ['ratelimit', status]];
    // A 503 (limits_unavailable) gets its Retry-After with the reason's answer.
    if ((refused === 'rate_limited' || refused === 'quota_exhausted') && failed) headers.push(['retry-after', String(failed.retryAfterS(now))]);
    return refused ? { refused, headers } : { headers };
  }

  #holder(consumerId: string, limits: ConsumerLimits, now: number): Holder {
    let h = this.#holders.get(consumerId);
    if (h && h.limits === limits) {
      if (h.quota && now >= h.quota.period.endMs) h.quota = this.#quotaLease(consumerId, limits.quota as QuotaSpec, now);
      return h;
    }
    if (h) this.#release(h);
    h = {
      limits,
      consumerId,
      rate: limits.rate ? new RateLease(`rl:${consumerId}`, 'rate', limits.rate) : undefined,
      routes: undefined,
      quota: limits.quota ? this.#quotaLease(consumerId, limits.quota, now) : undefined,
      usedAt: now,
    };
    this.#holders.set(consumerId, h);
    return h;
  }

  #quotaLease(consumerId: string, spec: QuotaSpec, now: number): QuotaLease {
    const period = quotaPeriod(spec, now);
    return new QuotaLease(quotaKey(consumerId, period.id), spec, period);
  }

  #routeLease(h: Holder, route: string): RateLease | undefined {
    const spec = h.limits.routes?.[route];
    if (!spec) return undefined;
    h.routes ??= new Map();
    let lease = h.routes.get(route);
    if (!lease) {
      lease = new RateLease(`rl:${h.consumerId}:${route}`, `route:${route}`, spec);
      h.routes.set(route, lease);
    }
    return lease;
  }

  #renewIfLow(lease: Lease, h: Holder, now: number): void {
    if (lease.pending || now < lease.askAfter || now < lease.localUntil) return;
    if (lease.have <= lease.maxLease / 2) void this.#take(lease, h, 0);
  }

  /** One take for `lease` (joined when one is in flight). Never rejects. */
  #take(lease: Lease, h: Holder, waiting: number): Promise<void> {
    if (lease.pending) return lease.pending;
    const started = this.#now();
    const want = lease.want(started, waiting);
    // The spending rate is measured from one take's start to the next one's.
    lease.takenAt = started;
    lease.spent = 0;
    this.stats.takes++;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#storeWaitMs);
    });
    const call = lease instanceof RateLease
      ? this.#counters.takeTokens(lease.key, lease.perMs, lease.burst, want, 0)
      : this.#counters.takeQuota(lease.key, (lease as QuotaLease).spec.requests, want, (lease as QuotaLease).debt, ttlOf((lease as QuotaLease).period, started));
    const debtSent = lease instanceof QuotaLease ? lease.debt : 0;
    lease.pending = Promise.race([call, gaveUp]).then(
      (out) => {
        clearTimeout(timer);
        const now = this.#now();
        if (out === 'timeout') {
          this.#unreachable(lease, now);
          // A late answer still brings its tokens (and settles the debt it carried).
          void call.then((late) => this.#granted(lease, h, late, debtSent, this.#now()), () => undefined);
          return;
        }
        this.#granted(lease, h, out, debtSent, now);
      },
      () => {
        clearTimeout(timer);
        this.#unreachable(lease, this.#now());
      },
    ).finally(() => {
      lease.pending = undefined;
    });
    return lease.pending;
  }

  #granted(lease: Lease, h: Holder, out: { granted: number; remaining: number; waitMs?: number }, debtSent: number, now: number): void {
    // A lease of limits since replaced, or of a quota period gone by: what it got is returned, not spent.
    if (!this.#current(lease, h)) {
      if (out.granted > 0) void this.#giveBack(lease, out.granted);
      return;
    }
    lease.have += out.granted;
    lease.stored = out.remaining;
    lease.localUntil = 0;
    if (lease instanceof QuotaLease) {
      lease.debt -= debtSent;
      lease.credit = 0;
    }
    if (lease.have < 1) {
      if (lease instanceof RateLease) lease.askAfter = now + Math.max(1, out.waitMs ?? 1);
      else if (lease instanceof QuotaLease) lease.askAfter = Math.min(now + QUOTA_RECHECK_MS, lease.period.endMs);
    }
  }

  #current(lease: Lease, h: Holder): boolean {
    const cur = this.#holders.get(h.consumerId);
    if (cur !== h) return false;
    if (lease instanceof QuotaLease) return h.quota === lease;
    return h.rate === lease || [...(h.routes?.values() ?? [])].includes(lease as RateLease);
  }

  #unreachable(lease: Lease, now: number): void {
    this.stats.takeFailures++;
    lease.goLocal(now);
  }

  /** Returns unspent tokens to the store (best effort: a rate token not returned comes back by refill anyway). */
  #giveBack(lease: Lease, n: number): Promise<unknown> {
    if (n < 1) return Promise.resolve();
    if (lease instanceof RateLease) return this.#counters.takeTokens(lease.key, lease.perMs, lease.burst, 0, n).catch(() => undefined);
    const q = lease as QuotaLease;
    return this.#counters.takeQuota(q.key, q.spec.requests, 0, -n, ttlOf(q.period, this.#now())).catch(() => undefined);
  }

  #release(h: Holder): void {
    for (const lease of [h.rate, ...(h.routes?.values() ?? []), h.quota]) {
      if (!lease) continue;
      const n = Math.floor(lease.have);
      lease.have = 0;
      void this.#giveBack(lease, n);
    }
  }

  #giveBackIdle(): void {
    const now = this.#now();
    for (const [id, h] of this.#holders) {
      if (now - h.usedAt >= 60_000) {
        this.#release(h);
        this.#holders.delete(id);
        continue;
      }
      for (const lease of [h.rate, ...(h.routes?.values() ?? [])]) {
        if (!lease || lease.pending || lease.have < 1 || now - lease.usedAt < this.#idleMs) continue;
        const n = Math.floor(lease.have);
        lease.have -= n;
        void this.#giveBack(lease, n);
      }
    }
  }

  /** Returns every lease's unspent tokens (on shutdown). */
  async close(): Promise<void> {
    clearInterval(this.#sweep);
    const all: Promise<unknown>[] = [];
    for (const h of this.#holders.values()) {
      for (const lease of [h.rate, ...(h.routes?.values() ?? []), h.quota]) {
        if (!lease) continue;
        const n = Math.floor(lease.have);
        lease.have = 0;
        if (n > 0) all.push(this.#giveBack(lease, n));
        if (lease instanceof QuotaLease && lease.debt > 0) all.push(this.#counters.takeQuota(lease.key, lease.spec.requests, 0, lease.debt, ttlOf(lease.period, this.#now())).catch(() => undefined));
      }
    }
    this.#holders.clear();
    // Best effort, and bounded: a store that does not answer does not hold up a shutdown.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(all), new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(this.#storeWaitMs, 1000))))]);
    clearTimeout(timer);
  }
}

/** The counter key of a consumer's quota in one period. */
export function quotaKey(consumerId: string, periodId: string): string {
  return `q:${consumerId}:${periodId}`;
}

/** How long a quota count is kept from `nowMs`: a day past its period's end. */
export function ttlOf(period: QuotaPeriod, nowMs: number): number {
  return Math.max(1000, period.endMs - nowMs) + 86_400_000;
}
