/**
 * Embedded store for a single instance with no Redis: everything lives in
 * memory and every write is persisted to one JSON file (written to a temp file,
 * fsynced, then renamed over the old one, so a crash leaves the old or the new
 * file, never half of one). With no path it is a pure in-memory store.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { credentialHashes, type ConsumerRecord, type RouteRecord } from '../consumers/model.js';
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

interface FileShape {
  format: 'consumer-authz/1';
  epoch: string;
  rev: number;
  consumers: ConsumerRecord[];
  routes: RouteRecord[];
  /** entity id (`c:name` / `r:route`) → revision of its last change, tombstones included. */
  log: Record<string, number>;
  /** Audit trail, oldest first (absent in files written before it existed). */
  audit?: AuditEntry[];
}

export interface FileStoreOptions {
  /** File to persist to; undefined keeps everything in memory only. */
  path?: string;
}

export class FileStore implements ConsumerStore {
  readonly connected = true;
  readonly #path: string | undefined;
  readonly #consumers = new Map<string, ConsumerRecord>();
  readonly #routes = new Map<string, RouteRecord>();
  readonly #hashes = new Map<string, string>();
  readonly #log = new Map<string, number>();
  readonly #events = new EventEmitter();
  #audit: AuditEntry[] = [];
  #auditSeq = 0;
  #rev = 0;
  #epoch: string = randomUUID();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(opts: FileStoreOptions) {
    this.#path = opts.path;
  }

  /** Opens the store, loading the file when it exists. */
  static async open(opts: FileStoreOptions = {}): Promise<FileStore> {
    const store = new FileStore(opts);
    if (opts.path) await store.#load(opts.path);
    return store;
  }

  async #load(path: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const data = JSON.parse(text) as FileShape;
    if (data.format !== 'consumer-authz/1') throw new Error(`${path}: not a consumer-authz data file`);
    this.#rev = data.rev;
    this.#epoch = data.epoch;
    for (const c of data.consumers) {
      this.#consumers.set(c.name, c);
      for (const h of credentialHashes(c)) this.#hashes.set(h, c.name);
    }
    for (const r of data.routes) this.#routes.set(r.route, r);
    for (const [k, v] of Object.entries(data.log)) this.#log.set(k, v);
    this.#audit = data.audit ?? [];
    this.#auditSeq = Number(this.#audit[this.#audit.length - 1]?.id ?? 0);
  }

  async #persist(): Promise<void> {
    if (!this.#path) return;
    const data: FileShape = {
      format: 'consumer-authz/1',
      epoch: this.#epoch,
      rev: this.#rev,
      consumers: [...this.#consumers.values()],
      routes: [...this.#routes.values()],
      log: Object.fromEntries(this.#log),
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
        throw new StoreUnavailableError(err);
      }
      this.#events.emit('change');
    });
    this.#queue = run.catch(() => undefined);
    return run;
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
        const next: RouteRecord = { ...r, consumers: r.consumers.filter((c) => c !== name), updatedAt: new Date().toISOString() };
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

  putRoute(rec: RouteRecord): Promise<void> {
    return this.#write(`r:${rec.route}`, () => {
      const missing = rec.consumers.find((c) => !this.#consumers.has(c));
      if (missing !== undefined) throw new StoreConflictError('consumer_not_found', missing);
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
        const after: RouteRecord = { ...r, consumers: kept, updatedAt: new Date().toISOString() };
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

  async deleteRoute(route: string): Promise<boolean> {
    // Checked inside the write queue, so a put issued just before is seen.
    const absent = new Error('absent');
    try {
      await this.#write(`r:${route}`, () => {
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
      await this.#persist();
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
    const changed = [...this.#log.entries()].filter(([, r]) => r > rev).sort((a, b) => a[1] - b[1]);
    const batch = changed.slice(0, limit);
    const set: ChangeSet = { epoch: this.#epoch, rev, consumers: new Map(), routes: new Map(), more: changed.length > limit };
    for (const [entity, r] of batch) {
      const id = entity.slice(2);
      if (entity.startsWith('c:')) set.consumers.set(id, this.#consumers.get(id) ?? null);
      else set.routes.set(id, this.#routes.get(id) ?? null);
      set.rev = r;
    }
    return set;
  }

  on(event: StoreEvent, listener: () => void): () => void {
    this.#events.on(event, listener);
    return () => this.#events.off(event, listener);
  }

  async close(): Promise<void> {
    await this.#queue;
    this.#events.removeAllListeners();
  }
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
