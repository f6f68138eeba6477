/**
 * The policy phase: whether an identified credential may pass. In order: the
 * credential unexpired, the consumer enabled, the route's grants admitting it
 * and the grant not expired. A refusal names the consumer (for logs and
 * metrics); undefined means the policy admits it.
 *
 * The route is read in one place (`routeOf`), so a step that names the route
 * of a request without `context_extensions.route` has one spot to go.
 */
import type { ConsumerReplica } from '../replica/consumer-replica.js';
import type { Match } from './credential-match.js';
import { denyConsumer, type Deny } from './decision.js';
import type { AuthzRequest } from './request.js';

/** The denial of `match` by policy, or undefined when the policy admits it. */
export function policyDenial(match: Match, req: AuthzRequest, dir: ConsumerReplica, now: () => number): Deny | undefined {
  const consumer = match.entry.consumer.record;
  if (now() >= match.expiresAtMs) return denyConsumer('expired_credential', consumer);
  if (!consumer.enabled) return denyConsumer('consumer_disabled', consumer);
  const route = routeOf(req);
  if (route !== '') {
    const granted = dir.grants(route);
    if (granted && !granted.has(consumer.name)) return denyConsumer('route_forbidden', consumer);
    const grantEnds = granted && dir.grantExpiresAt(route, consumer.name);
    if (grantEnds !== undefined && now() >= grantEnds) return denyConsumer('grant_expired', consumer);
  }
  return undefined;
}

/** The route a request is judged on; empty when it is unnamed (then no grant applies). */
function routeOf(req: AuthzRequest): string {
  return req.route;
}
