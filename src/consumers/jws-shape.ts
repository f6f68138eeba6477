/**
 * The one rule for "is this credential value shaped like a JWS": a compact
 * JWS starts with its base64url-encoded JSON header (`{"` encodes to `eyJ`),
 * and the header ends at the first dot; one scheme word and spaces may come
 * before it (`Bearer eyJ…`).
 *
 * Where API-key and JWT consumers read the same header or query parameter,
 * the authorizer takes a value of this shape as a JWT and anything else as an
 * API key; so a custom API key of this shape is refused at creation (it could
 * never be found), and the CLI's explanation names the shape. The shape says
 * nothing about validity: a JWS-shaped value is then decoded and verified.
 */

const JWS_SHAPE = /^(?:[!-~]+ +)?eyJ[A-Za-z0-9_-]*\./;

/** True when `value` (a key, a token, or a header value with a scheme word) is shaped like a JWS. */
export function isJwsShaped(value: string): boolean {
  return JWS_SHAPE.test(value);
}
