/**
 * A Check decision is a value: allow (with who and what to strip) or deny
 * (with a stable reason). An exception from the authorizer means the service
 * failed, never that the caller was refused.
 */
import type { Identity } from './identity.js';
import type { HeaderPair } from '../limits/limiter.js';
import type { ClaimHeaderValue } from './jwt.js';
import { REASONS, type Reason } from './reasons.js';

/**
 * What the edge removes so the credential does not reach the upstream:
 * a header, a query parameter, one cookie (`rest` is the cookie header
 * without it, or undefined when it was the only cookie: remove the header),
 * or nothing (a JWT consumer with passthrough on).
 */
export type Strip =
  | { readonly header: string }
  | { readonly query: string }
  | { readonly cookie: string; readonly rest: string | undefined }
  | { readonly none: true };

export const NO_STRIP: Strip = Object.freeze({ none: true });

export interface Allow {
  readonly allow: true;
  /** Who: the consumer and credential, built once per credential (identity.ts). */
  readonly identity: Identity;
  readonly strip: Strip;
  /** Claims-to-headers values (JWT); a value of undefined removes the header. */
  readonly headers?: readonly ClaimHeaderValue[];
  /** Headers for the client's response (RateLimit, when the consumer's limits ask for them). */
  readonly responseHeaders?: readonly HeaderPair[];
  /** The route the request was judged on ('' none): `context_extensions.route` or the one match rules named (for logs). */
  readonly route?: string;
}

export interface Deny {
  readonly allow: false;
  readonly reason: Reason;
  readonly message: string;
  /** The consumer the denial concerns, when one was identified (for logs and metrics only). */
  readonly consumer?: string;
  /** That consumer's auth type. */
  readonly authType?: string;
  /** Headers of the denied response beyond the reason's own (a 429's Retry-After and RateLimit). */
  readonly headers?: readonly HeaderPair[];
  /** The route the policy refused on, when match rules named it (not `context_extensions.route`); for logs. */
  readonly route?: string;
}

export type Decision = Allow | Deny;

const DENIALS = Object.fromEntries(
  Object.entries(REASONS).map(([reason, info]) => [reason, Object.freeze({ allow: false, reason, message: info.message })]),
) as Record<Reason, Deny>;

/** The shared, frozen denial for a reason (no allocation per request). */
export function deny(reason: Reason): Deny {
  return DENIALS[reason];
}

/**
 * A denial of an identified consumer (disabled, expired, not granted): the
 * consumer's name and auth type ride along for logs and metrics. Allocates,
 * so only the denials that know their consumer use it.
 */
export function denyConsumer(reason: Reason, consumer: { readonly name: string; readonly auth: { readonly type: string } }): Deny {
  return { ...DENIALS[reason], consumer: consumer.name, authType: consumer.auth.type };
}
