/**
 * Embedded store for a single instance with no Redis: everything lives in
 * memory and every write is persisted to one JSON file (written to a temp file,
 * fsynced, then renamed over the old one, so a crash leaves the old or the new
 * file, never half of one). With no path it is a pure in-memory store.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, open, readFile, rename, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { toCheckRecord, type CheckRecord } from '../consumers/check-record.js';
import { credentialHashes, withoutGrantees, type ConsumerRecord, type RouteRecord } from '../consumers/model.js';
import { matchConflict } from '../consumers/route-match.js';
import {
  AUDIT_MAX_ENTRIES,
  StoreConflictError,
  StoreUnavailableError,
  type AuditEntry,
  type AuditInput,
  type ChangeSet,
  type ConsumerStore,
  type Page,
  type StoreEvent,
} from './store.js';
import { LocalCounters } from './usage-counters.js';
import { DataFileLock, DataFileLockedError } from './data-file-lock.js';

interface FileShape {
  format: 'consumer-authz/1';
  epoch: string;
  rev: number;
  consumers: ConsumerRecord[];
  routes: RouteRecord[];
  /** entity id (`c:name` / `r:route`) → revision of its last change, tombstones included. */
  log: Record<string, number>;
  /** Highest tombstone revision pruned from `log` (absent: none pruned). */
  pruned?: number;
  /** Audit trail, oldest first (absent in files written before it existed). */
  audit?: AuditEntry[];
}

export interface FileStoreOptions {
  /** File to persist to; undefined keeps everything in memory only. */
  path?: string;
  /** Where write failures are reported (error level, with the errno code and the path). */
  logger?: Logger;
  /** How often a failed write is retried as a probe until the file is writable again (ms). */
  probeIntervalMs?: number;
}

/**
 * DATA_FILE cannot be used: its message is one line that names DATA_FILE,
 * what is wrong and the fix, and never contains any of the file's content.
 */
export class DataFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFileError';
  }
}

/** Filesystems where a data file cannot live (statfs f_type): proc, sysfs, cgroup, … */
const PSEUDO_FS = new Map<number, string>([
  [0x9fa0, 'proc'], [0x62656572, 'sysfs'], [0x1cd1, 'devpts'], [0x64626720, 'debugfs'], [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'], [0x27e0eb, 'cgroup'], [0x63677270, 'cgroup2'], [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'], [0x62656570, 'configfs'], [0xde5e81e4, 'efivarfs'], [0xf97cff8c, 'selinuxfs'],
  [0x19800202, 'mqueue'], [0x42494e4d, 'binfmt_misc'],
]);

/** What an errno means, in words (for messages and logs). */
const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  ENOENT: 'no such file or directory',
  EIO: 'I/O error',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
  EXDEV: 'the temporary file and DATA_FILE are on different filesystems',
  ETIMEDOUT: 'timed out',
};
const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
}

function describeErrno(err: unknown): string {
  const code = errnoOf(err);
  return `${code}: ${ERRNO_TEXT[code] ?? 'unexpected error'}`;
}

/** File operations that outlived their time bound and still have not returned (see `fileIoStuck`). */
let stuckOps = 0;

/**
 * True while a file operation is stuck in the kernel (a hung NFS or FUSE
 * mount, a FIFO where the data file should be). process.exit() would then
 * wait for it forever (libuv joins its thread pool at exit), so the caller
 * must end the process another way.
 */
export function fileIoStuck(): boolean {
  return stuckOps > 0;
}

