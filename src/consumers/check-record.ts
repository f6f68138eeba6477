/**
 * The Check-only form of a consumer: what the replica indexes and nothing
 * else (no description, no creation dates, no key hints). Both stores write it
 * in the same atomic step as the full record; the replica loads it instead of
 * the full record, which stays the source for the admin API.
 *
 * The form is a flat JSON array, chosen because `JSON.parse` of an array of
 * scalars is the cheapest parse V8 offers for this data (no key strings to
 * intern per object) and a flat array needs no escaping rules of its own:
 *
 *   API key  [rev, 1, id, name, enabled, updatedAtMs, sourceKey, keyId, hash, expiresAtMs, keyId, hash, …, limits?]
 *   JWT      [rev, 2, id, name, enabled, updatedAtMs, version, auth, limits?]
 *
 * `rev` is the store revision of the write that made it (in Redis the script
 * puts it in front, so a reader can tell a compact record left behind by a
 * writer that did not update it: its revision is older than the consumer's
 * change-log entry). `enabled` is 1 or 0, `hash` the key's SHA-256 in hex,
 * `expiresAtMs` 0 for a key that never expires, `sourceKey` as `sourceKey()`
 * spells it (`bearer`, `header:<name>`, `query:<name>`). `auth` is the JWT
 * record's auth as stored (public JWKs, the HS256 secret sealed when a KEK is
 * configured), so key material is in its stored form, never an imported key.
 * `limits` (an object, last) is there only for a consumer that has limits: a
 * reader that predates it finds an API-key record whose length is not 7 plus
 * key triples and falls back to the full record; a JWT record's extra element
 * it ignores.
 */
import { sourceKey, type ConsumerLimits, type ConsumerRecord, type CredentialSource, type JwtAuth } from './model.js';

/** Kind tags (index 1). */
export const API_KEY_CHECK = 1;
export const JWT_CHECK = 2;

/** Index of the first key triple in an API-key check record. */
export const API_KEY_FIRST_KEY = 7;

export type ApiKeyCheck = readonly [
  rev: number,
  kind: typeof API_KEY_CHECK,
  id: string,
  name: string,
  enabled: 0 | 1,
  updatedAtMs: number,
  sourceKey: string,
  ...keys: Array<string | number>,
];

export type JwtCheck = readonly [
  rev: number,
  kind: typeof JWT_CHECK,
  id: string,
  name: string,
  enabled: 0 | 1,
  updatedAtMs: number,
  version: number,
  auth: JwtAuth,
  limits?: ConsumerLimits,
];

export type CheckRecord = ApiKeyCheck | JwtCheck;

/** The check record of a full record, stamped with revision `rev`. */
export function toCheckRecord(rec: ConsumerRecord, rev = 0): CheckRecord {
  const head = [rev, rec.id, rec.name, rec.enabled ? 1 : 0, Date.parse(rec.updatedAt) || 0] as const;
  const a = rec.auth;
  if (a.type === 'jwt') {
    if (rec.limits) return [head[0], JWT_CHECK, head[1], head[2], head[3], head[4], rec.version, a, rec.limits];
    return [head[0], JWT_CHECK, head[1], head[2], head[3], head[4], rec.version, a];
  }
  const keys: Array<string | number | ConsumerLimits> = [];
  for (const k of a.keys) keys.push(k.id, k.hash, k.expiresAt ? Date.parse(k.expiresAt) : 0);
  if (rec.limits) keys.push(rec.limits);
  return [head[0], API_KEY_CHECK, head[1], head[2], head[3], head[4], sourceKey(a.source), ...keys] as unknown as ApiKeyCheck;
}

/**
 * The JSON of `rec`'s check record without its revision and opening bracket
 * (`1,"csm_…",…]`): the Redis scripts prepend `[<rev>,` once they know the
 * revision of the write.
 */
export function checkRecordTail(rec: ConsumerRecord): string {
  return JSON.stringify(toCheckRecord(rec)).slice(3);
}

/**
 * Parses a stored check record; undefined when the text is not one (the
 * reader then falls back to the full record, never guesses).
 */
export function parseCheckRecord(text: string): CheckRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || typeof v[0] !== 'number' || typeof v[2] !== 'string' || typeof v[3] !== 'string') return undefined;
  if (v[4] !== 0 && v[4] !== 1) return undefined;
  if (v[1] === API_KEY_CHECK) {
    const extra = (v.length - API_KEY_FIRST_KEY) % 3;
    if (typeof v[6] !== 'string' || v.length < API_KEY_FIRST_KEY + 3 || extra > 1) return undefined;
    if (extra === 1 && !isLimits(v[v.length - 1])) return undefined;
    return v as unknown as ApiKeyCheck;
  }
  if (v[1] === JWT_CHECK) {
    const auth = v[7] as JwtAuth | undefined;
    if (typeof v[6] !== 'number' || typeof auth !== 'object' || auth === null || auth.type !== 'jwt') return undefined;
    if (v.length > 9 || (v.length === 9 && !isLimits(v[8]))) return undefined;
    return v as unknown as JwtCheck;
  }
  return undefined;
}

function isLimits(v: unknown): v is ConsumerLimits {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How many API keys an API-key check record holds. */
export function apiKeyCount(c: ApiKeyCheck): number {
  return Math.floor((c.length - API_KEY_FIRST_KEY) / 3);
}

/** The limits a check record carries, or undefined. */
export function checkRecordLimits(c: CheckRecord): ConsumerLimits | undefined {
  if (c[1] === JWT_CHECK) return c[8];
  return (c.length - API_KEY_FIRST_KEY) % 3 === 1 ? ((c as readonly unknown[])[c.length - 1] as ConsumerLimits) : undefined;
}

/** The revision a check record was written at. */
export function checkRecordRev(c: CheckRecord): number {
  return c[0];
}

/** The credential source a `sourceKey()` string names. */
export function sourceOfKey(key: string): CredentialSource {
  if (key === 'bearer') return { in: 'bearer' };
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon);
  const name = key.slice(colon + 1);
  if (colon > 0 && (kind === 'header' || kind === 'query')) return { in: kind, name };
  throw new Error(`not a credential source key: ${JSON.stringify(key)}`);
}
