/**
 * Redis store of record, shared by every instance.
 *
 * Layout under the key prefix P (default `cauthz:`):
 *   P c:<name>   consumer record (JSON)       P names   sorted set of names
 *   P k:<hash>   name owning a key hash       P routes  sorted set of routes
 *   P r:<route>  route grants (JSON)          P rev     revision counter
 *   P g:<name>   set of routes whose grants name the consumer (grants index)
 *   P matches    hash: route → its match rules (JSON), for the conflict check on save
 *   P matchrev   counter of changes to P matches (the conflict check's compare-and-set)
 *   P q:<name>   the consumer's Check-only record (check-record.ts), stamped with its revision
 *   P layout     the layout version (2: every consumer has its q:); P layout-lock  the upgrader's lock
 *   P grants-indexed  present once the upgrade pass built the grants index
 *   P log        sorted set: entity → revision of its last change
 *   P events     pub/sub channel: a revision was written
 *   P epoch      name of the data set          P audit   stream of admin changes
 *   P hist       hash: revision → name of its write (the last HISTORY_REVISIONS)
 *   P logpruned  highest tombstone revision pruned from the log
 *   P logscan    revision up to which the pruner has looked at the log
 *
 * REDIS_URL may name a standalone server, Sentinels or a Cluster (see
 * redis-connection.ts). In Cluster mode the prefix is a hash tag
 * (`{cauthz}:`), so every key above lives in one slot and every script's keys
 * hash together.
 *
 * Commands fail fast while disconnected (no offline queue), so a caller learns
 * of an outage at once instead of waiting on a queue. A link that goes silent
 * (packets dropped, Redis paused) is dropped and redialled once no byte has
 * come back for `readTimeoutMs` while a reply is awaited; a command with no
 * answer fails after `writeTimeoutMs`; reconnects back off to at most 200 ms.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { RedisOptions } from 'ioredis';
import { checkRecordTail, parseCheckRecord, toCheckRecord, type CheckRecord } from '../consumers/check-record.js';
import { credentialHashes, withoutGrantees, type ConsumerRecord, type RouteRecord } from '../consumers/model.js';
import { matchConflict, type RouteMatchRule } from '../consumers/route-match.js';
import { createRedisClient, effectiveKeyPrefix, parseRedisUrl, type RedisClient } from './redis-connection.js';
import * as scripts from './redis-scripts.js';
import type { QuotaCount, QuotaTake, TokenTake, UsageCounters } from './usage-counters.js';
import {
  AUDIT_MAX_ENTRIES,
  StoreConflictError,
  StoreUnavailableError,
  type AuditEntry,
  type AuditInput,
  type ChangeSet,
  type ConsumerStore,
  type Page,
  type StoreConflictCode,
  type StoreEvent,
} from './store.js';

export interface RedisStoreOptions {
  url: string;
  keyPrefix?: string;
  /** A private CA (PEM) for rediss:// URLs. */
  tlsCa?: string;
  /**
   * How long the link may stay silent while a reply is awaited before it is
   * dropped and redialled (ioredis socketTimeout; default 1000 ms). The
   * service sets min(MAX_STALENESS_MS, 1000).
   */
  readTimeoutMs?: number;
  /** How long any command may wait for its answer (ioredis commandTimeout; default 3000 ms). */
  writeTimeoutMs?: number;
  /** Extra ioredis options (tests shorten retry delays). */
  redis?: RedisOptions;
}

/**
 * The store layout this release writes (key `layout`): 2 = every consumer has
 * its Check-only record `q:<name>`. No key: the previous layout (full records
 * only), which `upgradeLayout` brings up to date in place.
 */
export const LAYOUT_VERSION = 2;

/** What `upgradeLayout` did. */
export interface LayoutUpgrade {
  /** `current`: nothing to do; `upgraded`: this call did it; `busy`: another instance holds the upgrade lock. */
  state: 'current' | 'upgraded' | 'busy';
  /** Check records written by this call. */
  written: number;
}

