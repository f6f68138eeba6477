/**
 * What an allow says about who: the consumer and the credential an allowed
 * request was identified by, as the answer's headers, its dynamic metadata,
 * metrics and logs need it. The gRPC edge reads only this of an allow, never
 * the replica's entries.
 *
 * Built once per credential: the first allow of a replica entry (an API key,
 * or the JWT key that verified a token) makes its Identity, kept in a WeakMap
 * keyed by that entry. The replica makes new entries for every record version
 * and drops the old ones, so an Identity never outlives what it describes, and
 * the answer cache of the edge, keyed by Identity, goes with it.
 */
import type { AuthType } from '../consumers/model.js';
import type { CredentialEntry } from '../replica/consumer-replica.js';

export interface Identity {
  /** The consumer's id (`x-consumer-id`). */
  readonly consumerId: string;
  /** The consumer's name (`x-consumer-name`, `x-mse-consumer`). */
  readonly consumerName: string;
  /** The API key's id, or the `kid` of the JWT key that verified the token (`x-credential-id`). */
  readonly credentialId: string;
  readonly authType: AuthType;
}

const identities = new WeakMap<CredentialEntry, Identity>();

/** The Identity of a replica credential entry, made on first use and then kept. */
export function identityOf(entry: CredentialEntry): Identity {
  let id = identities.get(entry);
  if (id === undefined) {
    const c = entry.consumer.record;
    id = Object.freeze({ consumerId: c.id, consumerName: c.name, credentialId: entry.credentialId, authType: c.auth.type });
    identities.set(entry, id);
  }
  return id;
}
