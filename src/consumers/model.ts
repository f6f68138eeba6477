/**
 * The consumer model as stored (records) and as shown by the admin API
 * (views). Records hold key hashes, never keys; views hold neither.
 */

/** Where an API key is read from. A key counts only from its consumer's source. */
export type CredentialSource =
  | { readonly in: 'bearer' }
  | { readonly in: 'header'; readonly name: string }
  | { readonly in: 'query'; readonly name: string };

export type KeyGeneration = 'system' | 'custom';

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

/** Placeholder widened by the JWT method; only api-key exists for now. */
export type AuthRecord = ApiKeyAuth;
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
}

export interface RouteRecord {
  readonly route: string;
  /** Names of the consumers admitted on this route. */
  readonly consumers: readonly string[];
  readonly updatedAt: string;
}

export type ApiKeyView = Omit<ApiKeyRecord, 'hash'>;

export interface ConsumerView {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  auth: { type: 'api-key'; source: CredentialSource; keys: ApiKeyView[] };
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
    auth: {
      type: rec.auth.type,
      source: rec.auth.source,
      keys: rec.auth.keys.map(keyView),
    },
  };
}

export function keyView(k: ApiKeyRecord): ApiKeyView {
  return { id: k.id, hint: k.hint, generation: k.generation, createdAt: k.createdAt, expiresAt: k.expiresAt };
}

/** All key hashes a record owns (the store keeps them unique across consumers). */
export function credentialHashes(rec: ConsumerRecord): string[] {
  return rec.auth.keys.map((k) => k.hash);
}

/** A stable string naming a credential source, e.g. `header:x-api-key`. */
export function sourceKey(s: CredentialSource): string {
  return s.in === 'bearer' ? 'bearer' : `${s.in}:${s.name}`;
}