/** Rejects with ETIMEDOUT when `p` takes longer than `ms` (the operation itself cannot be cancelled). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  let late = false;
  const done = () => {
    settled = true;
    if (late) stuckOps--;
  };
  p.then(done, done);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (!settled) {
        late = true;
        stuckOps++;
      }
      reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class FileStore implements ConsumerStore {
  /** The data is in memory: reads never fail. Write failures show in `fault`. */
  readonly connected = true;
  readonly #path: string | undefined;
  readonly #logger: Logger | undefined;
  readonly #probeMs: number;
  #lock: DataFileLock | undefined;
  #fault: string | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #consumers = new Map<string, ConsumerRecord>();
  readonly #routes = new Map<string, RouteRecord>();
  readonly #hashes = new Map<string, string>();
  readonly #log = new Map<string, number>();
  readonly #events = new EventEmitter();
  #audit: AuditEntry[] = [];
  #auditSeq = 0;
  #rev = 0;
  /** Highest tombstone revision pruned from the log. */
  #pruned = 0;
  #epoch: string = randomUUID();
  #queue: Promise<unknown> = Promise.resolve();
  /** Rate-limit and quota counts of this one instance (quota counts kept in `<DATA_FILE>.usage.json`). */
  counters: LocalCounters = new LocalCounters();

  private constructor(opts: FileStoreOptions) {
    this.#path = opts.path;
    this.#logger = opts.logger;
    this.#probeMs = opts.probeIntervalMs ?? 1000;
  }

  /**
   * Opens the store: checks that DATA_FILE's folder can hold it (a real
   * filesystem where tmp + fsync + rename works: a probe file is written and
   * renamed), takes the exclusive lock, then loads the file when it exists.
   * Throws DataFileError (one safe line) for every problem of the file.
   */
  static async open(opts: FileStoreOptions = {}): Promise<FileStore> {
    const store = new FileStore(opts);
    if (opts.path) {
      const path = opts.path;
      await checkPlace(path);
      try {
        store.#lock = await DataFileLock.acquire(path);
      } catch (err) {
        if (err instanceof DataFileLockedError) throw new DataFileError(err.message);
        throw new DataFileError(`DATA_FILE=${path}: cannot create its lock file ${path}.lock (${describeErrno(err)}); ${fixFor(err)}`);
      }
      try {
        await probe(path).catch((err: unknown) => {
          throw new DataFileError(`DATA_FILE=${path}: a test write (temporary file, fsync, rename) failed (${describeErrno(err)}); ${fixFor(err)}`);
        });
        await store.#load(path);
        // Under the data file's lock: no other instance writes these counts.
        try {
          store.counters = new LocalCounters({ file: `${path}.usage.json` });
        } catch (err) {
          throw new DataFileError(`DATA_FILE=${path}: cannot read the quota counts: ${err instanceof Error ? err.message : String(err)}`);
        }
      } catch (err) {
        await store.#lock.release();
        throw err;
      }
    }
    return store;
  }

  /** Why writes fail right now (safe to show: no path, no content); undefined while they work. */
  get fault(): string | undefined {
    return this.#fault;
  }

  async #load(path: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new DataFileError(`DATA_FILE=${path}: cannot be read (${describeErrno(err)}); ${fixFor(err)}`);
    }
    const data = parseDataFile(path, text);
    this.#rev = data.rev;
    this.#epoch = data.epoch;
    for (const c of data.consumers) {
      this.#consumers.set(c.name, c);
      let hashes: string[];
      try {
        hashes = credentialHashes(c);
      } catch {
        throw new DataFileError(`DATA_FILE=${path}: consumer #${this.#consumers.size} has no valid credentials; restore it from a backup or move it away`);
      }
      for (const h of hashes) this.#hashes.set(h, c.name);
    }
    for (const r of data.routes) this.#routes.set(r.route, r);
    for (const [k, v] of Object.entries(data.log)) this.#log.set(k, v);
    this.#pruned = data.pruned ?? 0;
    this.#audit = data.audit ?? [];
    this.#auditSeq = Number(this.#audit[this.#audit.length - 1]?.id ?? 0);
  }

  async #persist(): Promise<void> {
    if (!this.#path) return;
    if (this.#lock && !(await this.#lock.verify().catch(() => false))) {
      throw Object.assign(new Error('lock lost'), { code: 'ELOCKLOST' });
    }
    const data: FileShape = {
      format: 'consumer-authz/1',
      epoch: this.#epoch,
      rev: this.#rev,
      consumers: [...this.#consumers.values()],
      routes: [...this.#routes.values()],
      log: Object.fromEntries(this.#log),
      pruned: this.#pruned,
      audit: this.#audit,
    };
    await mkdir(dirname(this.#path), { recursive: true });
    const tmp = `${this.#path}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.#path);
  }

  /**
   * Runs writes one at a time; each check-then-write is atomic. A write the
   * file refuses is undone in memory too (so it is never served) and reported
   * as StoreUnavailableError: nothing was written.
   */
  #write(entity: string, apply: () => string[] | void): Promise<void> {
    const run = this.#queue.then(async () => {
      const undo = this.#checkpoint();
      // Entities changed along with `entity` (routes a consumer delete touched) get their own revisions.
      const also = apply() ?? [];
      for (const e of also) this.#log.set(e, ++this.#rev);
      this.#log.set(entity, ++this.#rev);
      try {
        await this.#persist();
      } catch (err) {
        undo();
        throw this.#failed(err);
      }
      this.#recovered();
      this.#events.emit('change');
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** A write failed: log it, mark the store faulty (readiness), and probe until it works again. */
  #failed(err: unknown): StoreUnavailableError {
    const code = errnoOf(err);
    const fault =
      code === 'ELOCKLOST'
        ? 'this instance no longer holds the DATA_FILE lock (the lock file was removed or taken by another process)'
        : `the data file cannot be written (${describeErrno(err)})`;
    const kind = PERMISSION_CODES.has(code) ? 'permission error' : code === 'ELOCKLOST' ? 'lock lost' : 'write error';
    this.#logger?.error({ code, path: this.#path, syscall: (err as NodeJS.ErrnoException).syscall }, `data file ${kind}: ${fault}; writes are refused and /readyz is 503 until a write succeeds`);
    this.#fault = fault;
    if (code !== 'ELOCKLOST' && !this.#probeTimer && !this.#closed) {
      this.#probeTimer = setInterval(() => {
        void this.#probeAgain();
      }, this.#probeMs);
      this.#probeTimer.unref();
    }
    return new StoreUnavailableError(err, `${fault}; nothing was changed`);
  }

  async #probeAgain(): Promise<void> {
    if (!this.#path || this.#fault === undefined) return;
    try {
      await probe(this.#path);
      if (this.#lock && !(await this.#lock.verify())) return;
      this.#recovered();
    } catch {
      // still failing; logged once when it started
    }
  }

  #recovered(): void {
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    if (this.#fault === undefined) return;
    this.#fault = undefined;
    this.#logger?.info({ path: this.#path }, 'data file writable again');
  }

  /** Captures the in-memory state; the returned function restores it. */
  #checkpoint(): () => void {
    const rev = this.#rev;
    const saved = [
      [this.#consumers, new Map(this.#consumers)],
      [this.#routes, new Map(this.#routes)],
      [this.#hashes, new Map(this.#hashes)],
      [this.#log, new Map(this.#log)],
    ] as Array<[Map<string, unknown>, Map<string, unknown>]>;
    return () => {
      this.#rev = rev;
      for (const [live, copy] of saved) {
        live.clear();
        for (const [k, v] of copy) live.set(k, v);
      }
    };
  }

  createConsumer(rec: ConsumerRecord): Promise<void> {
    return this.#write(`c:${rec.name}`, () => {
      if (this.#consumers.has(rec.name)) throw new StoreConflictError('consumer_exists');
      const hashes = credentialHashes(rec);
      if (hashes.some((h) => this.#hashes.has(h))) throw new StoreConflictError('credential_conflict');
      this.#consumers.set(rec.name, rec);
      for (const h of hashes) this.#hashes.set(h, rec.name);
    });
  }

  replaceConsumer(rec: ConsumerRecord): Promise<void> {
    return this.#write(`c:${rec.name}`, () => {
      const cur = this.#consumers.get(rec.name);
      if (!cur) throw new StoreConflictError('consumer_not_found');
      if (cur.version !== rec.version - 1) throw new StoreConflictError('version_conflict');
      const next = credentialHashes(rec);
      if (next.some((h) => this.#hashes.has(h) && this.#hashes.get(h) !== rec.name)) {
        throw new StoreConflictError('credential_conflict');
      }
      for (const h of credentialHashes(cur)) this.#hashes.delete(h);
      for (const h of next) this.#hashes.set(h, rec.name);
      this.#consumers.set(rec.name, rec);
    });
  }

  async deleteConsumer(name: string, version: number): Promise<RouteRecord[]> {
    const changed: RouteRecord[] = [];
    await this.#write(`c:${name}`, () => {
      changed.length = 0;
      const cur = this.#consumers.get(name);
      if (!cur) throw new StoreConflictError('consumer_not_found');
      if (cur.version !== version) throw new StoreConflictError('version_conflict');
      for (const h of credentialHashes(cur)) this.#hashes.delete(h);
      this.#consumers.delete(name);
      // Its grants go with it, in the same file write.
      for (const r of this.#routes.values()) {
        if (!r.consumers.includes(name)) continue;
        const next = withoutGrantees(r, (c) => c === name, new Date().toISOString());
        this.#routes.set(r.route, next);
        changed.push(next);
      }
      return changed.map((r) => `r:${r.route}`);
    });
    return changed.sort(byRoute);
  }

  async getConsumer(name: string): Promise<ConsumerRecord | undefined> {
    return this.#consumers.get(name);
  }

  async listConsumers(limit: number, after?: string): Promise<Page<ConsumerRecord>> {
    return page([...this.#consumers.values()], (c) => c.name, limit, after);
  }

  putRoute(rec: RouteRecord, asRead?: RouteRecord | null): Promise<void> {
    return this.#write(`r:${rec.route}`, () => {
      if (!isAsRead(this.#routes.get(rec.route), asRead)) throw new StoreConflictError('route_changed', rec.route);
      const missing = rec.consumers.find((c) => !this.#consumers.has(c));
      if (missing !== undefined) throw new StoreConflictError('consumer_not_found', missing);
      // Writes run one at a time, so the conflict check and the write are one step.
      const conflict = rec.match && rec.match.length > 0 ? matchConflict(rec.route, rec.match, this.#routes.values()) : undefined;
      if (conflict) throw new StoreConflictError('route_match_conflict', conflict.route, conflict.message);
      this.#routes.set(rec.route, rec);
    });
  }

  async routesGranting(consumer: string): Promise<RouteRecord[]> {
    return [...this.#routes.values()].filter((r) => r.consumers.includes(consumer)).sort(byRoute);
  }

  async pruneDanglingGrants(): Promise<Array<{ before: RouteRecord; after: RouteRecord }>> {
    const out: Array<{ before: RouteRecord; after: RouteRecord }> = [];
    const run = this.#queue.then(async () => {
      const undo = this.#checkpoint();
      for (const r of [...this.#routes.values()].sort(byRoute)) {
        const kept = r.consumers.filter((c) => this.#consumers.has(c));
        if (kept.length === r.consumers.length) continue;
        const after = withoutGrantees(r, (c) => !this.#consumers.has(c), new Date().toISOString());
        this.#routes.set(r.route, after);
        this.#log.set(`r:${r.route}`, ++this.#rev);
        out.push({ before: r, after });
      }
      if (out.length === 0) return;
      try {
        await this.#persist();
      } catch (err) {
        undo();
        out.length = 0;
        throw new StoreUnavailableError(err);
      }
      this.#events.emit('change');
    });
    this.#queue = run.catch(() => undefined);
    await run;
    return out;
  }

  async deleteRoute(route: string, asRead?: RouteRecord): Promise<boolean> {
    // Checked inside the write queue, so a put issued just before is seen.
    const absent = new Error('absent');
    try {
      await this.#write(`r:${route}`, () => {
        if (this.#routes.has(route) && !isAsRead(this.#routes.get(route), asRead)) throw new StoreConflictError('route_changed', route);
        if (!this.#routes.delete(route)) throw absent;
      });
    } catch (err) {
      if (err === absent) return false;
      throw err;
    }
    return true;
  }

  async getRoute(route: string): Promise<RouteRecord | undefined> {
    return this.#routes.get(route);
  }

  async listRoutes(limit: number, after?: string): Promise<Page<RouteRecord>> {
    return page([...this.#routes.values()], (r) => r.route, limit, after);
  }

  appendAudit(entry: AuditInput): Promise<string> {
    const run = this.#queue.then(async () => {
      const id = String(++this.#auditSeq);
      this.#audit.push({ id, ...entry });
      if (this.#audit.length > AUDIT_MAX_ENTRIES) this.#audit.splice(0, this.#audit.length - AUDIT_MAX_ENTRIES);
      try {
        await this.#persist();
      } catch (err) {
        throw this.#failed(err);
      }
      this.#recovered();
      return id;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async listAudit(limit: number, before?: string): Promise<Page<AuditEntry>> {
    const bound = before === undefined ? Infinity : Number(before);
    const older = this.#audit.filter((e) => Number(e.id) < bound).reverse();
    const items = older.slice(0, limit);
    const last = items[items.length - 1];
    return older.length > limit && last ? { items, next: last.id } : { items };
  }

  async changesSince(rev: number, limit = 10_000): Promise<ChangeSet> {
    // One process owns this history: it can only be behind, never rewritten,
    // so no token is needed; a revision above ours is a reader's mistake.
    if (rev >= this.#rev) {
      // The heartbeat's usual answer: nothing new (no scan of the log).
      return { epoch: this.#epoch, rev, consumers: new Map(), routes: new Map(), more: false, diverged: rev > this.#rev, truncated: rev > 0 && rev < this.#pruned };
    }
    const changed = [...this.#log.entries()].filter(([, r]) => r > rev).sort((a, b) => a[1] - b[1]);
    const batch = changed.slice(0, limit);
    const more = changed.length > limit;
    const set: ChangeSet = {
      epoch: this.#epoch,
      rev,
      consumers: new Map(),
      routes: new Map(),
      more,
      diverged: rev > this.#rev,
      truncated: rev > 0 && rev < this.#pruned,
    };
    if (set.diverged) return set;
    for (const [entity, r] of batch) {
      const id = entity.slice(2);
      if (entity.startsWith('c:')) set.consumers.set(id, this.#consumers.get(id) ?? null);
      else set.routes.set(id, this.#routes.get(id) ?? null);
      set.rev = r;
    }
    if (!more) set.rev = this.#rev;
    return set;
  }

  /**
   * The file keeps full records only (it is read whole at start, so a second
   * form on disk would only grow it); the check records are derived here, from
   * the records already in memory, with the revision of their last change.
   */
  async checkChangesSince(rev: number, limit?: number): Promise<ChangeSet<CheckRecord>> {
    const set = await this.changesSince(rev, limit);
    const consumers = new Map<string, CheckRecord | null>();
    for (const [name, rec] of set.consumers) consumers.set(name, rec && toCheckRecord(rec, this.#log.get(`c:${name}`) ?? 0));
    return { ...set, consumers };
  }

  pruneChangeLog(upTo: number): Promise<number> {
    const run = this.#queue.then(async () => {
      const dropped: Array<[string, number]> = [];
      for (const [entity, r] of this.#log) {
        if (r > upTo) continue;
        const id = entity.slice(2);
        const live = entity.startsWith('c:') ? this.#consumers.has(id) : this.#routes.has(id);
        if (!live) dropped.push([entity, r]);
      }
      if (dropped.length === 0) return 0;
      const pruned = this.#pruned;
      for (const [entity, r] of dropped) {
        this.#log.delete(entity);
        this.#pruned = Math.max(this.#pruned, r);
      }
      try {
        await this.#persist();
      } catch (err) {
        for (const [entity, r] of dropped) this.#log.set(entity, r);
        this.#pruned = pruned;
        throw new StoreUnavailableError(err);
      }
      return dropped.length;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  on(event: StoreEvent, listener: () => void): () => void {
    this.#events.on(event, listener);
    return () => this.#events.off(event, listener);
  }

  /** Waits for queued writes (at most `graceMs`: a write stuck in the kernel must not block exit), then drops the lock. */
  async close(graceMs = 2000): Promise<void> {
    this.#closed = true;
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    await within(this.#queue, graceMs).catch(() => undefined);
    await within(this.counters.close(), graceMs).catch(() => undefined);
    this.#events.removeAllListeners();
    await this.#lock?.release().catch(() => undefined);
  }
}

/**
 * Before anything is created: DATA_FILE's nearest existing ancestor must be a
 * directory on a real filesystem (mkdir -p under /proc spins forever in Node),
 * the folder must be creatable, and DATA_FILE itself, if present, a regular file.
 */
async function checkPlace(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  let ancestor = dir;
  for (;;) {
    try {
      const s = await stat(ancestor);
      if (!s.isDirectory()) {
        throw new DataFileError(`DATA_FILE=${path}: ${ancestor} is not a directory; choose a DATA_FILE whose folder is a directory (or can be created)`);
      }
      break;
    } catch (err) {
      if (err instanceof DataFileError) throw err;
      const code = errnoOf(err);
      // Missing, or under something that is not a directory: look further up for the culprit.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(ancestor) !== ancestor) {
        ancestor = dirname(ancestor);
        continue;
      }
      throw new DataFileError(`DATA_FILE=${path}: its folder ${ancestor} cannot be read (${describeErrno(err)}); ${fixFor(err)}`);
    }
  }
  const fs = await statfs(ancestor).catch(() => undefined);
  const kind = fs && PSEUDO_FS.get(fs.type);
  if (kind) {
    throw new DataFileError(`DATA_FILE=${path}: ${ancestor} is on a ${kind} pseudo-filesystem, which cannot hold a data file; choose a path on a disk or volume (e.g. ./data/consumers.json)`);
  }
  try {
    await within(mkdir(dir, { recursive: true }), 5000);
  } catch (err) {
    throw new DataFileError(`DATA_FILE=${path}: its folder ${dir} cannot be created (${describeErrno(err)}); ${fixFor(err)}`);
  }
  const existing = await stat(path).catch((err: unknown) => {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw new DataFileError(`DATA_FILE=${path}: cannot be inspected (${describeErrno(err)}); ${fixFor(err)}`);
  });
  if (existing && !existing.isFile()) {
    throw new DataFileError(`DATA_FILE=${path}: is ${existing.isDirectory() ? 'a directory' : 'not a regular file'}; point DATA_FILE at a file (it is created when missing)`);
  }
}

/** The write path in miniature: a temp file written, fsynced and renamed, then removed; bounded in time. */
async function probe(path: string): Promise<void> {
  const tmp = `${path}.${process.pid}.probe.tmp`;
  const done = `${path}.${process.pid}.probe`;
  await within(
    (async () => {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile('probe\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, done);
      await unlink(done);
    })(),
    5000,
  );
}

/** The fix to suggest for an errno. */
function fixFor(err: unknown): string {
  const code = errnoOf(err);
  if (PERMISSION_CODES.has(code)) return 'give the service user write access to the folder (and the file), or choose another DATA_FILE';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'free some space, or choose another DATA_FILE';
  if (code === 'ETIMEDOUT') return 'the filesystem does not answer; choose a DATA_FILE on a local disk or volume';
  return 'choose a DATA_FILE in a writable folder on a local disk or volume';
}

/**
 * Parses the data file. The JSON.parse message is never used (newer Nodes
 * quote a piece of the input in it, and the file holds secrets): only the
 * position, turned into a byte offset and a line number.
 */
function parseDataFile(path: string, text: string): FileShape {
  const fix = 'restore it from a backup or move it away (a missing file starts an empty store)';
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec(err instanceof Error ? err.message : '');
    let where = '';
    if (m) {
      const pos = Math.min(Number(m[1]), text.length);
      const before = text.slice(0, pos);
      where = ` at byte ${Buffer.byteLength(before, 'utf8')} (line ${before.split('\n').length})`;
    } else if (text.trim() === '') {
      where = ' (the file is empty)';
    }
    throw new DataFileError(`DATA_FILE=${path}: not valid JSON${where}; ${fix}`);
  }
  const d = data as Partial<FileShape> | null;
  const problem =
    d === null || typeof d !== 'object' || Array.isArray(d)
      ? 'is not a JSON object'
      : d.format !== 'consumer-authz/1'
        ? 'has no "format": "consumer-authz/1" (not a consumer-authz data file)'
        : typeof d.epoch !== 'string'
          ? '"epoch" is not a string'
          : !Number.isSafeInteger(d.rev) || (d.rev as number) < 0
            ? '"rev" is not a non-negative integer'
            : !Array.isArray(d.consumers) || d.consumers.some((c) => c === null || typeof c !== 'object' || typeof c.name !== 'string')
              ? '"consumers" is not a list of consumer records'
              : !Array.isArray(d.routes) || d.routes.some((r) => r === null || typeof r !== 'object' || typeof r.route !== 'string')
                ? '"routes" is not a list of route records'
                : d.log === null || typeof d.log !== 'object' || Array.isArray(d.log) || Object.values(d.log).some((v) => !Number.isSafeInteger(v))
                  ? '"log" is not a map of revisions'
                  : d.audit !== undefined && !Array.isArray(d.audit)
                    ? '"audit" is not a list'
                    : undefined;
  if (problem) throw new DataFileError(`DATA_FILE=${path}: ${problem}; ${fix}`);
  return d as FileShape;
}

function byRoute(a: RouteRecord, b: RouteRecord): number {
  return a.route < b.route ? -1 : a.route > b.route ? 1 : 0;
}

function page<T>(all: T[], key: (t: T) => string, limit: number, after?: string): Page<T> {
  const sorted = all
    .filter((t) => after === undefined || key(t) > after)
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const items = sorted.slice(0, limit);
  const last = items[items.length - 1];
  return sorted.length > limit && last ? { items, next: key(last) } : { items };
}

/** Whether a route write's condition holds: any record (undefined), none (null), or the record the writer read. */
function isAsRead(stored: RouteRecord | undefined, asRead: RouteRecord | null | undefined): boolean {
  if (asRead === undefined) return true;
  if (asRead === null) return stored === undefined;
  return stored !== undefined && JSON.stringify(stored) === JSON.stringify(asRead);
}
