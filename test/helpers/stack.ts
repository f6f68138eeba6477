/**
 * The in-process stack a Check runs on, without sockets: a store (the
 * embedded file store in memory unless one is given) → ConsumerService (the
 * admin API's writes) → ConsumerReplica (the replica) → Authorizer. `sync()` stands
 * in for the Replicator: it applies every store change made since the last
 * call, so a test decides exactly when the replica catches up.
 *
 * `authorizerOn` is the stack's lower half alone: a replica fed a change set
 * directly (records as a store hands them, valid or not) and an authorizer on
 * it, for tests that hold records no admin write would make.
 */
import { ConsumerService } from '../../src/admin/consumer-service.js';
import { Authorizer } from '../../src/authz/authorizer.js';
import { ConsumerReplica } from '../../src/replica/consumer-replica.js';
import { FileStore } from '../../src/store/file-store.js';
import type { ChangeSet, ConsumerStore } from '../../src/store/store.js';

export interface StackOptions {
  /** Default: an empty in-memory FileStore. */
  store?: ConsumerStore;
  /** The clock of the service and the authorizer (ms since the epoch); default Date.now. */
  now?: () => number;
  /** The authorizer's verified-token cache size (0 turns it off). */
  tokenCacheSize?: number;
}

export interface Stack {
  store: ConsumerStore;
  service: ConsumerService;
  replica: ConsumerReplica;
  authorizer: Authorizer;
  /** Applies every store change made since the last sync to the replica. */
  sync(): Promise<void>;
}

export async function stack(opts: StackOptions = {}): Promise<Stack> {
  const store = opts.store ?? (await FileStore.open());
  const service = new ConsumerService({ store, now: opts.now });
  const replica = new ConsumerReplica();
  // An empty store is a complete load: the replica answers from the start.
  replica.authoritative = true;
  const authorizer = new Authorizer({ replica, now: opts.now, tokenCacheSize: opts.tokenCacheSize });
  let rev = 0;
  return {
    store,
    service,
    replica,
    authorizer,
    async sync() {
      const changes = await store.changesSince(rev);
      replica.apply(changes);
      rev = changes.rev;
    },
  };
}

export interface DirectOptions {
  /** The authorizer's clock (ms since the epoch); default Date.now. */
  now?: () => number;
  /** Whether the replica counts as in step with the store (default true: a miss is a definite "unknown"). */
  authoritative?: boolean;
}

/** A replica holding exactly `changes`, and an authorizer on it. */
export function authorizerOn(changes: ChangeSet, opts: DirectOptions = {}): { replica: ConsumerReplica; authorizer: Authorizer } {
  const replica = new ConsumerReplica();
  replica.apply(changes);
  replica.authoritative = opts.authoritative ?? true;
  return { replica, authorizer: new Authorizer({ replica, now: opts.now }) };
}
