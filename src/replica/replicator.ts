/**
 * Keeps a ConsumerReplica in step with a ConsumerStore: a full load at start, then
 * incremental catch-up from the store's change log whenever the store says
 * something changed, whenever the connection comes back, and on a timer.
 *
 * The timer is also the heartbeat that keeps the replica fresh: it runs
 * several times within the staleness bound (every min(pollMs, bound / 4)),
 * and each pass that ends in step confirms the replica by the send time of
 * its last request (see ConsumerReplica.confirm). A pass is one cheap round trip
 * when nothing changed.
 *
 * The store's data moving backwards (a lower revision, or a different write at
 * the revision this replica saw: restore from an older snapshot, failover to a
 * lagging replica), a new epoch (data set replaced) or a pruned change log
 * behind this replica all force a full reload.
 *
 * Pruning: the replicator samples the store revision over time; every
 * `pruneEveryMs` it asks the store to drop tombstones at or below the revision
 * the store had `tombstoneRetentionMs` ago. An instance further behind than
 * that reloads in full (the store says `truncated`), so pruning never loses a
 * deletion.
 */
import type { Logger } from 'pino';
import type { ConsumerReplica } from './consumer-replica.js';
import type { CheckRecord } from '../consumers/check-record.js';
import type { ChangeSet, ConsumerStore } from '../store/store.js';

/** Told how syncing goes (metrics). `full` is true for a load of the whole data set. */
export interface SyncObserver {
  applied(changes: ChangeSet<CheckRecord>, full: boolean): void;
  failed(): void;
  reloaded(reason?: ReloadReason): void;
}

/** Why the replica was reloaded in full. */
export type ReloadReason = 'epoch' | 'diverged' | 'truncated';

/**
 * Entities per batch while loading everything (the store's default applies to
 * catch-up). Small on purpose: a batch's parsed records then die young instead
 * of being promoted and traced by full GCs; the round trips are hidden by
 * fetching the next batch while one is applied. Measured with 1M consumers
 * (bench/startup.ts): 20k 14-15 s, 5k 12-13.5 s, 2k 11-11.4 s, 1k 10.7 s, 500 13 s.
 */
const FULL_LOAD_BATCH = 2_000;

/** How long deleted entities stay in the change log by default (10 minutes). */
export const DEFAULT_TOMBSTONE_RETENTION_MS = 10 * 60_000;

export interface ReplicatorOptions {
  store: ConsumerStore;
  replica: ConsumerReplica;
  logger: Logger;
  /** Poll interval in ms; the longest a change can wait if its notification is lost. */
  pollMs?: number;
  observer?: SyncObserver;
  /** Monotonic clock in ms (default performance.now); must be the ConsumerReplica's. */
  clock?: () => number;
  /** Tombstones older than this are pruned from the store's change log (default 10 min). */
  tombstoneRetentionMs?: number;
  /** How often pruning runs (default a quarter of the retention). */
  pruneEveryMs?: number;
}

/** A request to the store and when it was sent. */
interface Fetch {
  sentAt: number;
  reply: Promise<ChangeSet<CheckRecord>>;
}

export class Replicator {
  readonly #store: ConsumerStore;
  readonly #replica: ConsumerReplica;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #clock: () => number;
  readonly #retentionMs: number;
  readonly #pruneEveryMs: number;
  #rev = 0;
  #token: string | undefined;
  #epoch: string | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #timers: NodeJS.Timeout[] = [];
  #unsubscribe: Array<() => void> = [];
  #warm = false;
  /** True while a full load is in progress (the first one, or after a data set change). */
  #full = true;
  readonly #observer: SyncObserver | undefined;
  #warmWaiters: Array<() => void> = [];
  /** (monotonic time, store revision) samples, oldest first, for the pruning bound. */
  #samples: Array<{ at: number; rev: number }> = [];
  #pruning = false;

  constructor(opts: ReplicatorOptions) {
    this.#store = opts.store;
    this.#replica = opts.replica;
    this.#log = opts.logger;
    const bound = opts.replica.maxStalenessMs;
    // Several confirmations within the staleness bound.
    this.#pollMs = Math.max(10, Math.min(opts.pollMs ?? 1000, bound / 4));
    this.#observer = opts.observer;
    this.#clock = opts.clock ?? (() => performance.now());
    this.#retentionMs = opts.tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS;
    this.#pruneEveryMs = opts.pruneEveryMs ?? Math.max(1000, this.#retentionMs / 4);
  }

  /** The last store revision applied. */
  get revision(): number {
    return this.#rev;
  }

  /** True once a full load has completed. */
  get warm(): boolean {
    return this.#warm;
  }

  /** The interval of the heartbeat poll in ms. */
  get pollMs(): number {
    return this.#pollMs;
  }

