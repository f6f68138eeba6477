/**
 * The in-process replica of the store that Check reads: every consumer,
 * API-key consumers indexed by key hash, JWT consumers by identity claim
 * (claim key → value → consumer), and every route's grants. Check never waits on the
 * network; the Replicator keeps this replica in step with the store.
 *
 * `authoritative` says whether a miss here means "no such credential" (the
 * replica is warm and connected) or "don't know" (cold or cut off: the caller
 * must fail closed).
 */
import { importVerifyKey } from '../consumers/jwks.js';
import {
  sourceKey,
  type ApiKeyAuth,
  type ApiKeyRecord,
  type ConsumerRecord,
  type CredentialSource,
  type JwsAlg,
  type JwtAuth,
  type RouteRecord,
  type TokenLocation,
} from '../consumers/model.js';
import type { ChangeSet } from './store.js';

/** A consumer as Check sees it. Replaced (never mutated) on every change. */
export interface CachedConsumer {
  readonly record: ConsumerRecord;
  readonly source: CredentialSource;
  readonly sourceKey: string;
}

/** What an allowed Check resolved to: a consumer and the id of the credential used. */
export interface CredentialEntry {
  readonly consumer: { readonly record: ConsumerRecord };
  /** API key id, or the `kid` of the JWT key that verified the token. */
  readonly credentialId: string;
}

/** One API key of one consumer, the unit an API-key Check resolves to. */
export interface KeyEntry extends CredentialEntry {
  readonly consumer: CachedConsumer;
  readonly key: ApiKeyRecord;
  /** Epoch ms after which the key is refused; Infinity when it never expires. */
  readonly expiresAtMs: number;
}

/**
 * A JWT consumer as Check sees it. A new object for every record version, so
 * anything derived from one version (imported keys, cached tokens) is tied to
 * it and dropped with it.
 */
export interface JwtConsumer {
  readonly record: ConsumerRecord;
  readonly auth: JwtAuth;
  /** `in:name:prefix` (prefix lower-cased): where this consumer's token must be found. */
  readonly locationKey: string;
  readonly keys: ReadonlyMap<string, JwtKeyEntry>;
}

/** One key of a JWT consumer. */
export interface JwtKeyEntry extends CredentialEntry {
  readonly consumer: JwtConsumer;
  readonly kid: string;
  /** The one algorithm this key verifies. */
  readonly alg: JwsAlg;
  /** The imported key; imported on first use, then kept for this record version. */
  verifyKey(): Promise<CryptoKey>;
}

/** A header, query parameter or cookie JWT consumers read, with the prefixes in use (longest first). */
export interface JwtSource {
  readonly name: string;
  readonly prefixes: readonly string[];
}

/** A stable string naming a token location; the prefix is matched case-insensitively. */
export function tokenLocationKey(t: TokenLocation): string {
  return `${t.in}:${t.name}:${t.prefix.toLowerCase()}`;
}

export class Directory {
  readonly #byName = new Map<string, CachedConsumer | JwtConsumer>();
  readonly #byHash = new Map<string, KeyEntry>();
  readonly #byIdentity = new Map<string, Map<string, JwtConsumer>>();
  readonly #jwtLocations = new Map<string, { location: TokenLocation; count: number }>();
  #identityClaims: string[] = [];
  #jwtHeaders: JwtSource[] = [];
  #jwtQueries: JwtSource[] = [];
  #jwtCookies: JwtSource[] = [];
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

  consumer(name: string): CachedConsumer | JwtConsumer | undefined {
    return this.#byName.get(name);
  }

  /** The JWT consumer whose identity claim `claim` has `value`. */
  byIdentity(claim: string, value: string): JwtConsumer | undefined {
    return this.#byIdentity.get(claim)?.get(value);
  }

  /** Identity claim keys some JWT consumer uses (usually just `uid`). */
  get identityClaims(): readonly string[] {
    return this.#identityClaims;
  }

  /** Headers JWT consumers read their token from. */
  get jwtHeaders(): readonly JwtSource[] {
    return this.#jwtHeaders;
  }

  /** Query parameters JWT consumers read their token from. */
  get jwtQueries(): readonly JwtSource[] {
    return this.#jwtQueries;
  }

