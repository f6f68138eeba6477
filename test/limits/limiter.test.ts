/**
 * The limit engine against real counters (LocalCounters, the file store's
 * own) on a clock the test moves. Several Limiters on one LocalCounters stand
 * for several instances on one Redis: the counters are the shared part.
 * Redis itself: test/integration/limits.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConsumerLimits } from '../../src/consumers/limits.js';
import { Limiter, quotaKey, type LimitVerdict } from '../../src/limits/limiter.js';
import { LocalCounters, type UsageCounters } from '../../src/store/usage-counters.js';

let t = Date.parse('2026-12-03T10:00:00Z');
const now = () => t;
const limiters: Limiter[] = [];

function limiter(counters: UsageCounters, storeWaitMs = 250): Limiter {
  const l = new Limiter({ counters, now, storeWaitMs });
  limiters.push(l);
  return l;
}

afterEach(async () => {
  for (const l of limiters.splice(0)) await l.close();
});

async function spend(l: Limiter, limits: ConsumerLimits, n: number, route = '', id = 'csm_a'): Promise<LimitVerdict[]> {
  const out: LimitVerdict[] = [];
  for (let i = 0; i < n; i++) out.push(await l.admit(id, limits, route));
  return out;
}

const admitted = (vs: LimitVerdict[]) => vs.filter((v) => v.refused === undefined).length;
const header = (v: LimitVerdict, name: string) => v.headers.find(([n]) => n === name)?.[1];

describe('rate limits', () => {
  it('a consumer under its limit is admitted, and after the first lease without waiting', async () => {
    const l = limiter(new LocalCounters({ now }));
    const limits: ConsumerLimits = { rate: { requests: 100, per: 'second' } };
    const first = l.admit('csm_a', limits, '');
    expect(first).toBeInstanceOf(Promise); // the first request on an instance waits for a lease
    expect((await first).refused).toBeUndefined();
    let waited = 0;
    for (let i = 0; i < 50; i++) {
      t += 20; // 50 req/s
      const v = l.admit('csm_a', limits, '');
      if (v instanceof Promise) {
        waited++;
        expect((await v).refused).toBeUndefined();
      } else expect(v.refused).toBeUndefined();
      await new Promise((r) => setImmediate(r)); // renewals in the background land
    }
    expect(waited).toBe(0);
  });

  it('a burst admits exactly the bucket, then 429 with Retry-After and the RateLimit headers', async () => {
    const l = limiter(new LocalCounters({ now }));
    const limits: ConsumerLimits = { rate: { requests: 60, per: 'minute', burst: 10 } };
    const vs = await spend(l, limits, 15);
    expect(admitted(vs)).toBe(10);
    const refused = vs[14] as LimitVerdict;
    expect(refused.refused).toBe('rate_limited');
    // One token a second: the next one is a second away.
    expect(header(refused, 'retry-after')).toBe('1');
    expect(header(refused, 'ratelimit-policy')).toBe('"rate";q=60;w=60');
    expect(header(refused, 'ratelimit')).toBe('"rate";r=0;t=1');
    t += 3000; // three tokens back
    expect(admitted(await spend(l, limits, 5))).toBe(3);
  });

  it('three instances on one set of counters admit one bucket together, not three', async () => {
    const counters = new LocalCounters({ now });
    const ls = [limiter(counters), limiter(counters), limiter(counters)];
    const limits: ConsumerLimits = { rate: { requests: 100, per: 'second', burst: 100 } };
    let ok = 0;
    // 10 s at 1,000 req/s offered, round robin over the instances.
    for (let ms = 0; ms < 10_000; ms++) {
      t += 1;
      const v = await (ls[ms % 3] as Limiter).admit('csm_a', limits, '');
      if (!v.refused) ok++;
    }
    // burst + rate × time is the most a token bucket admits; leases held unspent make it a little less.
    expect(ok).toBeLessThanOrEqual(100 + 100 * 10);
    expect(ok).toBeGreaterThanOrEqual(0.95 * (100 + 100 * 10));
  });

  it('a route limit holds beside the consumer limit; a refusal by one spends nothing of the other', async () => {
    const l = limiter(new LocalCounters({ now }));
    const limits: ConsumerLimits = { rate: { requests: 10, per: 'minute' }, routes: { chat: { requests: 2, per: 'minute' } } };
    const chat = await spend(l, limits, 5, 'chat');
    expect(admitted(chat)).toBe(2);
    expect(chat[4]?.refused).toBe('rate_limited');
    expect(header(chat[4] as LimitVerdict, 'ratelimit-policy')).toBe('"rate";q=10;w=60, "route:chat";q=2;w=60');
    // The three refused on chat spent nothing of the consumer's 10: 8 are left elsewhere.
    expect(admitted(await spend(l, limits, 10, 'other'))).toBe(8);
  });

  it('headers on allowed answers only when the limits ask for them', async () => {
    const l = limiter(new LocalCounters({ now }));
    const quiet = await l.admit('csm_a', { rate: { requests: 10, per: 'second' } }, '');
    expect(quiet.headers).toEqual([]);
    const told = await l.admit('csm_b', { rate: { requests: 10, per: 'second' }, headers: true }, '');
    expect(told.refused).toBeUndefined();
    expect(header(told, 'ratelimit-policy')).toBe('"rate";q=10;w=1');
    expect(header(told, 'ratelimit')).toMatch(/^"rate";r=\d+;t=\d+$/);
    expect(header(told, 'retry-after')).toBeUndefined();
  });

  it('new limits take over at once: a lower rate is enforced from the next request', async () => {
    const counters = new LocalCounters({ now });
    const l = limiter(counters);
    expect(admitted(await spend(l, { rate: { requests: 100, per: 'minute' } }, 5))).toBe(5);
    const lower: ConsumerLimits = { rate: { requests: 2, per: 'minute' } };
    // The bucket counts what was spent: 5 of a 100-bucket spent, now capped at 2.
    expect(admitted(await spend(l, lower, 5))).toBe(2);
  });
});

describe('quotas', () => {
  it('admits the quota and no more, across instances; a top-up shows within a second; a reset starts over', async () => {
    const counters = new LocalCounters({ now });
    const ls = [limiter(counters), limiter(counters), limiter(counters)];
    const limits: ConsumerLimits = { quota: { requests: 10_000, period: 'day' } };
    let ok = 0;
    let last: LimitVerdict | undefined;
    for (let i = 0; i < 20_000; i++) {
      t += 1;
      last = await (ls[i % 3] as Limiter).admit('csm_q', limits, '');
      if (!last.refused) ok++;
    }
    expect(ok).toBeLessThanOrEqual(10_000);
    // Each instance may hold one lease (10 requests here) unspent at the end.
    expect(ok).toBeGreaterThanOrEqual(10_000 - 3 * 10);
    expect(last?.refused).toBe('quota_exhausted');
    const key = quotaKey('csm_q', '2026-12-03');
    await counters.topUpQuota(key, 5, 86_400_000);
    t += 1000;
    let more = 0;
    for (let i = 0; i < 30; i++) if (!(await (ls[i % 3] as Limiter).admit('csm_q', limits, '')).refused) more++;
    // The top-up: 5 more (plus what leases held).
    expect(more).toBeGreaterThanOrEqual(5);
    expect(more).toBeLessThanOrEqual(5 + 3 * 10);
    await counters.resetQuota(key);
    t += 1000;
    expect(admitted(await spend(ls[0] as Limiter, limits, 20, '', 'csm_q'))).toBe(20);
  });

  it('the exhausted answer says when the period ends', async () => {
    const l = limiter(new LocalCounters({ now }));
    const limits: ConsumerLimits = { quota: { requests: 3, period: 'day' } };
    const vs = await spend(l, limits, 4);
    expect(admitted(vs)).toBe(3);
    const v = vs[3] as LimitVerdict;
    expect(v.refused).toBe('quota_exhausted');
    const toMidnight = (Date.parse('2026-12-04T00:00:00Z') - t) / 1000;
    expect(Number(header(v, 'retry-after'))).toBe(Math.ceil(toMidnight));
    expect(header(v, 'ratelimit-policy')).toBe('"quota";q=3;w=86400');
    expect(header(v, 'ratelimit')).toBe(`"quota";r=0;t=${Math.ceil(toMidnight)}`);
  });

  it('a new period starts from nothing', async () => {
    t = Date.parse('2026-12-03T23:59:59Z');
    const l = limiter(new LocalCounters({ now }));
    const limits: ConsumerLimits = { quota: { requests: 2, period: 'day' } };
    expect(admitted(await spend(l, limits, 3))).toBe(2);
    t = Date.parse('2026-12-04T00:00:00Z');
    expect(admitted(await spend(l, limits, 3))).toBe(2);
    t = Date.parse('2026-12-03T10:00:00Z');
  });
});

/** Counters whose store has gone away: every call fails at once. */
class DownCounters implements UsageCounters {
  calls = 0;
  #fail<T>(): Promise<T> {
    this.calls++;
    return Promise.reject(new Error('store unavailable'));
  }
  takeTokens = () => this.#fail<never>();
  takeQuota = () => this.#fail<never>();
  quotaCount = () => this.#fail<never>();
  resetQuota = () => this.#fail<never>();
  topUpQuota = () => this.#fail<never>();
}