  start(): void {
    this.#unsubscribe = [
      this.#store.on('change', () => this.sync()),
      this.#store.on('up', () => this.sync()),
      this.#store.on('down', () => {
        if (this.#replica.authoritative) this.#log.warn('store connection lost: unknown credentials now get 503, known ones once the staleness bound passes');
        this.#replica.authoritative = false;
      }),
    ];
    const poll = setInterval(() => void this.sync(), this.#pollMs);
    const prune = setInterval(() => void this.prune(), this.#pruneEveryMs);
    poll.unref();
    prune.unref();
    this.#timers = [poll, prune];
    void this.sync();
  }

  /** Resolves once the replica has been fully loaded once. */
  whenWarm(): Promise<void> {
    return this.#warm ? Promise.resolve() : new Promise((resolve) => this.#warmWaiters.push(resolve));
  }

  /** Catches up with the store; concurrent calls coalesce into one more pass. */
  sync(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      // The next batch is fetched while the current one is applied (its start is
      // known as soon as the current one arrived), so a long catch-up waits on
      // the store once, not once per batch.
      let next: Fetch | undefined;
      try {
        let more = true;
        let sentAt = 0;
        while (more) {
          const f = next ?? this.#fetch(this.#rev, this.#token);
          next = undefined;
          let changes = await f.reply;
          sentAt = f.sentAt;
          const reason = this.#reloadReason(changes);
          if (reason) {
            this.#reload(reason, changes);
            const again = this.#fetch(0, undefined);
            changes = await again.reply;
            sentAt = again.sentAt;
          }
          if (changes.more) {
            next = this.#fetch(changes.rev, changes.token);
            next.reply.catch(() => {}); // awaited (and its failure handled) on the next pass, or dropped with this one
          }
          this.#epoch = changes.epoch;
          this.#replica.apply(changes);
          this.#observer?.applied(changes, this.#full);
          this.#rev = changes.rev;
          this.#token = changes.token;
          more = changes.more;
        }
        this.#full = false;
        this.#markSynced(sentAt);
      } catch (err) {
        this.#observer?.failed();
        if (this.#replica.authoritative) this.#log.warn({ err: String(err) }, 'store sync failed');
        this.#replica.authoritative = false;
        return;
      }
    } while (this.#again);
  }

  #reloadReason(changes: ChangeSet<unknown>): ReloadReason | undefined {
    if (this.#epoch === undefined) return undefined;
    if (changes.epoch !== this.#epoch) return 'epoch';
    if (changes.diverged) return 'diverged';
    if (changes.truncated) return 'truncated';
    return undefined;
  }

  /** Forgets the replica before a load of everything (Checks it would allow get 503 meanwhile). */
  #reload(reason: ReloadReason, changes: ChangeSet<CheckRecord>): void {
    const why = {
      epoch: 'store data set replaced',
      diverged: 'store history moved backwards (older data restored, or a failover to a lagging replica)',
      truncated: 'store change log pruned past this replica',
    }[reason];
    this.#log.warn({ reason, fromEpoch: this.#epoch, toEpoch: changes.epoch, revision: this.#rev }, `${why}; reloading every consumer`);
    this.#rev = 0;
    this.#token = undefined;
    this.#full = true;
    this.#samples = []; // revisions of the old history bound nothing in the new one
    this.#replica.authoritative = false;
    this.#replica.expire();
    this.#replica.clear();
    this.#observer?.reloaded(reason);
  }

  /**
   * Consumers are read in their Check-only form (the replica never needs a
   * full record). A full load asks for its own batch size (see FULL_LOAD_BATCH).
   */
  #fetch(rev: number, token: string | undefined): Fetch {
    const sentAt = this.#clock();
    const store = this.#store;
    const reply = this.#full ? store.checkChangesSince(rev, FULL_LOAD_BATCH, token) : store.checkChangesSince(rev, undefined, token);
    return { sentAt, reply };
  }

  #markSynced(sentAt: number): void {
    const wasAuthoritative = this.#replica.authoritative;
    if (this.#store.connected) this.#replica.confirm(sentAt);
    this.#replica.authoritative = this.#store.connected;
    if (!wasAuthoritative && this.#replica.authoritative) {
      this.#log.info({ consumers: this.#replica.size, revision: this.#rev }, 'consumer cache in step with the store');
    }
    this.#sample(sentAt);
    if (!this.#warm) {
      this.#warm = true;
      for (const w of this.#warmWaiters.splice(0)) w();
    }
  }

  /** Keeps about eight (time, revision) samples per retention period. */
  #sample(at: number): void {
    const last = this.#samples[this.#samples.length - 1];
    if (last && last.rev === this.#rev) return;
    if (last && at - last.at < this.#retentionMs / 8) return;
    this.#samples.push({ at, rev: this.#rev });
  }

  /**
   * Drops tombstones the store had `tombstoneRetentionMs` ago (by this
   * instance's samples). Returns how many were dropped; 0 when nothing is old
   * enough yet, a pass is running, or the store cannot be reached.
   */
  async prune(): Promise<number> {
    if (this.#pruning) return 0;
    const cutoff = this.#clock() - this.#retentionMs;
    let upTo = 0;
    while (this.#samples.length > 0 && (this.#samples[0] as { at: number }).at <= cutoff) {
      upTo = (this.#samples.shift() as { rev: number }).rev;
    }
    if (upTo === 0) return 0;
    // Keep the bound for the next pass: the revision stays old enough.
    this.#samples.unshift({ at: cutoff, rev: upTo });
    this.#pruning = true;
    try {
      const dropped = await this.#store.pruneChangeLog(upTo);
      if (dropped > 0) this.#log.info({ dropped, upTo }, 'pruned tombstones from the store change log');
      return dropped;
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'change-log pruning failed; retried later');
      return 0;
    } finally {
      this.#pruning = false;
    }
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
  }
}
