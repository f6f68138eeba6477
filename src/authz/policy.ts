/**
 * The policy phase: whether an identified credential may pass. In order: the
 * credential unexpired, the consumer enabled, the route's grants admitting it
 * and the grant not expired. A refusal names the consumer (for logs and
 * metrics); undefined means the policy admits it.
 *
 * The route is the one route-naming.ts named for the request (its
 * context_extensions.route, or what the match rules say when it has none).
 */
import type { ConsumerReplica } from '../replica/consumer-replica.js';
import type { Match } from './credential-match.js';
import { denyConsumer, type Deny } from './decision.js';

/** The denial of `match` by policy, or undefined when the policy admits it. */
export function policyDenial(match: Match, route: string, dir: ConsumerReplica, now: () => number): Deny | undefined {
  const consumer = match.entry.consumer.record;
  if (now() >= match.expiresAtMs) return denyConsumer('expired_credential', consumer);
  if (!consumer.enabled) return denyConsumer('consumer_disabled', consumer);
  if (route !== '') {
    const granted = dir.grants(route);
    if (granted && !granted.has(consumer.name)) return denyConsumer('route_forbidden', consumer);
    const grantEnds = granted && dir.grantExpiresAt(route, consumer.name);
    if (grantEnds !== undefined && now() >= grantEnds) return denyConsumer('grant_expired', consumer);
  }
  return undefined;
}

