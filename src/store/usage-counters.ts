/**
 * Where the counts behind rate limits and quotas live. The limiter
 * (src/limits/) never asks per request: it takes budget in batches (leases)
 * and spends it locally, so these calls run off the Check path.
 *
 * Two implementations: RedisStore (shared by every instance; each call one
 * atomic script, timed by the Redis server's clock) and LocalCounters below
 * (one instance: the file store; quota counts written to a file so they
 * survive a restart).
 *
 * Keys name what is counted (`rl:<consumerId>`, `rl:<consumerId>:<route>`,
 * `q:<consumerId>:<periodId>`); consumer ids, never names, so a consumer
 * created again under an old name starts from nothing.
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';

/** What a token take got: `granted` tokens (0 to `want`), what the bucket holds after it, and when one more token will be there. */
export interface TokenTake {
  readonly granted: number;
  readonly remaining: number;
  /** Ms until the bucket holds a whole token again (0 when it holds one now). */
  readonly waitMs: number;
}

export interface QuotaTake {
  readonly granted: number;
  /** `limit + credits - used` after the take (negative when debt pushed it past the limit). */
  readonly remaining: number;
}

export interface QuotaCount {
  readonly used: number;
  readonly credits: number;
}

export interface UsageCounters {
  /**
   * From the token bucket `key` (`burst` tokens at most, refilled at
   * `perMs` tokens a millisecond, full when new), first returns `giveBack`
   * unspent tokens, then takes up to `want` whole tokens.
   */
  takeTokens(key: string, perMs: number, burst: number, want: number, giveBack: number): Promise<TokenTake>;
  /**
   * Counts `debt` requests already admitted (without a check), then takes up
   * to `want` of what is left of `limit + credits`. The count expires `ttlMs`
   * after its last change (set past the period's end).
   */
  takeQuota(key: string, limit: number, want: number, debt: number, ttlMs: number): Promise<QuotaTake>;
  quotaCount(key: string): Promise<QuotaCount>;
  /** Starts the count over: used and credits 0. */
  resetQuota(key: string): Promise<void>;
  /** Adds `requests` credits; returns the count after it. */
  topUpQuota(key: string, requests: number, ttlMs: number): Promise<QuotaCount>;
}

interface Bucket {
  tokens: number;
  atMs: number;
  expiresAtMs: number;
}

interface Quota {
  used: number;
  credits: number;
  expiresAtMs: number;
}

export interface LocalCountersOptions {
  /** Where quota counts are kept across restarts (written at most every `flushMs` when changed, and on close); none: memory only. */
  file?: string;
  flushMs?: number;
  now?: () => number;
}

/** The counters of a single instance, in memory (quota counts also in `file`). */
export class LocalCounters implements UsageCounters {
  readonly #buckets = new Map<string, Bucket>();
  readonly #quotas = new Map<string, Quota>();
  readonly #file: string | undefined;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout | undefined;
  #dirty = false;
  #writing: Promise<void> = Promise.resolve();

  constructor(opts: LocalCountersOptions = {}) {
    this.#file = opts.file;
    this.#now = opts.now ?? Date.now;
    if (this.#file) {
      this.#load(this.#file);
      this.#timer = setInterval(() => void this.flush(), opts.flushMs ?? 1000);
      this.#timer.unref();
    }
  }

  #load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let data: { quotas?: Record<string, Quota> };
    try {
      data = JSON.parse(text) as { quotas?: Record<string, Quota> };
    } catch {
      throw new Error(`${file} is not valid JSON; move it away to start the quota counts over`);
    }
    const now = this.#now();
    for (const [k, q] of Object.entries(data.quotas ?? {})) {
      if (typeof q?.used === 'number' && typeof q.credits === 'number' && typeof q.expiresAtMs === 'number' && q.expiresAtMs > now) this.#quotas.set(k, q);
    }
  }

  /** Writes the quota counts now if they changed (atomically: a temporary file renamed over the old). */
  flush(): Promise<void> {
    if (!this.#file || !this.#dirty) return this.#writing;
    this.#dirty = false;
    const file = this.#file;
    const now = this.#now();
    const quotas: Record<string, Quota> = {};
    for (const [k, q] of this.#quotas) if (q.expiresAtMs > now) quotas[k] = q;
    const text = JSON.stringify({ quotas });
    this.#writing = this.#writing.then(async () => {
      try {
        await writeFile(`${file}.tmp`, text, { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      } catch {
        this.#dirty = true; // tried again at the next flush
      }
    });
    return this.#writing;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }

  async takeTokens(key: string, perMs: number, burst: number, want: number, giveBack: number): Promise<TokenTake> {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b || b.expiresAtMs <= now) {
      b = { tokens: burst, atMs: now, expiresAtMs: 0 };
      this.#buckets.set(key, b);
    }
    return takeFromBucket(b, now, perMs, burst, want, giveBack);
  }

  async takeQuota(key: string, limit: number, want: number, debt: number, ttlMs: number): Promise<QuotaTake> {
    const q = this.#quota(key, ttlMs);
    q.used += debt;
    const granted = Math.max(0, Math.min(want, limit + q.credits - q.used));
    q.used += granted;
    this.#dirty ||= granted > 0 || debt > 0;
    return { granted, remaining: limit + q.credits - q.used };
  }

  async quotaCount(key: string): Promise<QuotaCount> {
    const q = this.#quotas.get(key);
    return q && q.expiresAtMs > this.#now() ? { used: q.used, credits: q.credits } : { used: 0, credits: 0 };
  }

  async resetQuota(key: string): Promise<void> {
    this.#quotas.delete(key);
    this.#dirty = true;
  }

  async topUpQuota(key: string, requests: number, ttlMs: number): Promise<QuotaCount> {
    const q = this.#quota(key, ttlMs);
    q.credits += requests;
    this.#dirty = true;
    return { used: q.used, credits: q.credits };
  }

  #quota(key: string, ttlMs: number): Quota {
    const now = this.#now();
    let q = this.#quotas.get(key);
    if (!q || q.expiresAtMs <= now) {
      q = { used: 0, credits: 0, expiresAtMs: 0 };
      this.#quotas.set(key, q);
    }
    q.expiresAtMs = now + ttlMs;
    return q;
  }
}

/**
 * The token-bucket step both implementations make (the Redis script spells
 * the same arithmetic in Lua): refill for the time gone by, take back unspent
 * tokens, then grant whole tokens.
 */
function takeFromBucket(b: Bucket, now: number, perMs: number, burst: number, want: number, giveBack: number): TokenTake {
  if (now > b.atMs) b.tokens = Math.min(burst, b.tokens + (now - b.atMs) * perMs);
  b.atMs = Math.max(b.atMs, now);
  b.tokens = Math.min(burst, b.tokens + giveBack);
  const granted = Math.max(0, Math.min(want, Math.floor(b.tokens)));
  b.tokens -= granted;
  // Forgotten once it would be full again anyway.
  b.expiresAtMs = now + Math.ceil((burst - b.tokens) / perMs) + 1000;
  const waitMs = b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) / perMs);
  return { granted, remaining: Math.floor(b.tokens), waitMs };
}
