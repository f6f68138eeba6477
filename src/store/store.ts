/**
 * The store of record. Two implementations keep the same contract (one test
 * suite runs against both): `RedisStore`, shared by many instances, and
 * `FileStore`, an embedded store for a single instance.
 *
 * Every write bumps a global revision and records, per entity, the revision
 * of its last change (a change log holding one entry per entity). Readers that
 * cache the whole store ask `changesSince(rev)` and apply what they get, so a
 * lost notification only delays a change until the next poll; it never loses it.
 *
 * Entries of deleted entities (tombstones) are pruned once old
 * (`pruneChangeLog`); the store then remembers the highest revision it pruned,
 * and a reader behind it is told to reload everything (`truncated`).
 */
import type { CheckRecord } from '../consumers/check-record.js';
import type { ConsumerRecord, RouteRecord } from '../consumers/model.js';
import type { AuditEntryView } from '../consumers/views.js';

/** Codes of the store's refusals; each is a value the admin API maps to 404/409. */
export type StoreConflictCode =
  | 'consumer_exists'
  | 'credential_conflict'
  | 'consumer_not_found'
  | 'version_conflict'
  | 'route_match_conflict'
  | 'route_changed';

/** A write refused because of the data (not an outage). */
export class StoreConflictError extends Error {
  readonly code: StoreConflictCode;
  /** What the refusal is about, when it names one thing (e.g. the unknown consumer a route grant named). */
  readonly subject: string | undefined;
  /** What the conflict is, in words safe to show an admin (route_match_conflict says which rules overlap). */
  readonly detail: string | undefined;
  constructor(code: StoreConflictCode, subject?: string, detail?: string) {
    super(code);
    this.name = 'StoreConflictError';
    this.code = code;
    this.subject = subject;
    this.detail = detail;
  }
}

/** The store cannot be reached; nothing was written. */
export class StoreUnavailableError extends Error {
  /** What went wrong, safe to show an admin (no path, no secret); undefined: "cannot be reached". */
  readonly detail: string | undefined;
  constructor(cause?: unknown, detail?: string) {
    super('store unavailable', { cause });
    this.name = 'StoreUnavailableError';
    this.detail = detail;
  }
}

export interface Page<T> {
  items: T[];
  /** Name (or audit id) after which the next page starts; undefined on the last page. */
  next?: string;
}

/**
 * What changed after a revision: `null` marks a deleted entity. Consumers come
 * as full records (`changesSince`) or in their Check-only form
 * (`checkChangesSince`, what the replica loads).
 */
export interface ChangeSet<C = ConsumerRecord> {
  /**
   * Identity of the store's data set. It changes when the data is replaced
   * behind the service's back (a Redis restarted without persistence, a
   * FLUSHALL): revisions then start over, so the reader must reload everything.
   */
  epoch: string;
  /** Revision the caller has seen once it applied this set. */
  rev: number;
  consumers: Map<string, C | null>;
  routes: Map<string, RouteRecord | null>;
  /** True when the set stopped at a batch limit; ask again from `rev`. */
  more: boolean;
  /**
   * Names the write that made revision `rev` in this store's history, when
   * the store keeps such names (Redis does); undefined otherwise. The reader
   * passes it back with its next `changesSince`, so the store can tell whether
   * its history still holds that write.
   */
  token?: string;
  /**
   * The store's history does not continue the caller's: its revision is lower
   * than the `rev` asked for, or the write the caller saw at `rev` (its
   * `token`) is not the one the store holds there. The data moved backwards
   * (a restore from an older snapshot, a failover to a lagging replica): the
   * reader must reload everything from revision 0.
   */
  diverged?: boolean;
  /**
   * Tombstones after the `rev` asked for were pruned, so this set cannot bring
   * a replica at that revision in step: the reader must reload from revision 0.
   * Never true for `changesSince(0)`.
   */
  truncated?: boolean;
}

export type StoreEvent = 'change' | 'up' | 'down';

/** How many audit entries a store keeps (Redis trims approximately: `MAXLEN ~`). */
export const AUDIT_MAX_ENTRIES = 10_000;

/**
 * One admin change, as the audit trail keeps it and the API shows it (the
 * type is declared once, in consumers/views.ts): `before`/`after` are the
 * public views (never a key, a hash or a secret); null when absent.
 */
export type AuditEntry = AuditEntryView;
/** An audit entry before the store gives it its id. */
export type AuditInput = Omit<AuditEntry, 'id'>;

