/**
 * Check's core. A request walks three phases:
 *   identity      find the credential(s) in the request and resolve them
 *                 against the in-process ConsumerReplica: API keys by hash, JWTs by
 *                 their identity claim, then a signature check with that one
 *                 consumer's keys (skipped when the token is in the cache);
 *   authorization the consumer must be enabled, its key unexpired, and the
 *                 route must admit it;
 *   response      a Decision value the gRPC edge turns into Envoy's answer.
 * No network, no logging, no exceptions for a refusal.
 *
 * `check` answers synchronously when no signature has to be verified (API
 * keys, cached tokens, every refusal decided before crypto) and with a
 * promise otherwise.
 *
 * Where API-key and JWT consumers read the same header or query parameter, a
 * value shaped like a JWS (`eyJ…` with a dot, after an optional scheme word)
 * is taken as a JWT and anything else as an API key.
 *
 * One rule for several credentials: every place some consumer reads (and
 * `Authorization` always) is looked at, and whatever is found there is a
 * credential. An allow needs every credential found to resolve to the same
 * credential of the same consumer; anything else found beside it — malformed,
 * unknown, expired, another consumer's, or the right key in the wrong place —
 * denies the request (invalid_credential). Since a key or token resolves only
 * where its consumer reads it, an allowed request carries exactly one
 * credential, the one its strip instruction removes (a passthrough JWT is
 * left in place by choice), so no other credential reaches the upstream.
 *
 * One rule for what a credential value is: exactly the key, byte for byte.
 * Header values are not trimmed; a key is 1-512 printable ASCII characters
 * without space or comma, so a value with spaces, tabs, CR/LF, a BOM or any
 * other character around or inside it is malformed (invalid_credential).
 * `Authorization` must be `Bearer` (any case), exactly one space, the key,
 * nothing after it (Envoy has already removed the optional whitespace HTTP
 * allows around a field value). Query parameter names are compared literally
 * (see queryValues), the same literal name the strip instruction removes.
 */
import { isMalformedSystemKey, keyDigest, MAX_KEY_LENGTH } from '../consumers/api-keys.js';
import type { CredentialEntry, ConsumerReplica, JwtConsumer, JwtSource, KeyEntry } from '../replica/consumer-replica.js';
import { cookieValues, cookieWithout } from './cookies.js';
import { deny, denyConsumer, NO_STRIP, type Decision, type Strip } from './decision.js';
import {
  claimHeaders,
  decodeUntrusted,
  MAX_TOKEN_LENGTH,
  stringClaim,
  verifyWithConsumer,
  type ClaimHeaderValue,
} from './jwt.js';
import { queryValues, UNUSABLE, type AuthzRequest } from './request.js';
import { RouteNaming, type RouteMismatchMode } from './route-naming.js';
import { DEFAULT_TOKEN_CACHE_SIZE, TokenCache, tokenHash } from './token-cache.js';

export interface AuthorizerOptions {
  replica: ConsumerReplica;
  /** Clock in epoch ms (injectable for tests). */
  now?: () => number;
  /** Verified-token cache entries (default 10000; 0 turns the cache off). */
  tokenCacheSize?: number;
  /** A context_extensions.route the match rules disagree with: wins (default) or is denied (route-naming.ts). */
  routeMismatch?: RouteMismatchMode;
}

interface Match {
  readonly entry: CredentialEntry;
  readonly strip: Strip;
  /** Epoch ms after which the credential is refused (API keys; JWT expiry is checked while resolving). */
  readonly expiresAtMs: number;
  readonly headers?: readonly ClaimHeaderValue[];
  /** The JWT consumer version the match was made against; re-checked after an await. */
  readonly jwt?: JwtConsumer;
}

/** What one credential found in the request resolved to. */
type Resolved = Match | 'invalid' | 'unknown' | 'expired';

const BEARER = /^Bearer ([\x21-\x2b\x2d-\x7e]+)$/i;
/** What an API key can be made of (see customKeyProblem; system keys are a subset). */
const KEY_CHARS = /^[\x21-\x2b\x2d-\x7e]+$/;

/** Where an API key was read: the consumer's source key it must match, and what to strip. */
interface KeySource {
  readonly key: string;
  readonly strip: Strip;
}

const BEARER_SOURCE: KeySource = { key: 'bearer', strip: { header: 'authorization' } };
/** Bound on the per-name source cache (names come from consumers, not from requests). */
const MAX_CACHED_SOURCES = 4096;
/** A JWS-shaped value, optionally after one scheme word (`Bearer eyJ…`). */
const JWS_VALUE = /^(?:[!-~]+ +)?eyJ[A-Za-z0-9_-]*\./;