/** Counters that never answer (a paused Redis). */
class SilentCounters extends DownCounters {
  override takeTokens = () => new Promise<never>(() => {});
  override takeQuota = () => new Promise<never>(() => {});
}

describe('the store unreachable', () => {
  it('a rate limit is enforced by the instance alone: one bucket per instance, no more', async () => {
    const l = limiter(new DownCounters());
    const limits: ConsumerLimits = { rate: { requests: 10, per: 'minute' } };
    const vs = await spend(l, limits, 15);
    expect(admitted(vs)).toBe(10);
    expect(vs[14]?.refused).toBe('rate_limited');
  });

  it('a quota admits one lease on credit, then answers unavailable (503), never allow', async () => {
    const l = limiter(new DownCounters());
    const limits: ConsumerLimits = { quota: { requests: 50_000, period: 'month' } };
    const vs = await spend(l, limits, 60);
    // The lease of a 50,000 quota is 50 requests.
    expect(admitted(vs)).toBe(50);
    expect(vs[59]?.refused).toBe('limits_unavailable');
  });

  it('a store that does not answer is given up on after storeWaitMs; what was admitted on credit is counted when it is back', async () => {
    const counters = new LocalCounters({ now });
    let silent = true;
    // Silent while `silent` (a paused Redis), then the real counters.
    const flaky: UsageCounters = {
      takeTokens: (...a) => (silent ? new Promise<never>(() => {}) : counters.takeTokens(...a)),
      takeQuota: (...a) => (silent ? new Promise<never>(() => {}) : counters.takeQuota(...a)),
      quotaCount: (k) => counters.quotaCount(k),
      resetQuota: (k) => counters.resetQuota(k),
      topUpQuota: (...a) => counters.topUpQuota(...a),
    };
    const l = limiter(flaky, 30);
    const limits: ConsumerLimits = { quota: { requests: 5_000, period: 'month' } };
    const started = Date.now();
    const vs = await spend(l, limits, 8, '', 'csm_s');
    expect(Date.now() - started).toBeLessThan(1000);
    // A 5,000 quota leases 5: five on credit, then 503.
    expect(admitted(vs)).toBe(5);
    expect(vs[7]?.refused).toBe('limits_unavailable');
    silent = false;
    t += 1000;
    expect((await l.admit('csm_s', limits, '')).refused).toBeUndefined();
    const count = await counters.quotaCount(quotaKey('csm_s', '2026-12'));
    // The five on credit, then the lease that admitted this one and its renewal (both held, counted as used).
    expect(count.used).toBeGreaterThanOrEqual(6);
    expect(count.used).toBeLessThanOrEqual(5 + 2 * 5);
  });
});
