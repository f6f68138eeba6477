/**
 * The in-process replica of the store that Check reads: every consumer,
 * API-key consumers indexed by key hash, JWT consumers by identity claim
 * (claim key → value → consumer), and every route's grants. Check never waits on the
 * network; the Replicator keeps this replica in step with the store.
 *
 * `authoritative` says whether a miss here means "no such credential" (the
 * replica is warm and connected) or "don't know" (cold or cut off: the caller
 * must fail closed).
 *
 * Freshness bounds how stale an allow can be: with `maxStalenessMs` set, the
 * replica is fresh only until `maxStalenessMs` after the send time of the last
 * store round trip that confirmed it in step (`confirm`), on a monotonic clock.
 * A pause of the process, a partition or a slow store all end freshness by
 * themselves, since only a new confirmation extends it; Check then answers
 * what it would allow with 503. Without `maxStalenessMs` (unit tests, tools)
 * the replica never goes stale by time.
 */
import {
  API_KEY_CHECK,
  API_KEY_FIRST_KEY,
  apiKeyCount,
  checkRecordLimits,
  sourceOfKey,
  toCheckRecord,
  type ApiKeyCheck,
  type CheckRecord,
  type JwtCheck,
} from '../consumers/check-record.js';
import {
  type AuthType,
  type ConsumerLimits,
  type ConsumerRecord,
  type CredentialSource,
  type JwsAlg,
  type JwtAuth,
  type RouteRecord,
  type StoredJwk,
  type TokenLocation,
} from '../consumers/model.js';
import type { RouteMatchRule } from '../consumers/route-match.js';
import { RouteMatcher } from '../consumers/route-matcher.js';
import type { ChangeSet } from '../store/store.js';

/**
 * What Check (the allow answer, denials, telemetry) reads of a consumer. A full
 * ConsumerRecord is one; API-key consumers keep only this in the replica.
 */
export interface ConsumerIdentity {
  readonly id: string;
  readonly name: string;
  readonly enabled: boolean;
  readonly auth: { readonly type: AuthType };
}

/** What an allowed Check resolved to: a consumer and the id of the credential used. */
export interface CredentialEntry {
  readonly consumer: { readonly record: ConsumerIdentity };
  /** API key id, or the `kid` of the JWT key that verified the token. */
  readonly credentialId: string;
}

const API_KEY_TYPE: { readonly type: 'api-key' } = Object.freeze({ type: 'api-key' });

/** One API key of one consumer, the unit an API-key Check resolves to. */
export interface KeyEntry extends CredentialEntry {
  readonly consumer: ApiKeyConsumer;
  /** Epoch ms after which the key is refused; Infinity when it never expires. */
  readonly expiresAtMs: number;
}

/**
 * An API-key consumer as Check sees it: only what a decision and its answer
 * need (the full record stays in the store; the admin API reads it there).
 * Replaced (never mutated) on every change.
 *
 * Kept to one object per consumer on purpose (the replica holds every
 * consumer, and heap per consumer is a target): the consumer is also the
 * KeyEntry of its first key; further keys (rotation) get their own entries.
 * A key that never expires stores no number (a double field would box one per
 * object).
 */
export class ApiKeyConsumer implements ConsumerIdentity, KeyEntry {
  readonly id: string;
  readonly name: string;
  readonly enabled: boolean;
  /** `sourceKey()` of the consumer's credential source (interned: one string per source). */
  readonly sourceKey: string;
  /** Binary SHA-256 digests (latin1 strings) of its keys: one string for one key. */
  readonly digests: string | readonly string[];
  /** Id of the first key. */
  readonly credentialId: string;
  readonly #expiresAtMs: number | undefined;

  /** `firstExpiresAtMs`: the first key's expiry, 0 when it never expires (as check records spell it). */
  constructor(id: string, name: string, enabled: boolean, sourceKey: string, digests: string | readonly string[], firstKeyId: string, firstExpiresAtMs: number) {
    this.id = id;
    this.name = name;
    this.enabled = enabled;
    this.sourceKey = sourceKey;
    this.digests = digests;
    this.credentialId = firstKeyId;
    this.#expiresAtMs = firstExpiresAtMs === 0 ? undefined : firstExpiresAtMs;
  }

  get auth(): { readonly type: 'api-key' } {
    return API_KEY_TYPE;
  }

  /** The consumer itself: it carries the identity fields a record would. */
  get record(): ConsumerIdentity {
    return this;
  }

