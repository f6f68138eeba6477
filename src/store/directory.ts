/**
 * The in-process replica of the store that Check reads: every consumer,
 * indexed by key hash, and every route's grants. Check never waits on the
 * network; the Replicator keeps this replica in step with the store.
 *
 * `authoritative` says whether a miss here means "no such credential" (the
 * replica is warm and connected) or "don't know" (cold or cut off: the caller
 * must fail closed).
 */
import {
  sourceKey,
  type ApiKeyRecord,
  type ConsumerRecord,
  type CredentialSource,
  type RouteRecord,
} from '../consumers/model.js';
import type { ChangeSet } from './store.js';

/** A consumer as Check sees it. Replaced (never mutated) on every change. */
export interface CachedConsumer {
  readonly record: ConsumerRecord;
  readonly source: CredentialSource;
  readonly sourceKey: string;
}

/** One API key of one consumer, the unit an API-key Check resolves to. */
export interface KeyEntry {
  readonly consumer: CachedConsumer;
  readonly key: ApiKeyRecord;
  /** Epoch ms after which the key is refused; Infinity when it never expires. */
  readonly expiresAtMs: number;
}

export class Directory {
  readonly #byName = new Map<string, CachedConsumer>();
  readonly #byHash = new Map<string, KeyEntry>();
  readonly #routes = new Map<string, ReadonlySet<string>>();
  /** Credential sources in use, with how many consumers use each. */
  readonly #sources = new Map<string, { source: CredentialSource; count: number }>();
  #headerNames: string[] = [];
  #queryNames: string[] = [];
  #bearer = false;
  #listeners: Array<(name: string) => void> = [];

  /** True when a miss is a definite "unknown" (warm and in step with the store). */
  authoritative = false;

  /** Lookup counters, read by /metrics: key-hash hits and misses, entries dropped or replaced. */
  readonly stats = { hits: 0, misses: 0, evictions: 0 };

  get size(): number {
    return this.#byName.size;
  }

  consumer(name: string): CachedConsumer | undefined {
    return this.#byName.get(name);
  }

  byKeyHash(hash: string): KeyEntry | undefined {
    const entry = this.#byHash.get(hash);
    if (entry) this.stats.hits++;
    else this.stats.misses++;
    return entry;
  }

  /** Granted consumer names of a route, or undefined when the route admits everyone. */
  grants(route: string): ReadonlySet<string> | undefined {
    return this.#routes.get(route);
  }

  /** Whether any consumer reads its key from `Authorization: Bearer`. */
  get bearerInUse(): boolean {
    return this.#bearer;
  }

  /** Header names (lower-case) some consumer reads its key from. */
  get headerNames(): readonly string[] {
    return this.#headerNames;
  }

  /** Query parameter names some consumer reads its key from. */
  get queryNames(): readonly string[] {
    return this.#queryNames;
  }

  /** Called with a consumer's name whenever it changes or goes away. */
  onConsumerChange(listener: (name: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Forgets everything (before a full reload). */
  clear(): void {
    const names = [...this.#byName.keys()];
    this.stats.evictions += names.length;
    this.#byName.clear();
    this.#byHash.clear();
    this.#routes.clear();
    this.#sources.clear();
    this.#bearer = false;
    this.#headerNames = [];
    this.#queryNames = [];
    for (const name of names) for (const l of this.#listeners) l(name);
  }

  apply(changes: ChangeSet): void {
    for (const [name, rec] of changes.consumers) {
      this.#remove(name);
      if (rec) this.#add(rec);
      for (const l of this.#listeners) l(name);
    }
    for (const [route, rec] of changes.routes) this.#setRoute(route, rec);
  }

  #add(rec: ConsumerRecord): void {
    const source = rec.auth.source;
    const consumer: CachedConsumer = { record: rec, source, sourceKey: sourceKey(source) };
    this.#byName.set(rec.name, consumer);
    for (const key of rec.auth.keys) {
      const expiresAtMs = key.expiresAt ? Date.parse(key.expiresAt) : Infinity;
      this.#byHash.set(key.hash, { consumer, key, expiresAtMs });
    }
    this.#countSource(source, +1);
  }

  #remove(name: string): void {
    const old = this.#byName.get(name);
    if (!old) return;
    for (const key of old.record.auth.keys) {
      if (this.#byHash.get(key.hash)?.consumer === old) this.#byHash.delete(key.hash);
    }
    this.#byName.delete(name);
    this.stats.evictions++;
    this.#countSource(old.source, -1);
  }

  #countSource(source: CredentialSource, delta: number): void {
    const k = sourceKey(source);
    const cur = this.#sources.get(k);
    const count = (cur?.count ?? 0) + delta;
    if (count > 0) this.#sources.set(k, { source, count });
    else this.#sources.delete(k);
    if ((cur === undefined) === (count <= 0)) return; // the set of sources did not change
    const all = [...this.#sources.values()].map((s) => s.source);
    this.#bearer = all.some((s) => s.in === 'bearer');
    this.#headerNames = all.flatMap((s) => (s.in === 'header' ? [s.name] : []));
    this.#queryNames = all.flatMap((s) => (s.in === 'query' ? [s.name] : []));
  }

  #setRoute(route: string, rec: RouteRecord | null): void {
    if (rec && rec.consumers.length > 0) this.#routes.set(route, new Set(rec.consumers));
    else this.#routes.delete(route);
  }
}
