/**
 * Keeps a Directory in step with a ConsumerStore: a full load at start, then
 * incremental catch-up from the store's change log whenever the store says
 * something changed, whenever the connection comes back, and on a timer (the
 * safety net for lost pub/sub messages; it bounds how late a change can be).
 */
import type { Logger } from 'pino';
import type { Directory } from './directory.js';
import type { ChangeSet, ConsumerStore } from '../store/store.js';

/** Told how syncing goes (metrics). `full` is true for a load of the whole data set. */
export interface SyncObserver {
  applied(changes: ChangeSet, full: boolean): void;
  failed(): void;
  reloaded(): void;
}

/**
 * Entities per batch while loading everything (the store's default applies to
 * catch-up). Small on purpose: a batch's parsed records then die young instead
 * of being promoted and traced by full GCs; the round trips are hidden by
 * fetching the next batch while one is applied. Measured with 1M consumers
 * (bench/startup.ts): 20k 14-15 s, 5k 12-13.5 s, 2k 11-11.4 s, 1k 10.7 s, 500 13 s.
 */
const FULL_LOAD_BATCH = 2_000;

export interface ReplicatorOptions {
  store: ConsumerStore;
  directory: Directory;
  logger: Logger;
  /** Poll interval in ms; the longest a change can wait if its notification is lost. */
  pollMs?: number;
  observer?: SyncObserver;
}

export class Replicator {
  readonly #store: ConsumerStore;
  readonly #dir: Directory;
  readonly #log: Logger;
  readonly #pollMs: number;
  #rev = 0;
  #epoch: string | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: Array<() => void> = [];
  #warm = false;
  /** True while a full load is in progress (the first one, or after a data set change). */
  #full = true;
  readonly #observer: SyncObserver | undefined;
  #warmWaiters: Array<() => void> = [];

  constructor(opts: ReplicatorOptions) {
    this.#store = opts.store;
    this.#dir = opts.directory;
    this.#log = opts.logger;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#observer = opts.observer;
  }

  /** The last store revision applied. */
  get revision(): number {
    return this.#rev;
  }

  /** True once a full load has completed. */
  get warm(): boolean {
    return this.#warm;
  }

  start(): void {
    this.#unsubscribe = [
      this.#store.on('change', () => this.sync()),
      this.#store.on('up', () => this.sync()),
      this.#store.on('down', () => {
        if (this.#dir.authoritative) this.#log.warn('store connection lost: unknown credentials now get 503');
        this.#dir.authoritative = false;
      }),
    ];
    this.#timer = setInterval(() => void this.sync(), this.#pollMs);
    this.#timer.unref();
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
      let next: Promise<ChangeSet> | undefined;
      try {
        let more = true;
        while (more) {
          let changes = await (next ?? this.#fetch(this.#rev));
          next = undefined;
          if (this.#epoch !== undefined && changes.epoch !== this.#epoch) {
            // The data set was replaced (revisions start over): reload it all.
            this.#log.warn({ from: this.#epoch, to: changes.epoch }, 'store data set replaced; reloading every consumer');
            this.#rev = 0;
            this.#full = true;
            changes = await this.#fetch(0);
            this.#dir.authoritative = false;
            this.#dir.clear();
            this.#observer?.reloaded();
          }
          if (changes.more) {
            next = this.#fetch(changes.rev);
            next.catch(() => {}); // awaited (and its failure handled) on the next pass, or dropped with this one
          }
          this.#epoch = changes.epoch;
          this.#dir.apply(changes);
          this.#observer?.applied(changes, this.#full);
          this.#rev = changes.rev;
          more = changes.more;
        }
        this.#full = false;
        this.#markSynced();
      } catch (err) {
        this.#observer?.failed();
        if (this.#dir.authoritative) this.#log.warn({ err: String(err) }, 'store sync failed');
        this.#dir.authoritative = false;
        return;
      }
    } while (this.#again);
  }

  /** A full load asks for larger batches: fewer round trips, and nothing waits on it yet. */
  #fetch(rev: number): Promise<ChangeSet> {
    return this.#full ? this.#store.changesSince(rev, FULL_LOAD_BATCH) : this.#store.changesSince(rev);
  }

  #markSynced(): void {
    const wasAuthoritative = this.#dir.authoritative;
    this.#dir.authoritative = this.#store.connected;
    if (!wasAuthoritative && this.#dir.authoritative) {
      this.#log.info({ consumers: this.#dir.size, revision: this.#rev }, 'consumer cache in step with the store');
    }
    if (!this.#warm) {
      this.#warm = true;
      for (const w of this.#warmWaiters.splice(0)) w();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
  }
}