export class Authorizer {
  readonly #replica: ConsumerReplica;
  readonly #now: () => number;
  readonly #cache: TokenCache;
  readonly #headerSources = new Map<string, KeySource>();
  readonly #querySources = new Map<string, KeySource>();
  readonly #routes: RouteNaming;

  constructor(opts: AuthorizerOptions) {
    this.#replica = opts.replica;
    this.#now = opts.now ?? Date.now;
    this.#cache = new TokenCache(opts.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE);
    this.#routes = new RouteNaming(opts.replica, opts.routeMismatch);
    this.#replica.onConsumerChange((name) => this.#cache.dropConsumer(name));
  }

  /** Verified tokens currently cached (for tests and metrics). */
  /** Signature verifications made (a cached token makes none); read by tests and metrics. */
  readonly stats = { signatureChecks: 0 };

  get cachedTokens(): number {
    return this.#cache.size;
  }

  check(req: AuthzRequest): Decision | Promise<Decision> {
    return this.#check(req, true);
  }

  #check(req: AuthzRequest, retry: boolean): Decision | Promise<Decision> {
    const route = this.#routes.name(req);
    if (typeof route !== 'string') return route;
    const found: Array<Resolved | Promise<Resolved>> = [];
    const dir = this.#replica;

    // Identity, API keys: every source some consumer uses is looked at; a key
    // counts only when found where its own consumer reads it.
    // `Authorization` is always looked at, whether or not a consumer uses it
    // today: a bearer value nobody owns is an invalid credential, not a
    // missing one. A JWS-shaped value there belongs to the JWT pass below.
    const jwtHeaders = dir.jwtHeaders;
    const jwtQueries = dir.jwtQueries;
    const auth = req.headers.authorization;
    if (auth !== undefined && !(hasSource(jwtHeaders, 'authorization') && JWS_VALUE.test(auth))) {
      const m = BEARER.exec(auth);
      found.push(m ? this.#resolveKey(m[1] as string, BEARER_SOURCE) : 'invalid');
    }
    for (const name of dir.headerNames) {
      const v = req.headers[name];
      if (v === undefined || (hasSource(jwtHeaders, name) && JWS_VALUE.test(v))) continue;
      found.push(this.#resolveKey(v, this.#source('header', name)));
    }
    const hasQuery = req.path.includes('?');
    if (hasQuery) {
      for (const name of dir.queryNames) {
        const vs = queryValues(req.path, name);
        if (vs === undefined) continue;
        if (vs === UNUSABLE) {
          found.push('invalid');
          continue;
        }
        if (vs.length === 1 && hasSource(jwtQueries, name) && JWS_VALUE.test(vs[0] as string)) continue;
        found.push(vs.length === 1 ? this.#resolveKey(vs[0] as string, this.#source('query', name)) : 'invalid');
      }
    }

    // Identity, JWTs.
    for (const src of jwtHeaders) {
      const v = req.headers[src.name];
      if (v === undefined) continue;
      const apiReads = src.name === 'authorization' || dir.headerNames.includes(src.name);
      if (apiReads && !JWS_VALUE.test(v)) continue; // an API key: resolved above
      found.push(this.#resolveJwt('header', src, v, req));
    }
    if (hasQuery) {
      for (const src of jwtQueries) {
        const vs = queryValues(req.path, src.name);
        if (vs === undefined) continue;
        if (vs === UNUSABLE || vs.length !== 1) {
          found.push('invalid');
          continue;
        }
        if (dir.queryNames.includes(src.name) && !JWS_VALUE.test(vs[0] as string)) continue;
        found.push(this.#resolveJwt('query', src, vs[0] as string, req));
      }
    }
    const cookieHeader = dir.jwtCookies.length > 0 ? req.headers.cookie : undefined;
    if (cookieHeader !== undefined) {
      for (const src of dir.jwtCookies) {
        const vs = cookieValues(cookieHeader, src.name);
        if (vs === undefined) continue;
        found.push(vs.length === 1 ? this.#resolveJwt('cookie', src, vs[0] as string, req) : 'invalid');
      }
    }

    if (!found.some((r) => r instanceof Promise)) return this.#decide(req, route, found as Resolved[], retry);
    return Promise.all(found).then((all) => this.#decide(req, route, all, retry));
  }

  #decide(req: AuthzRequest, route: string, results: Resolved[], retry: boolean): Decision | Promise<Decision> {
    const dir = this.#replica;
    let match: Match | undefined;
    let invalid = false;
    let unknown = false;
    let expired = false;
    for (const r of results) {
      if (r === 'invalid') invalid = true;
      else if (r === 'unknown') unknown = true;
      else if (r === 'expired') expired = true;
      else if (match && match.entry !== r.entry) invalid = true; // two different credentials: ambiguous
      else match = r;
    }

    if (results.length === 0) return dir.authoritative ? deny('missing_credential') : deny('authz_unavailable');
    if (!match || invalid) {
      if (!match && !invalid && !unknown && expired) return deny('expired_credential');
      // Not in the replica: definite only when the replica is in step with the store.
      if (!match && unknown && !dir.authoritative) return deny('authz_unavailable');
      return deny('invalid_credential');
    }
    // A good credential beside an expired or unknown one: ambiguous (see the rule at the top).
    if (expired || unknown) return deny('invalid_credential');

    // A JWT verified while the consumer changed (disabled, key removed…) is
    // judged again against the current version.
    if (match.jwt && dir.consumer(match.jwt.record.name) !== match.jwt) {
      return retry ? this.#check(req, false) : deny('authz_unavailable');
    }

    // Authorization.
    const { entry } = match;
    const consumer = entry.consumer.record;
    if (this.#now() >= match.expiresAtMs) return denyConsumer('expired_credential', consumer);
    if (!consumer.enabled) return denyConsumer('consumer_disabled', consumer);
    if (route !== '') {
      const granted = dir.grants(route);
      if (granted && !granted.has(consumer.name)) return denyConsumer('route_forbidden', consumer);
      const grantEnds = granted && dir.grantExpiresAt(route, consumer.name);
      if (grantEnds !== undefined && this.#now() >= grantEnds) return denyConsumer('grant_expired', consumer);
    }
    // Allow only from a replica confirmed in step within MAX_STALENESS_MS.
    if (!dir.isFresh()) return deny('authz_unavailable');
    return match.headers && match.headers.length > 0
      ? { allow: true, entry, strip: match.strip, headers: match.headers }
      : { allow: true, entry, strip: match.strip };
  }

  /**
   * The source key and strip instruction of a header or query source, made
   * once per name (a per-request template string and object were the only
   * allocations of an API-key Check besides the match itself).
   */
  #source(kind: 'header' | 'query', name: string): KeySource {
    const cache = kind === 'header' ? this.#headerSources : this.#querySources;
    let s = cache.get(name);
    if (!s) {
      s = { key: `${kind}:${name}`, strip: kind === 'header' ? { header: name } : { query: name } };
      if (cache.size >= MAX_CACHED_SOURCES) cache.clear();
      cache.set(name, s);
    }
    return s;
  }

  #resolveKey(value: string, source: KeySource): Resolved {
    if (value.length === 0 || value.length > MAX_KEY_LENGTH || !KEY_CHARS.test(value)) return 'invalid';
    if (isMalformedSystemKey(value)) return 'invalid';
    const entry: KeyEntry | undefined = this.#replica.byKeyDigest(keyDigest(value));
    if (!entry) return 'unknown';
    if (entry.consumer.sourceKey !== source.key) return 'invalid';
    return { entry, strip: source.strip, expiresAtMs: entry.expiresAtMs };
  }

  /**
   * A token found at a JWT location: from the cache when this exact token was
   * verified for the current version of its consumer and has not expired;
   * otherwise decoded (untrusted) to find the one candidate consumer by its
   * identity claim, then verified with that consumer's keys only.
   */
  #resolveJwt(kind: 'header' | 'query' | 'cookie', src: JwtSource, raw: string, req: AuthzRequest): Resolved | Promise<Resolved> {
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
        return this.#jwtMatch(hit.consumer, hit.key, hit.headers, req);
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
      return this.#jwtMatch(consumer, out.key, headers, req);
    });
  }

  #jwtMatch(consumer: JwtConsumer, entry: CredentialEntry, headers: readonly ClaimHeaderValue[], req: AuthzRequest): Match {
    const t = consumer.auth.token;
    let strip: Strip;
    if (t.passthrough) strip = NO_STRIP;
    else if (t.in === 'header') strip = { header: t.name };
    else if (t.in === 'query') strip = { query: t.name };
    else strip = { cookie: t.name, rest: cookieWithout(req.headers.cookie ?? '', t.name) };
    return { entry, strip, expiresAtMs: Infinity, headers, jwt: consumer };
  }
}

function hasSource(sources: readonly JwtSource[], name: string): boolean {
  for (const s of sources) if (s.name === name) return true;
  return false;
}
