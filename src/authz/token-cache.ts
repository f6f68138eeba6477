/**
 * Verified-token cache: a bounded LRU keyed by the SHA-256 of a token, so a
 * repeated token costs a hash and a map lookup instead of a signature check.
 *
 * An entry is tied to the JwtConsumer object (one record version) that
 * verified it; the authorizer uses it only while the ConsumerReplica still holds
 * that very object and before the token's `exp`, so a disabled consumer, a
 * removed key or any other change is seen at once. Entries of a changed
 * consumer are also dropped eagerly to free the memory.
 */
import { createHash } from 'node:crypto';
import type { JwtConsumer, JwtKeyEntry } from '../replica/consumer-replica.js';
import type { ClaimHeaderValue } from './jwt.js';

export interface CachedToken {
  readonly consumer: JwtConsumer;
  readonly key: JwtKeyEntry;
  /** Epoch ms of the token's `exp` (Infinity when it has none); never used at or after it. */
  readonly expMs: number;
  readonly headers: readonly ClaimHeaderValue[];
}

export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;

/** The cache key of a token. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

export class TokenCache {
  readonly #max: number;
  readonly #entries = new Map<string, CachedToken>();
  readonly #byConsumer = new Map<string, Set<string>>();

  constructor(max = DEFAULT_TOKEN_CACHE_SIZE) {
    if (!Number.isInteger(max) || max < 0) throw new TypeError('token cache size must be a non-negative integer');
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entry for `hash`, marked most recently used. */
  get(hash: string): CachedToken | undefined {
    const e = this.#entries.get(hash);
    if (e) {
      this.#entries.delete(hash);
      this.#entries.set(hash, e);
    }
    return e;
  }

  set(hash: string, entry: CachedToken): void {
    if (this.#max === 0) return;
    this.delete(hash);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.delete(oldest);
    }
    this.#entries.set(hash, entry);
    const name = entry.consumer.record.name;
    let set = this.#byConsumer.get(name);
    if (!set) this.#byConsumer.set(name, (set = new Set()));
    set.add(hash);
  }

  delete(hash: string): void {
    const e = this.#entries.get(hash);
    if (!e) return;
    this.#entries.delete(hash);
    const name = e.consumer.record.name;
    const set = this.#byConsumer.get(name);
    set?.delete(hash);
    if (set?.size === 0) this.#byConsumer.delete(name);
  }

  /** Drops every token of a consumer (called when it changes or goes away). */
  dropConsumer(name: string): void {
    const set = this.#byConsumer.get(name);
    if (!set) return;
    for (const h of set) this.#entries.delete(h);
    this.#byConsumer.delete(name);
  }
}
