/**
 * What one credential found in a request resolved to, the value the
 * credential phase hands the decision: a match (the credential, what to
 * strip, when it expires) or why it did not match.
 */
import type { CredentialEntry, JwtConsumer } from '../replica/consumer-replica.js';
import type { Strip } from './decision.js';
import type { ClaimHeaderValue } from './jwt.js';

/** A credential that resolved to a consumer's credential. */
export interface Match {
  readonly entry: CredentialEntry;
  readonly strip: Strip;
  /** Epoch ms after which the credential is refused (API keys; JWT expiry is checked while resolving). */
  readonly expiresAtMs: number;
  readonly headers?: readonly ClaimHeaderValue[];
  /** The JWT consumer version the match was made against; re-checked after an await. */
  readonly jwt?: JwtConsumer;
}

/**
 * A match, or: `invalid` (malformed, or found where its consumer does not read
 * it), `unknown` (well-formed, not in the replica), `expired`.
 */
export type Resolved = Match | 'invalid' | 'unknown' | 'expired';
