/**
 * The route a Check is judged on. Envoy names it in
 * `context_extensions.route`; where the proxy cannot (Istio's CUSTOM action
 * sends no context extensions), the route is named from the request's host
 * (`:authority`), path and method by the routes' match rules, compiled by the
 * replica (`ConsumerReplica.routeMatcher`) once per change.
 *
 *   no extension   the matcher names the route; no rule matches: route ''
 *                  (no grant applies, as before match rules existed);
 *   extension      it wins (`ROUTE_MISMATCH=extension`, the default), or
 *                  (`deny`) it must equal what the matcher names (none: ''),
 *                  else 403 route_mismatch.
 *
 * Whenever the matcher would be asked and a rule could apply to the host, a
 * path not in normal form (route-match.ts `pathProblem`), a path matching a
 * route's literal only by ignoring case, or a host that is not a plain name
 * is denied 400 path_not_normal: matched as it is, it could land in a looser
 * route than the one whose resource the upstream serves. With no rule for the
 * host nothing is matched, so nothing is refused.
 *
 * Synchronous and allocation-free: a Check on a matched route costs one map
 * get for the host and one pass over the path (`RouteMatcher.name`).
 */
import { HOST_NOT_COVERED, type RouteMatcher } from '../consumers/route-matcher.js';
import type { ConsumerReplica } from '../replica/consumer-replica.js';
import { deny, type Deny } from './decision.js';
import type { AuthzRequest } from './request.js';

/** What a `context_extensions.route` that disagrees with the match rules gets (ROUTE_MISMATCH). */
export type RouteMismatchMode = 'extension' | 'deny';

export class RouteNaming {
  readonly #replica: Pick<ConsumerReplica, 'routeMatcher'>;
  readonly #mismatch: RouteMismatchMode;

  constructor(replica: Pick<ConsumerReplica, 'routeMatcher'>, mismatch: RouteMismatchMode = 'extension') {
    this.#replica = replica;
    this.#mismatch = mismatch;
  }

  /** The route `req` is judged on ('' for none), or the denial when it cannot be named safely. */
  name(req: AuthzRequest): string | Deny {
    if (req.route !== '' && this.#mismatch === 'extension') return req.route;
    const named = this.#match(req, this.#replica.routeMatcher);
    if (req.route === '' || typeof named !== 'string') return named;
    return named === req.route ? named : deny('route_mismatch');
  }

  #match(req: AuthzRequest, matcher: RouteMatcher): string | Deny {
    if (matcher.size === 0) return '';
    const host = req.headers[':authority'] ?? req.headers.host ?? '';
    const r = matcher.name(host, req.method, req.path);
    if (typeof r === 'string') return r;
    // PATH_NOT_NORMAL, CASE_MISMATCH, BAD_HOST: refused, never matched loosely.
    return r === undefined || r === HOST_NOT_COVERED ? '' : deny('path_not_normal');
  }
}
