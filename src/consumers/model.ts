/**
 * The consumer model as stored (records) and as shown by the admin API
 * (views). API-key records hold key hashes, never keys. JWT records hold
 * public JWKs, and for `symmetric` consumers the HS256 secret itself (it is
 * needed to verify; at rest it is sealed under a KEK when one is configured,
 * see secret-seal.ts); views never hold a hash, a secret or a private part.
 */
import type { RouteMatchRule } from './route-match.js';
import { createHash } from 'node:crypto';
import type {
  ApiKeyView,
  AuthView,
  ClaimHeader,
  ConsumerLimits,
  ConsumerView,
  CredentialSource,
  JwkKeyType,
  JwsAlg,
  JwtClaimsPolicy,
  JwtIdentity,
  JwtKeyType,
  JwtKeyView,
  KeyGeneration,
  TokenLocation,
} from './views.js';

// The shapes a client sees and sends are declared once, in views.ts (no
// imports, so the web console compiles it too); the records below use them.
export type * from './views.js';

export interface ApiKeyRecord {
  readonly id: string;
  /** SHA-256 of the key, lower-case hex. */
  readonly hash: string;
  /** Display hint, e.g. `cak_…9fQz`; reveals at most the last 4 characters. */
  readonly hint: string;
  readonly generation: KeyGeneration;
  readonly createdAt: string;
  /** ISO-8601 instant after which the key is refused, or null. */
  readonly expiresAt: string | null;
}

export interface ApiKeyAuth {
  readonly type: 'api-key';
  readonly source: CredentialSource;
  readonly keys: readonly ApiKeyRecord[];
}

/**
 * A stored JWK: only the members needed to verify. `k` (the HS256 secret) is
 * present only on `oct` keys of symmetric consumers and never leaves the
 * service after the create/rotate answer.
 */
export interface StoredJwk {
  readonly kty: JwkKeyType;
  readonly kid: string;
  readonly alg: JwsAlg;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
  readonly k?: string;
  /**
   * At rest only: `k` sealed under a key-encryption key (a secret-seal.ts
   * envelope), stored instead of `k` when a KEK is configured. The store
   * layer (sealed-store.ts) opens it on read; a record whose envelope this
   * instance cannot open keeps `sealed` and has no `k` (its tokens get 503).
   */
  readonly sealed?: string;
}

export interface JwtKeyRecord {
  readonly kid: string;
  readonly jwk: StoredJwk;
  readonly createdAt: string;
}

export interface JwtAuth {
  readonly type: 'jwt';
  readonly keyType: JwtKeyType;
  readonly keys: readonly JwtKeyRecord[];
  readonly token: TokenLocation;
  readonly identity: JwtIdentity;
  readonly claims: JwtClaimsPolicy;
  readonly claimsToHeaders: readonly ClaimHeader[];
}

/** A consumer's one authentication method. */
export type AuthRecord = ApiKeyAuth | JwtAuth;
export type AuthType = AuthRecord['type'];

export interface ConsumerRecord {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Incremented on every write; used for compare-and-set. */
  readonly version: number;
  readonly auth: AuthRecord;
  /** Rate limits and quota (limits.ts); absent when none. */
  readonly limits?: ConsumerLimits;
}

export interface RouteRecord {
  readonly route: string;
  /** Names of the consumers admitted on this route. */
  readonly consumers: readonly string[];
  /**
   * Short-term grants: consumer name → expiry (ISO-8601 UTC). A name listed in
   * `consumers` and absent here holds a long-term grant. Past its expiry the
   * consumer gets `grant_expired` on this route, by each instance's own clock.
   */
  readonly expires?: Readonly<Record<string, string>>;
  readonly updatedAt: string;
  /** Match rules naming this route for requests without `context_extensions.route` (route-match.ts). */
  readonly match?: readonly RouteMatchRule[];
  /**
   * The route has no grant list: it admits every enabled consumer, and the
   * record exists only for its match rules (`consumers` is then empty).
   * Absent: `consumers` is the grant list (an empty one admits nobody).
   */
  readonly open?: true;
}

/** `rec` without the grantees `drop` names (their expiries go with them). */
export function withoutGrantees(rec: RouteRecord, drop: (name: string) => boolean, updatedAt: string): RouteRecord {
  const consumers = rec.consumers.filter((c) => !drop(c));
  if (!rec.expires) return { ...rec, consumers, updatedAt };
  const expires: Record<string, string> = {};
  for (const [n, at] of Object.entries(rec.expires)) if (!drop(n)) expires[n] = at;
  const out: RouteRecord = { ...rec, consumers, updatedAt };
  if (Object.keys(expires).length === 0) {
    const { expires: _gone, ...rest } = out;
    return rest;
  }
  return { ...out, expires };
}

/** The names among a route's grantees whose grant has expired at `nowMs`. */
export function expiredGrantees(rec: RouteRecord, nowMs: number): string[] {
  if (!rec.expires) return [];
  return Object.entries(rec.expires).filter(([, at]) => Date.parse(at) <= nowMs).map(([n]) => n).sort();
}

/** The public view of a record: no hash, no secret. */
export function toView(rec: ConsumerRecord): ConsumerView {
  return {
    id: rec.id,
    name: rec.name,
    description: rec.description,
    enabled: rec.enabled,
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    auth: authView(rec.auth),
    ...(rec.limits ? { limits: structuredClone(rec.limits) as ConsumerLimits } : {}),
  };
}

function authView(a: AuthRecord): AuthView {
  if (a.type === 'api-key') return { type: 'api-key', source: a.source, keys: a.keys.map(keyView) };
  return {
    type: 'jwt',
    keyType: a.keyType,
    keys: a.keys.map(jwtKeyView),
    token: { ...a.token },
    identity: { ...a.identity },
    claims: { ...a.claims },
    claimsToHeaders: a.claimsToHeaders.map((m) => ({ ...m })),
  };
}

export function jwtKeyView(k: JwtKeyRecord): JwtKeyView {
  const v: JwtKeyView = { kid: k.kid, kty: k.jwk.kty, alg: k.jwk.alg, createdAt: k.createdAt };
  if (k.jwk.crv !== undefined) v.crv = k.jwk.crv;
  return v;
}

export function keyView(k: ApiKeyRecord): ApiKeyView {
  return { id: k.id, hint: k.hint, generation: k.generation, createdAt: k.createdAt, expiresAt: k.expiresAt };
}

/**
 * The store's uniqueness index: every value here may belong to one consumer
 * only, and both stores check and claim them atomically with the write.
 * API-key consumers own their key hashes. A JWT consumer owns one entry: the
 * hash of its identity (claim key, claim value), so no two consumers can be
 * named by the same token payload. `kid`s are not in the index: a token's
 * consumer is found by its identity claim, and kids only pick a key within it.
 */
export function credentialHashes(rec: ConsumerRecord): string[] {
  if (rec.auth.type === 'jwt') return [jwtIdentityHash(rec.auth.identity)];
  return rec.auth.keys.map((k) => k.hash);
}

/** Index entry of a JWT identity; the `jwt-identity` tag keeps it apart from API-key hashes. */
export function jwtIdentityHash(id: JwtIdentity): string {
  return createHash('sha256').update(`jwt-identity\u0000${id.claim}\u0000${id.value}`).digest('hex');
}

/** A stable string naming a credential source, e.g. `header:x-api-key`. */
export function sourceKey(s: CredentialSource): string {
  return s.in === 'bearer' ? 'bearer' : `${s.in}:${s.name}`;
}