  /** Cookies JWT consumers read their token from. */
  get jwtCookies(): readonly JwtSource[] {
    return this.#jwtCookies;
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
    this.#byIdentity.clear();
    this.#identityClaims = [];
    this.#jwtLocations.clear();
    this.#jwtHeaders = [];
    this.#jwtQueries = [];
    this.#jwtCookies = [];
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
    if (rec.auth.type === 'jwt') {
      this.#addJwt(rec, rec.auth);
      return;
    }
    const auth: ApiKeyAuth = rec.auth;
    const source = auth.source;
    const consumer: CachedConsumer = { record: rec, source, sourceKey: sourceKey(source) };
    this.#byName.set(rec.name, consumer);
    for (const key of auth.keys) {
      const expiresAtMs = key.expiresAt ? Date.parse(key.expiresAt) : Infinity;
      this.#byHash.set(key.hash, { consumer, key, credentialId: key.id, expiresAtMs });
    }
    this.#countSource(source, +1);
  }

  #addJwt(rec: ConsumerRecord, auth: JwtAuth): void {
    const keys = new Map<string, JwtKeyEntry>();
    const consumer: JwtConsumer = { record: rec, auth, locationKey: tokenLocationKey(auth.token), keys };
    for (const k of auth.keys) {
      let imported: Promise<CryptoKey> | undefined;
      keys.set(k.kid, {
        consumer,
        kid: k.kid,
        credentialId: k.kid,
        alg: k.jwk.alg,
        verifyKey: () => (imported ??= importVerifyKey(k.jwk)),
      });
    }
    this.#byName.set(rec.name, consumer);
    const { claim, value } = auth.identity;
    let byValue = this.#byIdentity.get(claim);
    if (!byValue) {
      byValue = new Map();
      this.#byIdentity.set(claim, byValue);
      this.#identityClaims = [...this.#byIdentity.keys()];
    }
    byValue.set(value, consumer);
    this.#countJwtLocation(auth.token, +1);
  }

  #remove(name: string): void {
    const old = this.#byName.get(name);
    if (!old) return;
    this.#byName.delete(name);
    this.stats.evictions++;
    if ('auth' in old) {
      const { claim, value } = old.auth.identity;
      const byValue = this.#byIdentity.get(claim);
      if (byValue?.get(value) === old) byValue.delete(value);
      if (byValue?.size === 0) {
        this.#byIdentity.delete(claim);
        this.#identityClaims = [...this.#byIdentity.keys()];
      }
      this.#countJwtLocation(old.auth.token, -1);
      return;
    }
    for (const key of (old.record.auth as ApiKeyAuth).keys) {
      if (this.#byHash.get(key.hash)?.consumer === old) this.#byHash.delete(key.hash);
    }
    this.#countSource(old.source, -1);
  }

  #countJwtLocation(location: TokenLocation, delta: number): void {
    const k = tokenLocationKey(location);
    const cur = this.#jwtLocations.get(k);
    const count = (cur?.count ?? 0) + delta;
    if (count > 0) this.#jwtLocations.set(k, { location, count });
    else this.#jwtLocations.delete(k);
    if ((cur === undefined) === (count <= 0)) return;
    const all = [...this.#jwtLocations.values()].map((l) => l.location);
    const sources = (kind: TokenLocation['in']): JwtSource[] => {
      const byName = new Map<string, Set<string>>();
      for (const l of all) {
        if (l.in !== kind) continue;
        const set = byName.get(l.name) ?? new Set<string>();
        set.add(l.prefix.toLowerCase());
        byName.set(l.name, set);
      }
      return [...byName].map(([name, prefixes]) => ({ name, prefixes: [...prefixes].sort((a, b) => b.length - a.length) }));
    };
    this.#jwtHeaders = sources('header');
    this.#jwtQueries = sources('query');
    this.#jwtCookies = sources('cookie');
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

  /** An empty grant list admits nobody; only a deleted grant list opens a route to all. */
  #setRoute(route: string, rec: RouteRecord | null): void {
    if (rec) this.#routes.set(route, new Set(rec.consumers));
    else this.#routes.delete(route);
  }
}
