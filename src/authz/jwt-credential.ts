/**
 * The JWT resolver: a value found at a JWT location becomes the key entry of
 * the one consumer whose keys verify it. From the verified-token cache when
 * this exact token was verified for the current version of its consumer and
 * has not expired; otherwise decoded (untrusted) to find the one candidate
 * consumer by its identity claim, then verified with that consumer's keys only
 * (jwt.ts). Synchronous unless a signature has to be checked.
 */
import type { ConsumerReplica, CredentialEntry, JwtConsumer, JwtSource } from '../replica/consumer-replica.js';
import { cookieWithout } from './cookies.js';
import type { Match, Resolved } from './credential-match.js';
import { NO_STRIP, type Strip } from './decision.js';
import { claimHeaders, decodeUntrusted, MAX_TOKEN_LENGTH, stringClaim, verifyWithConsumer, type ClaimHeaderValue } from './jwt.js';
import type { AuthzRequest } from './request.js';
import { DEFAULT_TOKEN_CACHE_SIZE, TokenCache, tokenHash } from './token-cache.js';

/** The kind of place a JWT is read from (TokenLocation's `in`). */
export type JwtLocationKind = 'header' | 'query' | 'cookie';

export interface JwtResolverOptions {
  replica: ConsumerReplica;
  /** Clock in epoch ms. */
  now: () => number;
  /** Verified-token cache entries (default 10000; 0 turns the cache off). */
  tokenCacheSize?: number;
}

export class JwtResolver {
  readonly #replica: ConsumerReplica;
  readonly #now: () => number;
  readonly #cache: TokenCache;
  /** Signature verifications made (a cached token makes none). */
  readonly stats = { signatureChecks: 0 };

  constructor(opts: JwtResolverOptions) {
    this.#replica = opts.replica;
    this.#now = opts.now;
    this.#cache = new TokenCache(opts.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE);
    this.#replica.onConsumerChange((name) => this.#cache.dropConsumer(name));
  }

  /** Verified tokens currently cached. */
  get cachedTokens(): number {
    return this.#cache.size;
  }

  /** A value `raw` read from JWT source `src` of kind `kind` (prefix still on it). */
  resolve(kind: JwtLocationKind, src: JwtSource, raw: string, req: AuthzRequest): Resolved | Promise<Resolved> {
    let prefix: string | undefined;
    for (const p of src.prefixes) {
      if (raw.length >= p.length && (p.length === 0 || raw.slice(0, p.length).toLowerCase() === p)) {
        prefix = p;
        break;
      }
    }
    if (prefix === undefined) return 'invalid';
    const token = raw.slice(prefix.length);
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return 'invalid';
    const locationKey = `${kind}:${src.name}:${prefix}`;
    const dir = this.#replica;
    const now = this.#now();

    const hash = tokenHash(token);
    const hit = this.#cache.get(hash);
    if (hit) {
      if (dir.consumer(hit.consumer.record.name) !== hit.consumer || now >= hit.expMs) {
        this.#cache.delete(hash); // stale: decided afresh below
      } else if (hit.consumer.locationKey !== locationKey) {
        return 'invalid';
      } else {
        return jwtMatch(hit.consumer, hit.key, hit.headers, req);
      }
    }

    const t = decodeUntrusted(token);
    if (!t) return 'invalid';
    let candidate: JwtConsumer | undefined;
    for (const claim of dir.identityClaims) {
      const value = stringClaim(t.payload, claim);
      if (value === undefined) continue;
      const c = dir.byIdentity(claim, value);
      if (!c) continue;
      if (c.locationKey !== locationKey) return 'invalid'; // found where its consumer does not read it
      if (candidate && candidate !== c) return 'invalid'; // names two consumers: refuse rather than pick
      candidate = c;
    }
    if (!candidate) return 'unknown';
    const consumer = candidate;
    return verifyWithConsumer(token, t, consumer, now, this.stats).then((out): Resolved => {
      if (typeof out === 'string') return out;
      const headers = claimHeaders(t.payload, consumer.auth);
      if (dir.consumer(consumer.record.name) === consumer) {
        this.#cache.set(hash, { consumer, key: out.key, expMs: out.expMs, headers });
      }
      return jwtMatch(consumer, out.key, headers, req);
    });
  }
}

/** The match of a verified token: its key, and what to strip given where the consumer reads it. */
function jwtMatch(consumer: JwtConsumer, entry: CredentialEntry, headers: readonly ClaimHeaderValue[], req: AuthzRequest): Match {
  const t = consumer.auth.token;
  let strip: Strip;
  if (t.passthrough) strip = NO_STRIP;
  else if (t.in === 'header') strip = { header: t.name };
  else if (t.in === 'query') strip = { query: t.name };
  else strip = { cookie: t.name, rest: cookieWithout(req.headers.cookie ?? '', t.name) };
  return { entry, strip, expiresAtMs: Infinity, headers, jwt: consumer };
}