export interface ConsumerStore {
  /** Creates a consumer; its key hashes must be unused. Throws StoreConflictError. */
  createConsumer(rec: ConsumerRecord): Promise<void>;
  /**
   * Replaces a consumer whose current version is `rec.version - 1`
   * (compare-and-set). Key hashes the new record adds must be unused; those it
   * drops are released. Throws StoreConflictError.
   */
  replaceConsumer(rec: ConsumerRecord): Promise<void>;
  /**
   * Deletes the consumer at `version`, releases its key hashes and removes its
   * name from every route grant, all in one atomic write (each changed route
   * gets its own change-log entry). A route whose last granted consumer this
   * was keeps an empty list: it admits nobody (fail closed). Returns the routes
   * as they are after the removal. Throws StoreConflictError.
   */
  deleteConsumer(name: string, version: number): Promise<RouteRecord[]>;
  getConsumer(name: string): Promise<ConsumerRecord | undefined>;
  /** Consumers in name order, starting after `after`. */
  listConsumers(limit: number, after?: string): Promise<Page<ConsumerRecord>>;

  /**
   * Replaces a route's record (grants and match rules). Every named consumer
   * must exist at the moment of the write (checked atomically with it), so a
   * grant can never wait for a name to be created: throws
   * StoreConflictError('consumer_not_found', name). Match rules that tie with
   * another route's (route-match.ts `matchConflict`) are refused, also
   * atomically with the write, so no two stored routes ever tie:
   * StoreConflictError('route_match_conflict', otherRoute, message).
   * With `asRead` (the record the writer read, or null for none) the write
   * happens only if the stored record is still that one, atomically: else
   * StoreConflictError('route_changed', route). A read-modify-write of a
   * route (a grant added to its list) loses no concurrent change that way.
   */
  putRoute(rec: RouteRecord, asRead?: RouteRecord | null): Promise<void>;
  /** Routes whose grants name `consumer`, in route order. */
  routesGranting(consumer: string): Promise<RouteRecord[]>;
  /**
   * Upgrade pass, idempotent and safe to run from several instances at once:
   * removes from every route the grants naming a consumer that does not exist
   * (left by versions that did not remove grants on delete) and builds any
   * index the store keeps for grants. Returns each route it changed.
   */
  pruneDanglingGrants(): Promise<Array<{ before: RouteRecord; after: RouteRecord }>>;
  /**
   * Removes a route's record (grants and match rules). Returns false when
   * there was none. With `asRead`, only if the stored record is still that
   * one: else StoreConflictError('route_changed', route).
   */
  deleteRoute(route: string, asRead?: RouteRecord): Promise<boolean>;
  getRoute(route: string): Promise<RouteRecord | undefined>;
  listRoutes(limit: number, after?: string): Promise<Page<RouteRecord>>;

  /** Appends to the audit trail (oldest entries beyond AUDIT_MAX_ENTRIES are dropped); returns the entry's id. */
  appendAudit(entry: AuditInput): Promise<string>;
  /** Audit entries, newest first, starting after the entry `before` (a `next` from an earlier page). */
  listAudit(limit: number, before?: string): Promise<Page<AuditEntry>>;

  /**
   * Entities changed after `rev`, in revision order, at most `limit` of them.
   * `token` is the one the caller got with `rev` (see ChangeSet.token). Cheap
   * when nothing changed: a reader polls it to confirm it is in step.
   */
  changesSince(rev: number, limit?: number, token?: string): Promise<ChangeSet>;
  /**
   * Drops the change-log entries of deleted entities (tombstones) whose
   * revision is at most `upTo`, and raises the pruned-up-to revision to the
   * highest one dropped (a reader behind it gets `truncated`). Atomic and
   * idempotent: instances may run it concurrently. Returns how many were dropped.
   */
  pruneChangeLog(upTo: number): Promise<number>;
  /**
   * `changesSince` with each consumer in its Check-only form (check-record.ts):
   * the replica's load, which never needs a full record. Same revisions,
   * tokens and flags as `changesSince` for the same arguments.
   */
  checkChangesSince(rev: number, limit?: number, token?: string): Promise<ChangeSet<CheckRecord>>;
  /**
   * `change`: something was written (maybe by another instance); `down`/`up`:
   * the connection was lost/regained. Returns a function that unsubscribes.
   */
  on(event: StoreEvent, listener: () => void): () => void;
  /** True while the store can be reached. */
  readonly connected: boolean;
  close(): Promise<void>;
}