export interface LayoutUpgradeOptions {
  /** How long the lock outlives its holder's last renewal (ms; default 5000). Renewed every third of it. */
  lockTtlMs?: number;
  /** Change-log entries per step (default 2000). */
  batch?: number;
  /** Told after each step: entries looked at so far, check records written so far. */
  progress?: (seen: number, written: number) => void;
}

/** Tombstones the pruner looks at per script call (each call is one atomic step in Redis). */
const PRUNE_BATCH = 1000;
/** Compare-and-set rounds a write retries when what it read changed under it. */
const RETRIES = 16;

const CONFLICTS = new Set<string>(['consumer_exists', 'credential_conflict', 'consumer_not_found', 'version_conflict']);

/**
 * A write that failed after it left this process (the connection dropped or
 * the command timed out while Redis was slow or paused) may still be applied
 * by Redis: a paused server runs what it had already received when it
 * resumes. Only a write the client never sent (no connection, the offline
 * queue is off) certainly changed nothing.
 */
const UNCONFIRMED_WRITE =
  'the consumer store did not confirm this write, so it may have been applied; read it back before retrying (a retry of a write that landed is refused with a conflict or changes nothing more)';

function unsent(err: unknown): boolean {
  // ioredis refuses at once, without sending, while disconnected:
  // "Stream isn't writeable and enableOfflineQueue options is false" (and
  // "Cluster isn't ready and …"). Anything else may have reached Redis.
  return err instanceof Error && err.message.includes('enableOfflineQueue options is false');
}

export class RedisStore implements ConsumerStore, UsageCounters {
  readonly #client: RedisClient;
  readonly #sub: RedisClient;
  readonly #p: string;
  readonly #events = new EventEmitter();
  #closed = false;