  /** As the entry of its first key: the consumer is itself. */
  get consumer(): ApiKeyConsumer {
    return this;
  }

  /** Expiry of the first key. */
  get expiresAtMs(): number {
    return this.#expiresAtMs ?? Infinity;
  }
}

/** The 32-byte SHA-256 digest of a stored key hash (hex), as the latin1 string the replica is keyed by. */
export function digestOfHash(hex: string): string {
  // One scratch buffer: a load converts a million of these, and a Buffer each is garbage.
  const n = SCRATCH.write(hex, 'hex');
  return SCRATCH.toString('latin1', 0, n);
}

const SCRATCH = Buffer.alloc(64);

/**
 * A JWT consumer as Check sees it. A new object for every record version, so
 * anything derived from one version (keys imported by authz, cached tokens)
 * is tied to it and dropped with it.
 */
export interface JwtConsumer {
  readonly record: JwtIdentityRecord;
  readonly auth: JwtAuth;
  /** `in:name:prefix` (prefix lower-cased): where this consumer's token must be found. */
  readonly locationKey: string;
  readonly keys: ReadonlyMap<string, JwtKeyEntry>;
}

/**
 * What the replica keeps of a JWT consumer's record: the identity fields, its
 * version and its auth as stored (loaded from its check record; the full
 * record's description and dates stay in the store).
 */
export interface JwtIdentityRecord extends ConsumerIdentity {
  readonly version: number;
  readonly auth: JwtAuth;
}

/** One key of a JWT consumer. */
export interface JwtKeyEntry extends CredentialEntry {
  readonly consumer: JwtConsumer;
  readonly kid: string;
  /** The one algorithm this key verifies. */
  readonly alg: JwsAlg;
  /** The key as stored (authz imports it on first use and keeps it for this entry). */
  readonly jwk: StoredJwk;
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

export interface DirectoryOptions {
  /** The staleness bound (MAX_STALENESS_MS); undefined: none. */
  maxStalenessMs?: number;
  /** Monotonic clock in ms (default performance.now). */
  clock?: () => number;
}

export class ConsumerReplica {
  readonly #maxStalenessMs: number;
  readonly #clock: () => number;
  /** Monotonic time until which the replica is fresh. */
  #freshUntil: number;
  #confirmedAt = -Infinity;
  #inStep = false;
  readonly #byName = new Map<string, ApiKeyConsumer | JwtConsumer>();
  /** Key entries by binary digest (a 32-char latin1 string: half the heap of 64 hex chars). */
  readonly #byDigest = new Map<string, KeyEntry>();
  readonly #byIdentity = new Map<string, Map<string, JwtConsumer>>();
  readonly #jwtLocations = new Map<string, { location: TokenLocation; count: number }>();
  #identityClaims: string[] = [];
  #jwtHeaders: JwtSource[] = [];
  #jwtQueries: JwtSource[] = [];
  #jwtCookies: JwtSource[] = [];
  readonly #routes = new Map<string, ReadonlySet<string>>();
  /** Limits of the consumers that have any, by name. */
  readonly #limits = new Map<string, ConsumerLimits>();
  /** Short-term grants: route → consumer name → expiry (epoch ms); only routes that have any. */
  readonly #grantExpiry = new Map<string, ReadonlyMap<string, number>>();
  /** Match rules of the routes that have any, as stored (their JSON: a change is a different string). */
  readonly #routeMatch = new Map<string, { readonly rules: readonly RouteMatchRule[]; readonly json: string }>();
  #matcher = new RouteMatcher([]);
  #matchChanged = false;
  #matcherBuilds = 0;
  /** Credential sources in use, with how many consumers use each. */
  readonly #sources = new Map<string, { readonly key: string; readonly source: CredentialSource; count: number }>();
  #headerNames: string[] = [];
  #queryNames: string[] = [];
  #listeners: Array<(name: string) => void> = [];

  constructor(opts: DirectoryOptions = {}) {
    this.#maxStalenessMs = opts.maxStalenessMs ?? Infinity;
    this.#clock = opts.clock ?? (() => performance.now());
    this.#freshUntil = this.#maxStalenessMs === Infinity ? Infinity : -Infinity;
  }

  /**
   * True when a miss is a definite "unknown": warm, in step with the store at
   * the last sync, and still fresh. Set by the Replicator (false on a lost
   * connection or a failed sync).
   */
  get authoritative(): boolean {
    return this.#inStep && this.#clock() < this.#freshUntil;
  }

