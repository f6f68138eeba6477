/**
 * Check's core. A request walks named phases:
 *   credentials   find the credential(s) in the request (find-credentials.ts)
 *                 and resolve them against the in-process ConsumerReplica: API
 *                 keys by hash (api-key-credential.ts), JWTs by their identity
 *                 claim, then a signature check with that one consumer's keys,
 *                 skipped when the token is in the cache (jwt-credential.ts);
 *   decision      the credentials found must agree on one (below, `#decide`);
 *   policy        the credential unexpired, the consumer enabled, the route
 *                 admitting it (policy.ts);
 *   answer        a Decision value the gRPC edge turns into Envoy's answer.
 * No network, no logging, no exceptions for a refusal.
 *
 * `check` answers synchronously when no signature has to be verified (API
 * keys, cached tokens, every refusal decided before crypto) and with a
 * promise otherwise.
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
 */
import type { ConsumerReplica } from '../replica/consumer-replica.js';
import { ApiKeyResolver } from './api-key-credential.js';
import type { Match, Resolved } from './credential-match.js';
import type { Limiter, LimitVerdict } from '../limits/limiter.js';
import type { ConsumerIdentity } from '../replica/consumer-replica.js';
import { deny, denyConsumer, type Allow, type Decision } from './decision.js';
import { findCredentials } from './find-credentials.js';
import { identityOf } from './identity.js';
import { JwtResolver } from './jwt-credential.js';
import { policyDenial } from './policy.js';
import type { AuthzRequest } from './request.js';
import { RouteNaming, type RouteMismatchMode } from './route-naming.js';

export interface AuthorizerOptions {
  replica: ConsumerReplica;
  /** Clock in epoch ms (injectable for tests). */
  now?: () => number;
  /** Verified-token cache entries (default 10000; 0 turns the cache off). */
  tokenCacheSize?: number;
  /** A context_extensions.route the match rules disagree with: wins (default) or is denied (route-naming.ts). */
  routeMismatch?: RouteMismatchMode;
  /** Spends the rate limits and quotas of consumers that have them; none: limits are not enforced. */
  limiter?: Limiter;
}

export class Authorizer {
  readonly #replica: ConsumerReplica;
  readonly #now: () => number;
  readonly #keys: ApiKeyResolver;
  readonly #jwts: JwtResolver;
  readonly #limiter: Limiter | undefined;
  /** Signature verifications made (a cached token makes none); read by tests and metrics. */
  readonly stats: { readonly signatureChecks: number };

  readonly #routes: RouteNaming;

  constructor(opts: AuthorizerOptions) {
    this.#replica = opts.replica;
    this.#now = opts.now ?? Date.now;
    this.#routes = new RouteNaming(opts.replica, opts.routeMismatch);
    this.#keys = new ApiKeyResolver(this.#replica);
    this.#limiter = opts.limiter;
    this.#jwts = new JwtResolver({ replica: this.#replica, now: this.#now, tokenCacheSize: opts.tokenCacheSize });
    this.stats = this.#jwts.stats;
  }

  /** Verified tokens currently cached (for tests and metrics). */
  get cachedTokens(): number {
    return this.#jwts.cachedTokens;
  }

  check(req: AuthzRequest): Decision | Promise<Decision> {
    return this.#check(req, true);
  }

  #check(req: AuthzRequest, retry: boolean): Decision | Promise<Decision> {
    const route = this.#routes.name(req);
    if (typeof route !== 'string') return route;
    const found = findCredentials(req, this.#replica, this.#keys, this.#jwts);
    if (!anyPending(found)) return this.#decide(req, route, found as Resolved[], retry);
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

    const refused = policyDenial(match, route, dir, this.#now);
    // A route the rules named rides along for the log (the request's route field is the extension's).
    if (refused) return route === req.route ? refused : { ...refused, route };
    // Allow only from a replica confirmed in step within MAX_STALENESS_MS.
    if (!dir.isFresh()) return deny('authz_unavailable');
    const identity = identityOf(match.entry);
    const { strip, headers } = match;
    const allow: Allow = headers && headers.length > 0 ? { allow: true, identity, strip, headers, route } : { allow: true, identity, strip, route };
    // Limits last: only a request every other step admits spends budget.
    const consumer = match.entry.consumer.record;
    const limits = this.#limiter && dir.limitsOf(consumer.name);
    if (!limits) return allow;
    const verdict = (this.#limiter as Limiter).admit(consumer.id, limits, route);
    return verdict instanceof Promise ? verdict.then((v) => limited(allow, v, consumer)) : limited(allow, verdict, consumer);
  }
}

/** The allow as the limits' verdict leaves it: refused (429, or 503 when they cannot be checked), or with their headers. */
function limited(allow: Allow, v: LimitVerdict, consumer: ConsumerIdentity): Decision {
  if (v.refused === undefined) return v.headers.length === 0 ? allow : { ...allow, responseHeaders: v.headers };
  const reason = v.refused === 'limits_unavailable' ? 'authz_unavailable' : v.refused;
  return { ...denyConsumer(reason, consumer), headers: v.headers, ...(allow.route ? { route: allow.route } : {}) };
}

/** Whether a signature check is still pending (a loop, not `some` with a closure, on the hot path). */
function anyPending(found: ReadonlyArray<Resolved | Promise<Resolved>>): boolean {
  for (const r of found) if (r instanceof Promise) return true;
  return false;
}
