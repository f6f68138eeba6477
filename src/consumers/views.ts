/**
 * A consumer as the admin API shows it, and the shapes a client sends: plain
 * data types, declared once. The records (src/consumers/model.ts), the CLI and
 * the web console all use these. This file imports nothing, so the console
 * (a browser bundle with its own tsconfig) compiles it as is; keep it that
 * way (the architecture test checks it).
 */

/** Where an API key is read from. A key counts only from its consumer's source. */
export type CredentialSource =
  | { readonly in: 'bearer' }
  | { readonly in: 'header'; readonly name: string }
  | { readonly in: 'query'; readonly name: string };

export type KeyGeneration = 'system' | 'custom';

/** JWS algorithms a JWT consumer's key may be bound to (one per key). */
export type JwsAlg =
  | 'HS256'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA';

/** A JWK's `kty`: `oct` for the HS256 secret of a symmetric consumer, the others public keys. */
export type JwkKeyType = 'oct' | 'RSA' | 'EC' | 'OKP';

/** Who holds a JWT consumer's keys: the service (`symmetric`, HS256) or the consumer (`asymmetric`). */
export type JwtKeyType = 'symmetric' | 'asymmetric';

/** Where a consumer's token is read from. */
export interface TokenLocation {
  readonly in: 'header' | 'query' | 'cookie';
  /** Header name (lower-case), query parameter or cookie name. */
  readonly name: string;
  /** Text before the token in a header (matched case-insensitively); "" for query and cookie by default. */
  readonly prefix: string;
  /** When false the token is removed before the request goes upstream. */
  readonly passthrough: boolean;
}

export interface JwtIdentity {
  readonly claim: string;
  readonly value: string;
}

export interface JwtClaimsPolicy {
  readonly requireExp: boolean;
  readonly issuer?: string;
  readonly audience?: string;
  readonly clockSkewSeconds: number;
}

export interface ClaimHeader {
  readonly claim: string;
  readonly header: string;
}

/** An API key as shown: its id and display hint, never the key or its hash. */
export interface ApiKeyView {
  id: string;
  /** e.g. `cak_…9fQz`; reveals at most the last 4 characters. */
  hint: string;
  generation: KeyGeneration;
  createdAt: string;
  /** ISO-8601 instant after which the key is refused, or null. */
  expiresAt: string | null;
}

/** A JWT key as shown: identification only, never `k` or key material. */
export interface JwtKeyView {
  kid: string;
  kty: JwkKeyType;
  alg: JwsAlg;
  crv?: string;
  createdAt: string;
}

export interface ApiKeyAuthView {
  type: 'api-key';
  source: CredentialSource;
  keys: ApiKeyView[];
}

export interface JwtAuthView {
  type: 'jwt';
  keyType: JwtKeyType;
  keys: JwtKeyView[];
  token: TokenLocation;
  identity: JwtIdentity;
  claims: JwtClaimsPolicy;
  claimsToHeaders: ClaimHeader[];
}

export type AuthView = ApiKeyAuthView | JwtAuthView;

/** A consumer as the admin API answers it: no hash, no secret. */
export interface ConsumerView {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  auth: AuthView;
  /** Rate limits and quota; absent when the consumer has none. */
  limits?: ConsumerLimits;
}

/** A token bucket: `requests` per `per`, refilled evenly, holding at most `burst` (default `requests`). */
export interface RateLimitSpec {
  requests: number;
  per: 'second' | 'minute' | 'hour';
  burst?: number;
}

/** Requests per calendar day or month in `timeZone` (an IANA name, default UTC). */
export interface QuotaSpec {
  requests: number;
  period: 'day' | 'month';
  timeZone?: string;
}

/**
 * A consumer's limits. `rate` holds on every route; `routes` adds a limit of
 * its own on a route (both must admit); `quota` counts every allowed request.
 * `headers`: allowed answers carry the RateLimit-Policy and RateLimit headers
 * too (a 429 always does).
 */
export interface ConsumerLimits {
  rate?: RateLimitSpec;
  routes?: Record<string, RateLimitSpec>;
  quota?: QuotaSpec;
  headers?: boolean;
}

/** A consumer's quota as GET /v1/consumers/{name}/usage answers it. */
export interface QuotaUsageView {
  requests: number;
  period: 'day' | 'month';
  timeZone: string;
  /** The current period, e.g. `2026-12-03` or `2026-12`, and its bounds (ISO-8601 UTC). */
  periodId: string;
  periodStart: string;
  periodEnd: string;
  /** Requests counted, including budget instances hold but have not spent yet (see docs/limits.md). */
  used: number;
  /** Extra requests an admin added to this period. */
  credits: number;
  remaining: number;
}

/**
 * One admin change, as the audit trail keeps it and GET /v1/audit shows it
 * (the store's AuditEntry is this type). `before`/`after` are the public
 * views (never a key, a hash or a secret); null when absent.
 */
export interface AuditEntryView {
  /** Store-assigned; ids increase with time. */
  id: string;
  /** ISO-8601 time of the change. */
  at: string;
  /** Name of the admin token that made it (`admin` for ADMIN_TOKEN, `anonymous` on an open loopback API). */
  actor: string;
  /** e.g. `consumer.create`, `consumer.update`, `key.add`, `route.put`. */
  action: string;
  /** e.g. `consumer:alice`, `route:chat`. */
  target: string;
  before: unknown;
  after: unknown;
}