  set authoritative(v: boolean) {
    this.#inStep = v;
  }

  /**
   * Records a store round trip that found the replica in step, by the
   * monotonic time its request was SENT (a pause between send and reply must
   * not extend freshness). Freshness only moves forward.
   */
  confirm(sentAt: number): void {
    if (sentAt > this.#confirmedAt) this.#confirmedAt = sentAt;
    const until = sentAt + this.#maxStalenessMs;
    if (until > this.#freshUntil) this.#freshUntil = until;
  }

  /** Ends freshness now (the replica is being replaced); a bound of none is kept. */
  expire(): void {
    if (this.#maxStalenessMs !== Infinity) this.#freshUntil = -Infinity;
  }

  /** Whether the replica may answer an allow: one clock read and a compare. */
  isFresh(now: number = this.#clock()): boolean {
    return now < this.#freshUntil;
  }

  /** Ms since the request of the last confirming round trip was sent (Infinity before the first). */
  stalenessMs(now: number = this.#clock()): number {
    return now - this.#confirmedAt;
  }

  /** The staleness bound in ms (Infinity when none). */
  get maxStalenessMs(): number {
    return this.#maxStalenessMs;
  }

  /** Lookup counters, read by /metrics: key-hash hits and misses, entries dropped or replaced. */
  readonly stats = { hits: 0, misses: 0, evictions: 0 };

  get size(): number {
    return this.#byName.size;
  }

  consumer(name: string): ApiKeyConsumer | JwtConsumer | undefined {
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

  /** The key whose SHA-256 digest, as a latin1 string (`keyDigest()`), is `digest`. */
  byKeyDigest(digest: string): KeyEntry | undefined {
    const entry = this.#byDigest.get(digest);
    if (entry) this.stats.hits++;
    else this.stats.misses++;
    return entry;
  }

  /** Granted consumer names of a route, or undefined when the route admits everyone. */
  grants(route: string): ReadonlySet<string> | undefined {
    return this.#routes.get(route);
  }

  /** The limits of consumer `name`, or undefined when it has none (one Map read). */
  limitsOf(name: string): ConsumerLimits | undefined {
    return this.#limits.size === 0 ? undefined : this.#limits.get(name);
  }

  /** When `name`'s grant on `route` expires (epoch ms), or undefined for a long-term grant. */
  grantExpiresAt(route: string, name: string): number | undefined {
    return this.#grantExpiry.get(route)?.get(name);
  }

  /**
   * The compiled match rules of every route the replica holds: names the route
   * of a request that carries no `context_extensions.route`. Rebuilt once per
   * applied change set that changed some route's rules, never per request.
   */
  get routeMatcher(): RouteMatcher {
    return this.#matcher;
  }

  /** How many times the route matcher was compiled (tests prove it is not per request). */
  get routeMatcherBuilds(): number {
    return this.#matcherBuilds;
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
    this.#byDigest.clear();
    this.#byIdentity.clear();
    this.#identityClaims = [];
    this.#jwtLocations.clear();
    this.#jwtHeaders = [];
    this.#jwtQueries = [];
    this.#jwtCookies = [];
    this.#routes.clear();
    this.#grantExpiry.clear();
    if (this.#routeMatch.size > 0) {
      this.#routeMatch.clear();
      this.#compileMatcher();
    }
    this.#sources.clear();
    this.#headerNames = [];
    this.#queryNames = [];
    for (const name of names) for (const l of this.#listeners) l(name);
  }

  /**
   * Applies a change set. Consumers come as check records (what the
   * Replicator loads) or full records (tools and tests), which are converted.
   */
  apply(changes: ChangeSet<CheckRecord | ConsumerRecord>): void {
    for (const [name, rec] of changes.consumers) {
      this.#remove(name);
      if (rec) this.#add(Array.isArray(rec) ? (rec as CheckRecord) : toCheckRecord(rec as ConsumerRecord));
      for (const l of this.#listeners) l(name);
    }
    for (const [route, rec] of changes.routes) this.#setRoute(route, rec);
    if (this.#matchChanged) this.#compileMatcher();
  }

  #compileMatcher(): void {
    const routes: Array<{ route: string; match: readonly RouteMatchRule[] }> = [];
    for (const [route, m] of this.#routeMatch) routes.push({ route, match: m.rules });
    this.#matcher = new RouteMatcher(routes);
    this.#matcherBuilds++;
    this.#matchChanged = false;
  }

  #add(c: CheckRecord): void {
    if (c[1] === API_KEY_CHECK) this.#addApiKey(c);
    else this.#addJwt(c);
    const limits = checkRecordLimits(c);
    if (limits) this.#limits.set(c[3], limits);
  }

  /** `[rev, 1, id, name, enabled, updatedAtMs, sourceKey, (keyId, hash, expiresAtMs)…]` */
  #addApiKey(c: ApiKeyCheck): void {
    const key = this.#countSource(c[6], +1);
    const n = apiKeyCount(c);
    const f = API_KEY_FIRST_KEY;
    let digests: string | string[];
    if (n === 1) digests = digestOfHash(c[f + 1] as string);
    else {
      digests = [];
      for (let i = 0; i < n; i++) digests.push(digestOfHash(c[f + 3 * i + 1] as string));
    }
    const consumer = new ApiKeyConsumer(c[2], c[3], c[4] === 1, key, digests, c[f] as string, c[f + 2] as number);
    this.#byName.set(c[3], consumer);
    if (typeof digests === 'string') {
      this.#byDigest.set(digests, consumer);
      return;
    }
    this.#byDigest.set(digests[0] as string, consumer);
    for (let i = 1; i < n; i++) {
      const exp = c[f + 3 * i + 2] as number;
      const entry: KeyEntry = { consumer, credentialId: c[f + 3 * i] as string, expiresAtMs: exp === 0 ? Infinity : exp };
      this.#byDigest.set(digests[i] as string, entry);
    }
  }

  /** `[rev, 2, id, name, enabled, updatedAtMs, version, auth]` */
  #addJwt(c: JwtCheck): void {
    const auth = c[7];
    const rec: JwtIdentityRecord = { id: c[2], name: c[3], enabled: c[4] === 1, version: c[6], auth };
    const keys = new Map<string, JwtKeyEntry>();
    const consumer: JwtConsumer = { record: rec, auth, locationKey: tokenLocationKey(auth.token), keys };
    for (const k of auth.keys) keys.set(k.kid, { consumer, kid: k.kid, credentialId: k.kid, alg: k.jwk.alg, jwk: k.jwk });
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
    this.#limits.delete(name);
    this.stats.evictions++;
    if (!(old instanceof ApiKeyConsumer)) {
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
    for (const digest of typeof old.digests === 'string' ? [old.digests] : old.digests) {
      if (this.#byDigest.get(digest)?.consumer === old) this.#byDigest.delete(digest);
    }
    this.#countSource(old.sourceKey, -1);
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

  /**
   * Counts a consumer in (+1) or out (-1) of the sources in use, given its
   * source key (`sourceKey()`); returns the interned source key.
   */
  #countSource(k: string, delta: number): string {
    const cur = this.#sources.get(k);
    const count = (cur?.count ?? 0) + delta;
    if (!cur && delta < 0) return k;
    const entry = cur ?? { key: k, source: sourceOfKey(k), count: 0 };
    if (count > 0) {
      entry.count = count;
      this.#sources.set(entry.key, entry);
    } else this.#sources.delete(k);
    if ((cur === undefined) === (count <= 0)) return entry.key; // the set of sources did not change
    const all = [...this.#sources.values()].map((s) => s.source);
    this.#headerNames = all.flatMap((s) => (s.in === 'header' ? [s.name] : []));
    this.#queryNames = all.flatMap((s) => (s.in === 'query' ? [s.name] : []));
    return entry.key;
  }

  /**
   * An empty grant list admits nobody; only a deleted grant list, or a route
   * record without one (`open`: it exists for its match rules), opens a route to all.
   */
  #setRoute(route: string, rec: RouteRecord | null): void {
    if (rec && !rec.open) this.#routes.set(route, new Set(rec.consumers));
    else this.#routes.delete(route);
    const rules = rec?.match && rec.match.length > 0 ? rec.match : undefined;
    const json = rules ? JSON.stringify(rules) : undefined;
    if (json !== this.#routeMatch.get(route)?.json) {
      if (rules && json) this.#routeMatch.set(route, { rules, json });
      else this.#routeMatch.delete(route);
      this.#matchChanged = true;
    }
    const expiry = new Map<string, number>();
    for (const [name, at] of Object.entries(rec?.expires ?? {})) expiry.set(name, Date.parse(at));
    if (expiry.size > 0) this.#grantExpiry.set(route, expiry);
    else this.#grantExpiry.delete(route);
  }
}