  constructor(opts: RedisStoreOptions) {
    const target = parseRedisUrl(opts.url);
    this.#p = effectiveKeyPrefix(target, opts.keyPrefix ?? 'cauthz:');
    const readTimeout = opts.readTimeoutMs ?? 1000;
    const base: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      // No byte back for this long while a reply is awaited: the link is dead
      // (dropped packets, a paused Redis) even if TCP has not noticed; redial.
      socketTimeout: readTimeout,
      commandTimeout: opts.writeTimeoutMs ?? 3000,
      // TCP keepalive probes after 5 s idle (the OS default waits 2 hours).
      keepAlive: 5000,
      // Short and capped: Redis back means the replica catches up within a
      // fraction of the staleness bound, not after a long back-off.
      retryStrategy: (attempt) => Math.min(25 * 2 ** Math.min(attempt, 3), 200),
      ...opts.redis,
    };
    const tls = opts.tlsCa ? { ca: opts.tlsCa } : {};
    this.#client = createRedisClient(target, base, tls);
    // The subscriber may queue its SUBSCRIBE until connected. Outside Cluster it
    // subscribes again itself on every 'ready' (below): ioredis's own
    // resubscribe leaves its promise unhandled when the link closes again
    // during it, an unhandled rejection that would end the process.
    const ownSubscribe = target.kind !== 'cluster';
    this.#sub = createRedisClient(target, { ...base, enableOfflineQueue: true, ...(ownSubscribe ? { autoResubscribe: false } : {}) }, tls);
    this.#client.on('ready', () => this.#events.emit('up'));
    this.#client.on('close', () => {
      if (this.#closed) return;
      this.#events.emit('down');
      // The subscriber may sit on a link that went silent the same way; notice
      // of changes must not wait for TCP to find out.
      if (this.#sub.status === 'ready') this.#sub.disconnect(true);
    });
    // Errors are reported through 'close'/'down' and failed commands; the
    // last one is kept to say why Redis cannot be reached (linkError).
    this.#client.on('error', (err: Error) => {
      this.#linkError = String(err.message).replace(/\s+/g, ' ').slice(0, 200);
    });
    this.#client.on('ready', () => (this.#linkError = undefined));
    this.#sub.on('error', () => {});
    this.#sub.on('message', () => this.#events.emit('change'));
    this.#sub.on('ready', () => {
      if (ownSubscribe && this.#subscribed) this.#sub.subscribe(this.#key('events')).catch(() => {});
      this.#events.emit('change');
    });
  }

  #linkError: string | undefined;

  /** Why the last connection attempt failed (e.g. `connect ECONNREFUSED 10.0.0.5:6379`); undefined once connected. */
  get linkError(): string | undefined {
    return this.#linkError;
  }

  /** True once connect() asked for the change channel (the subscriber then re-subscribes on each reconnect). */
  #subscribed = false;

  /** Starts connecting; resolves at once. `up` fires when Redis answers. */
  connect(): void {
    this.#client.connect().catch(() => {});
    this.#sub.connect().catch(() => {});
    this.#subscribed = true;
    this.#sub.subscribe(this.#key('events')).catch(() => {});
  }

  /** The key prefix in use (a hash tag in Cluster mode). */
  get keyPrefix(): string {
    return this.#p;
  }

  get connected(): boolean {
    return this.#client.status === 'ready';
  }

  #key(s: string): string {
    return this.#p + s;
  }

  async #run(script: string, keys: string[], args: (string | number)[]): Promise<string> {
    let out: unknown;
    try {
      out = await this.#client.eval(script, keys.length, ...keys, ...args);
    } catch (err) {
      throw new StoreUnavailableError(err, unsent(err) ? undefined : UNCONFIRMED_WRITE);
    }
    if (typeof out === 'string' && CONFLICTS.has(out)) throw new StoreConflictError(out as StoreConflictCode);
    return String(out);
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  }

  #head(entity: string): string[] {
    return [this.#key(entity), this.#key('rev'), this.#key('log')];
  }

  #channel(): string {
    return this.#key('events');
  }

  async createConsumer(rec: ConsumerRecord): Promise<void> {
    const entity = `c:${rec.name}`;
    const hashKeys = credentialHashes(rec).map((h) => this.#key(`k:${h}`));
    await this.#run(
      scripts.CREATE_CONSUMER,
      [...this.#head(entity), this.#key('names'), this.#key(`q:${rec.name}`), ...hashKeys],
      [entity, this.#channel(), rec.name, JSON.stringify(rec), checkRecordTail(rec)],
    );
  }

  async replaceConsumer(rec: ConsumerRecord): Promise<void> {
    const cur = await this.getConsumer(rec.name);
    if (!cur) throw new StoreConflictError('consumer_not_found');
    if (cur.version !== rec.version - 1) throw new StoreConflictError('version_conflict');
    const before = new Set(credentialHashes(cur));
    const after = new Set(credentialHashes(rec));
    const added = [...after].filter((h) => !before.has(h)).map((h) => this.#key(`k:${h}`));
    const removed = [...before].filter((h) => !after.has(h)).map((h) => this.#key(`k:${h}`));
    const entity = `c:${rec.name}`;
    await this.#run(
      scripts.REPLACE_CONSUMER,
      [...this.#head(entity), this.#key(`q:${rec.name}`), ...added, ...removed],
      [entity, this.#channel(), rec.name, JSON.stringify(rec), cur.version, added.length, checkRecordTail(rec)],
    );
  }

  async deleteConsumer(name: string, version: number): Promise<RouteRecord[]> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.getConsumer(name);
      if (!cur) throw new StoreConflictError('consumer_not_found');
      const entity = `c:${name}`;
      const hashKeys = credentialHashes(cur).map((h) => this.#key(`k:${h}`));
      const routes = await this.#grantsOf(name);
      const changed: RouteRecord[] = [];
      const args: string[] = [];
      const now = new Date().toISOString();
      for (const r of routes) {
        let next = '';
        if (r.rec?.consumers.includes(name)) {
          const after = withoutGrantees(r.rec, (c) => c === name, now);
          changed.push(after);
          next = JSON.stringify(after);
        }
        args.push(r.route, r.json, next);
      }
      const out = await this.#run(
        scripts.DELETE_CONSUMER,
        [
          ...this.#head(entity),
          this.#key('names'),
          this.#key(`g:${name}`),
          this.#key(`q:${name}`),
          ...hashKeys,
          ...routes.map((r) => this.#key(`r:${r.route}`)),
        ],
        [entity, this.#channel(), name, version, hashKeys.length, routes.length, ...args],
      );
      if (out === 'ok') return changed;
      if (attempt >= RETRIES) throw new StoreUnavailableError(new Error('routes kept changing during a consumer delete'));
    }
  }

  /**
   * The routes that may grant `name`, as read (JSON text for the scripts'
   * compare-and-set): every route its grants index names, and, until the
   * upgrade pass has built the index, every route that lists it.
   */
  async #grantsOf(name: string): Promise<Array<{ route: string; json: string; rec: RouteRecord | undefined }>> {
    const [indexed, members] = await this.#call(() =>
      Promise.all([this.#client.exists(this.#key('grants-indexed')), this.#client.smembers(this.#key(`g:${name}`))]),
    );
    const names = new Set(members);
    if (indexed === 0) {
      for (let after: string | undefined, first = true; first || after !== undefined; first = false) {
        const page = await this.listRoutes(1000, after);
        for (const r of page.items) if (r.consumers.includes(name)) names.add(r.route);
        after = page.next;
      }
    }
    const list = [...names].sort();
    if (list.length === 0) return [];
    const values = await this.#call(() => this.#client.mget(...list.map((r) => this.#key(`r:${r}`))));
    return list.map((route, i) => {
      const json = values[i] ?? '';
      return { route, json, rec: json ? (JSON.parse(json) as RouteRecord) : undefined };
    });
  }

  async routesGranting(consumer: string): Promise<RouteRecord[]> {
    const all = await this.#grantsOf(consumer);
    return all.flatMap((r) => (r.rec?.consumers.includes(consumer) ? [r.rec] : []));
  }

  async pruneDanglingGrants(): Promise<Array<{ before: RouteRecord; after: RouteRecord }>> {
    const out: Array<{ before: RouteRecord; after: RouteRecord }> = [];
    for (let after: string | undefined, first = true; first || after !== undefined; first = false) {
      const names = await this.#call(() =>
        this.#client.zrangebylex(this.#key('routes'), after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, 200),
      );
      after = names.length === 200 ? names[names.length - 1] : undefined;
      for (const route of names) {
        const changed = await this.#pruneRoute(route);
        if (changed) out.push(changed);
      }
    }
    await this.#call(() => this.#client.set(this.#key('grants-indexed'), '1'));
    return out;
  }

  async #pruneRoute(route: string): Promise<{ before: RouteRecord; after: RouteRecord } | undefined> {
    const entity = `r:${route}`;
    for (let attempt = 0; ; attempt++) {
      const json = await this.#call(() => this.#client.get(this.#key(entity)));
      if (!json) return undefined;
      const before = JSON.parse(json) as RouteRecord;
      const exists = before.consumers.length === 0
        ? []
        : await this.#call(() => this.#client.mget(...before.consumers.map((c) => this.#key(`c:${c}`))));
      const kept = before.consumers.filter((_, i) => exists[i] !== null);
      const dropped = before.consumers.filter((_, i) => exists[i] === null);
      const gone = new Set(dropped);
      const afterRec = withoutGrantees(before, (c) => gone.has(c), new Date().toISOString());
      const res = await this.#run(
        scripts.PRUNE_ROUTE,
        [
          ...this.#head(entity),
          ...kept.map((c) => this.#key(`c:${c}`)),
          ...kept.map((c) => this.#key(`g:${c}`)),
          ...dropped.map((c) => this.#key(`c:${c}`)),
        ],
        [entity, this.#channel(), route, json, JSON.stringify(afterRec), kept.length, dropped.length],
      );
      if (res === 'ok') return { before, after: afterRec };
      if (res === 'unchanged') return undefined;
      if (attempt >= RETRIES) throw new StoreUnavailableError(new Error(`route ${route} kept changing during the grants upgrade`));
    }
  }

  async getConsumer(name: string): Promise<ConsumerRecord | undefined> {
    const json = await this.#call(() => this.#client.get(this.#key(`c:${name}`)));
    return json ? (JSON.parse(json) as ConsumerRecord) : undefined;
  }

  async listConsumers(limit: number, after?: string): Promise<Page<ConsumerRecord>> {
    return this.#page('names', 'c:', limit, after);
  }

  async putRoute(rec: RouteRecord, asRead?: RouteRecord | null): Promise<void> {
    const entity = `r:${rec.route}`;
    const names = rec.consumers;
    const rules = rec.match && rec.match.length > 0 ? rec.match : undefined;
    for (let attempt = 0; ; attempt++) {
      // Rules are checked against every other route's as read at `matchrev`;
      // the script writes only if no route's rules changed since.
      const expect = rules ? await this.#checkMatch(rec.route, rules) : '';
      const out = await this.#run(
        scripts.PUT_ROUTE,
        [
          ...this.#head(entity),
          this.#key('routes'),
          this.#key('matches'),
          this.#key('matchrev'),
          ...names.map((c) => this.#key(`c:${c}`)),
          ...names.map((c) => this.#key(`g:${c}`)),
        ],
        [entity, this.#channel(), rec.route, JSON.stringify(rec), names.length, rules ? JSON.stringify(rules) : '', expect, asReadArg(asRead)],
      );
      if (out === 'changed') throw new StoreConflictError('route_changed', rec.route);
      if (out.startsWith('missing:')) throw new StoreConflictError('consumer_not_found', names[Number(out.slice(8)) - 1]);
      if (out !== 'retry') return;
      if (attempt >= RETRIES) throw new StoreUnavailableError(new Error('route match rules kept changing during a route write'));
    }
  }

  /** Throws route_match_conflict when `rules` tie with another route's; returns the `matchrev` they were checked at. */
  async #checkMatch(route: string, rules: readonly RouteMatchRule[]): Promise<string> {
    const res = await this.#call(() => this.#client.multi().get(this.#key('matchrev')).hgetall(this.#key('matches')).exec());
    const [revReply, allReply] = res ?? [];
    if (!revReply || !allReply || revReply[0] || allReply[0]) throw new StoreUnavailableError(revReply?.[0] ?? allReply?.[0] ?? new Error('transaction aborted'));
    const all = allReply[1] as Record<string, string>;
    const others = Object.entries(all).map(([r, json]) => ({ route: r, match: JSON.parse(json) as RouteMatchRule[] }));
    const c = matchConflict(route, rules, others);
    if (c) throw new StoreConflictError('route_match_conflict', c.route, c.message);
    return (revReply[1] as string | null) ?? '0';
  }

  async deleteRoute(route: string, asRead?: RouteRecord): Promise<boolean> {
    const entity = `r:${route}`;
    const out = await this.#run(
      scripts.DELETE_ROUTE,
      [...this.#head(entity), this.#key('routes'), this.#key('matches'), this.#key('matchrev')],
      [entity, this.#channel(), route, asReadArg(asRead)],
    );
    if (out === 'changed') throw new StoreConflictError('route_changed', route);
    return out === 'ok';
  }

  async getRoute(route: string): Promise<RouteRecord | undefined> {
    const json = await this.#call(() => this.#client.get(this.#key(`r:${route}`)));
    return json ? (JSON.parse(json) as RouteRecord) : undefined;
  }

  async listRoutes(limit: number, after?: string): Promise<Page<RouteRecord>> {
    return this.#page('routes', 'r:', limit, after);
  }

  async #page<T>(index: string, kind: string, limit: number, after?: string): Promise<Page<T>> {
    const start = after === undefined ? '-' : `(${after}`;
    const names = await this.#call(() =>
      this.#client.zrangebylex(this.#key(index), start, '+', 'LIMIT', 0, limit + 1),
    );
    const more = names.length > limit;
    const slice = names.slice(0, limit);
    if (slice.length === 0) return { items: [] };
    const values = await this.#call(() => this.#client.mget(...slice.map((n) => this.#key(kind + n))));
    const items = values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as T);
    return more ? { items, next: slice[slice.length - 1] } : { items };
  }

  async changesSince(rev: number, limit = 10_000, token?: string): Promise<ChangeSet> {
    const { set, flat } = await this.#readLog(scripts.CHANGES, 2, rev, limit, token);
    if (flat.length > 0) {
      const entities: string[] = [];
      for (let i = 0; i < flat.length; i += 2) entities.push(flat[i] as string);
      const values = await this.#call(() => this.#client.mget(...entities.map((e) => this.#key(e))));
      entities.forEach((entity, i) => {
        const json = values[i];
        const id = entity.slice(2);
        if (entity.startsWith('c:')) set.consumers.set(id, json ? (JSON.parse(json) as ConsumerRecord) : null);
        else set.routes.set(id, json ? (JSON.parse(json) as RouteRecord) : null);
      });
    }
    return set;
  }

  /**
   * Each changed consumer in its check record `q:<name>` (one MGET per batch:
   * measured against a Lua script reading them with the log, Redis spent 0.8
   * µs per consumer on ZRANGEBYSCORE + MGET and 2.5 µs in Lua). A check record
   * is taken only when its revision is not older than the consumer's
   * change-log entry; otherwise (missing: data of the previous layout, not
   * upgraded yet; older: written by a previous release, which does not know
   * check records) the full record is read and converted, so the set is
   * complete and current whatever the layout.
   */
  async checkChangesSince(rev: number, limit = 10_000, token?: string): Promise<ChangeSet<CheckRecord>> {
    const { set: head, flat } = await this.#readLog(scripts.CHANGES, 2, rev, limit, token);
    const set = head as unknown as ChangeSet<CheckRecord>;
    if (flat.length === 0) return set;
    const keys: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const e = flat[i] as string;
      keys.push(e.charCodeAt(0) === 0x63 /* c */ ? `${this.#p}q:${e.slice(2)}` : this.#p + e);
    }
    const values = await this.#call(() => this.#client.mget(...keys));
    let fallback: string[] | undefined;
    for (let i = 0; i < flat.length; i += 2) {
      const entity = flat[i] as string;
      const text = values[i / 2];
      const id = entity.slice(2);
      if (entity.charCodeAt(0) !== 0x63) {
        set.routes.set(id, text ? (JSON.parse(text) as RouteRecord) : null);
        continue;
      }
      const check = text ? parseCheckRecord(text) : undefined;
      if (check && check[0] >= Number(flat[i + 1])) set.consumers.set(id, check);
      else {
        set.consumers.set(id, null); // keeps the set's order; decided below
        (fallback ??= []).push(id);
      }
    }
    if (fallback) {
      const names = fallback;
      const full = await this.#call(() => this.#client.mget(...names.map((n) => `${this.#p}c:${n}`)));
      names.forEach((name, i) => {
        const json = full[i];
        set.consumers.set(name, json ? toCheckRecord(JSON.parse(json) as ConsumerRecord) : null);
      });
    }
    return set;
  }

  /**
   * Runs the change read (scripts.CHANGES: `step` entries per entity, entity
   * and revision): the set's head (no entities yet) and the flat entries.
   */
  async #readLog(
    script: string,
    step: number,
    rev: number,
    limit: number,
    token: string | undefined,
    ...extra: string[]
  ): Promise<{ set: ChangeSet; flat: Array<string | null> }> {
    const keys = [this.#key('epoch'), this.#key('rev'), this.#key('log'), this.#key('hist'), this.#key('logpruned')];
    type Reply = [string | null, number, number, string | null, string | null, number, Array<string | null>];
    const read = () => this.#client.eval(script, keys.length, ...keys, rev, limit, ...extra) as Promise<Reply>;
    const [epoch, head, pruned, atRev, atEnd, more, flat] = await this.#call(async () => {
      const first = await read();
      if (first[0] !== null) return first;
      // No data set named yet (new or emptied Redis): name it; SET NX lets one
      // instance win, and the name lives as long as the data does.
      await this.#client.set(this.#key('epoch'), randomUUID(), 'NX');
      const again = await read();
      if (again[0] === null) throw new Error('epoch vanished');
      return again;
    });
    const set: ChangeSet = {
      epoch: epoch as string,
      rev,
      consumers: new Map(),
      routes: new Map(),
      more: more === 1,
      diverged: rev > head || (token !== undefined && atRev !== token),
      truncated: rev > 0 && rev < pruned,
    };
    const end = more === 1 ? Number(flat[flat.length - step + 1]) : head;
    if (atEnd !== null) set.token = atEnd;
    // Everything up to the head was read (or up to the batch's last entry).
    if (!set.diverged) set.rev = Math.max(rev, end);
    return { set, flat };
  }

  /** The layout version of the data (1 when no `layout` key: the previous layout). */
  async layoutVersion(): Promise<number> {
    const v = await this.#call(() => this.#client.get(this.#key('layout')));
    return v === null ? 1 : Number(v);
  }

  /**
   * Upgrades the data in place to LAYOUT_VERSION: writes the check record of
   * every consumer that lacks a current one, then sets the version. One
   * instance does it, under a lock (`SET NX PX`, renewed while it works; every
   * write is fenced by it in Lua, so an upgrader that lost the lock writes
   * nothing more); the others get `busy` and ask again later (meanwhile they
   * read full records where check records are missing, see
   * checkChangesSince). Idempotent: an upgrade killed half-way is finished by
   * the next holder, which skips what is already current. Each check record
   * is written only if its consumer is unchanged since it was read (its
   * change-log entry has the revision read), so no write is ever undone.
   */
  async upgradeLayout(opts: LayoutUpgradeOptions = {}): Promise<LayoutUpgrade> {
    if ((await this.layoutVersion()) >= LAYOUT_VERSION) return { state: 'current', written: 0 };
    const ttl = opts.lockTtlMs ?? 5000;
    const batch = opts.batch ?? 2000;
    const lock = this.#key('layout-lock');
    const token = randomUUID();
    const got = await this.#call(() => this.#client.set(lock, token, 'PX', ttl, 'NX'));
    if (got !== 'OK') return { state: 'busy', written: 0 };
    let lost = false;
    const renew = setInterval(() => {
      this.#client.eval(scripts.RENEW_LOCK, 1, lock, token, ttl).then(
        (ok) => {
          if (ok !== 1) lost = true;
        },
        () => {}, // the next fenced write tells whether the lock is still held
      );
    }, Math.max(50, Math.floor(ttl / 3)));
    renew.unref();
    const lostLock = () => new StoreUnavailableError(new Error('the layout upgrade lock was lost (the store was unreachable longer than its lifetime)'));
    try {
      let written = 0;
      let seen = 0;
      for (let rev = 0, more = true; more; ) {
        if (lost) throw lostLock();
        const { set, flat } = await this.#readLog(scripts.CHANGES, 2, rev, batch, undefined);
        more = set.more;
        rev = set.rev;
        seen += flat.length / 2;
        const names: string[] = [];
        const at: string[] = [];
        for (let i = 0; i < flat.length; i += 2) {
          const e = flat[i] as string;
          if (!e.startsWith('c:')) continue;
          names.push(e.slice(2));
          at.push(flat[i + 1] as string);
        }
        if (names.length === 0) continue;
        const values = await this.#call(() =>
          this.#client.mget(...names.map((n) => this.#key(`c:${n}`)), ...names.map((n) => this.#key(`q:${n}`))),
        );
        const keys: string[] = [];
        const args: string[] = [];
        names.forEach((name, i) => {
          const json = values[i];
          if (!json) return; // deleted: nothing to write
          const q = values[names.length + i];
          const current = q ? parseCheckRecord(q) : undefined;
          if (current && current[0] >= Number(at[i])) return; // already written by this release
          keys.push(this.#key(`q:${name}`));
          args.push(`c:${name}`, at[i] as string, checkRecordTail(JSON.parse(json) as ConsumerRecord));
        });
        if (keys.length > 0) {
          const n = (await this.#call(() =>
            this.#client.eval(scripts.UPGRADE_CHECKS, keys.length + 2, lock, this.#key('log'), ...keys, token, keys.length, ...args),
          )) as number;
          if (n < 0) throw lostLock();
          written += n;
        }
        opts.progress?.(seen, written);
      }
      const done = await this.#call(() => this.#client.eval(scripts.FINISH_UPGRADE, 2, lock, this.#key('layout'), token, LAYOUT_VERSION));
      if (done !== 1) throw lostLock();
      return { state: 'upgraded', written };
    } finally {
      clearInterval(renew);
    }
  }

  async pruneChangeLog(upTo: number): Promise<number> {
    const keys = [this.#key('log'), this.#key('logpruned'), this.#key('logscan'), this.#key('rev')];
    let dropped = 0;
    for (;;) {
      const [n, cursor, bound] = (await this.#call(() =>
        this.#client.eval(scripts.PRUNE_LOG, keys.length, ...keys, upTo, PRUNE_BATCH, this.#p),
      )) as [number, number, number];
      dropped += n;
      if (cursor >= bound) return dropped;
    }
  }

  async appendAudit(entry: AuditInput): Promise<string> {
    const id = await this.#call(() =>
      this.#client.xadd(this.#key('audit'), 'MAXLEN', '~', AUDIT_MAX_ENTRIES, '*', 'e', JSON.stringify(entry)),
    );
    return String(id);
  }

  async listAudit(limit: number, before?: string): Promise<Page<AuditEntry>> {
    const end = before === undefined ? '+' : `(${before}`;
    const rows = await this.#call(() => this.#client.xrevrange(this.#key('audit'), end, '-', 'COUNT', limit + 1));
    const items = rows.slice(0, limit).map(([id, fields]) => {
      const json = fields[fields.indexOf('e') + 1] ?? '{}';
      return { id, ...(JSON.parse(json) as AuditInput) };
    });
    const last = items[items.length - 1];
    return rows.length > limit && last ? { items, next: last.id } : { items };
  }

  on(event: StoreEvent, listener: () => void): () => void {
    this.#events.on(event, listener);
    return () => this.#events.off(event, listener);
  }

  // Usage counters (usage-counters.ts): one atomic script or command each,
  // under `u:` so they never meet the consumer data's keys.

  async takeTokens(key: string, perMs: number, burst: number, want: number, giveBack: number): Promise<TokenTake> {
    const out = (await this.#call(() => this.#client.eval(scripts.TAKE_TOKENS, 1, this.#key(`u:${key}`), perMs, burst, want, giveBack))) as string[];
    return { granted: Number(out[0]), remaining: Number(out[1]), waitMs: Number(out[2]) };
  }

  async takeQuota(key: string, limit: number, want: number, debt: number, ttlMs: number): Promise<QuotaTake> {
    const out = (await this.#call(() => this.#client.eval(scripts.TAKE_QUOTA, 1, this.#key(`u:${key}`), limit, want, debt, Math.ceil(ttlMs)))) as string[];
    return { granted: Number(out[0]), remaining: Number(out[1]) };
  }

  async quotaCount(key: string): Promise<QuotaCount> {
    const [used, credits] = await this.#call(() => this.#client.hmget(this.#key(`u:${key}`), 'used', 'credits'));
    return { used: Number(used ?? 0), credits: Number(credits ?? 0) };
  }

  async resetQuota(key: string): Promise<void> {
    await this.#call(() => this.#client.del(this.#key(`u:${key}`)));
  }

  async topUpQuota(key: string, requests: number, ttlMs: number): Promise<QuotaCount> {
    const out = (await this.#call(() => this.#client.eval(scripts.TOP_UP_QUOTA, 1, this.#key(`u:${key}`), requests, Math.ceil(ttlMs)))) as string[];
    return { used: Number(out[0]), credits: Number(out[1]) };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#events.removeAllListeners();
    this.#client.disconnect();
    this.#sub.disconnect();
  }
}

/**
 * A route write's condition for the scripts: '' any record, '-' none, else
 * the record as the writer read it. A stored route is the JSON.stringify of
 * its record, which a parse and a stringify give back unchanged.
 */
function asReadArg(asRead: RouteRecord | null | undefined): string {
  return asRead === undefined ? '' : asRead === null ? '-' : JSON.stringify(asRead);
}
