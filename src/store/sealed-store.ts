/**
 * Secrets at rest: a ConsumerStore wrapper that seals the HS256 secret (`k`)
 * of every symmetric JWT consumer under the primary key-encryption key on
 * write, and opens it on read, so the store of record (Redis, the data file)
 * never holds one in the clear. Everything above (the replica, the admin
 * service) sees plain records; the admin API never returns `k` after the
 * answer that created it.
 *
 * Rotation: a record sealed under a KEK that is not the primary, or stored in
 * the clear (written before a KEK was configured, or by an older version), is
 * noted when it is read; a background pass re-seals it under the primary with
 * compare-and-set on its version (an admin change in between wins; the pass
 * never overwrites it), so several instances may run it at once. Each pass
 * that re-sealed something is logged and audited (`secrets.reseal`).
 *
 * A record sealed under a KEK this instance does not have (or that fails to
 * authenticate) is passed on without `k`: its tokens get 503
 * authz_unavailable (never allowed, never called invalid), an error naming
 * the KEK id (never a secret) is logged once per record version, and
 * `status()` (shown on /readyz) counts it.
 */
import type { Logger } from 'pino';
import { API_KEY_CHECK, type CheckRecord, type JwtCheck } from '../consumers/check-record.js';
import type { AuthRecord, ConsumerRecord, JwtKeyRecord, StoredJwk } from '../consumers/model.js';
import { SealError, seal, sealedKeyId, secretAad, unseal, type Keyring } from '../consumers/secret-seal.js';
import {
  StoreConflictError,
  StoreUnavailableError,
  type AuditEntry,
  type AuditInput,
  type ChangeSet,
  type ConsumerStore,
  type Page,
  type StoreEvent,
} from './store.js';

/** What opening secrets reads of a record: a full record, or the fields of a JWT check record. */
interface OpenableRecord {
  readonly id: string;
  readonly name: string;
  readonly version: number;
  readonly auth: AuthRecord;
}

export interface SealedStoreOptions {
  store: ConsumerStore;
  /** The KEKs; undefined stores secrets in the clear (and warns once at start). */
  keyring?: Keyring;
  logger: Logger;
  now?: () => number;
  /** Delay before a re-seal pass once something needs one (ms; default 500, plus up to 500 of jitter). */
  resealDelayMs?: number;
}

/** What /readyz shows about sealed secrets. */
export interface SealStatus {
  /** Id of the KEK that seals new secrets; null when secrets are stored unencrypted. */
  primaryKek: string | null;
  /** Consumers whose secret this instance cannot open (their tokens get 503). */
  unreadable: number;
  /** KEK ids those consumers' secrets are sealed under. */
  unreadableKeks: string[];
  /** Consumers waiting for the re-seal pass (in the clear, or under an older KEK). */
  awaitingReseal: number;
}

export class SealedStore implements ConsumerStore {
  readonly #inner: ConsumerStore;
  readonly #ring: Keyring | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #delayMs: number;
  /** Consumer name → KEK id its unreadable secret names ('' when not an envelope). */
  readonly #unreadable = new Map<string, string>();
  /** Consumers whose stored secret is in the clear or under a non-primary KEK. */
  readonly #stale = new Set<string>();
  /** `name@version` already reported as unreadable. */
  readonly #reported = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<number> | undefined;
  #closed = false;

  constructor(opts: SealedStoreOptions) {
    this.#inner = opts.store;
    this.#ring = opts.keyring;
    this.#log = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#delayMs = opts.resealDelayMs ?? 500;
  }

  status(): SealStatus {
    return {
      primaryKek: this.#ring?.primary.id ?? null,
      unreadable: this.#unreadable.size,
      unreadableKeks: [...new Set(this.#unreadable.values())].sort(),
      awaitingReseal: this.#stale.size,
    };
  }

  // ---- records -------------------------------------------------------------

  /** The record as stored: every `k` of a symmetric consumer sealed under the primary (when there is a KEK). */
  #sealRecord(rec: ConsumerRecord): ConsumerRecord {
    const ring = this.#ring;
    if (!ring || rec.auth.type !== 'jwt' || rec.auth.keyType !== 'symmetric') return rec;
    const keys = rec.auth.keys.map((key): JwtKeyRecord => {
      const { k, sealed: _old, ...rest } = key.jwk;
      if (typeof k !== 'string') return key; // could not be opened here: kept as it was
      const sealed = seal(ring, Buffer.from(k, 'base64url'), secretAad(rec.id, key.kid));
      return { ...key, jwk: { ...rest, sealed } };
    });
    return { ...rec, auth: { ...rec.auth, keys } };
  }

  /** The record with every secret it can open; notes what needs re-sealing and what cannot be read. */
  #openRecord<R extends OpenableRecord>(rec: R): R {
    if (rec.auth.type !== 'jwt' || rec.auth.keyType !== 'symmetric') {
      this.#forget(rec.name);
      return rec;
    }
    const ring = this.#ring;
    let stale = false;
    let unreadable: string | undefined;
    const keys = rec.auth.keys.map((key): JwtKeyRecord => {
      const jwk = key.jwk;
      if (jwk.sealed === undefined) {
        if (ring && typeof jwk.k === 'string') stale = true;
        return key;
      }
      const kekId = sealedKeyId(jwk.sealed) ?? '';
      if (!ring) {
        unreadable ??= kekId;
        this.#report(rec, key.kid, new SealError('unknown_key', `sealed under KEK "${kekId}", and no KEK is configured (SECRETS_KEK or SECRETS_KEK_FILE)`, kekId));
        return key;
      }
      try {
        const secret = unseal(ring, jwk.sealed, secretAad(rec.id, key.kid));
        if (kekId !== ring.primary.id) stale = true;
        const { sealed: _s, ...rest } = jwk;
        const open: StoredJwk = { ...rest, k: secret.toString('base64url') };
        return { ...key, jwk: open };
      } catch (err) {
        if (!(err instanceof SealError)) throw err;
        unreadable ??= kekId;
        this.#report(rec, key.kid, err);
        return key;
      }
    });
    if (unreadable === undefined) this.#unreadable.delete(rec.name);
    else this.#unreadable.set(rec.name, unreadable);
    if (stale) {
      this.#stale.add(rec.name);
      this.#schedule();
    } else this.#stale.delete(rec.name);
    return { ...rec, auth: { ...rec.auth, keys } };
  }

  #forget(name: string): void {
    this.#unreadable.delete(name);
    this.#stale.delete(name);
  }

  #report(rec: OpenableRecord, kid: string, err: SealError): void {
    const once = `${rec.name}@${rec.version}`;
    if (this.#reported.has(once)) return;
    this.#reported.add(once);
    this.#log.error(
      { consumer: rec.name, kid, kek: err.keyId, code: err.code },
      `the HS256 secret of consumer "${rec.name}" cannot be opened (${err.message}); its tokens get 503 authz_unavailable until the KEK is configured`,
    );
  }

  // ---- re-seal pass ----------------------------------------------------------

  #schedule(): void {
    if (!this.#ring || this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.reseal().catch((err: unknown) => {
        this.#log.error({ err: String(err) }, 're-seal pass failed; it is tried again when a record needs it');
      });
    }, this.#delayMs + Math.floor(Math.random() * this.#delayMs));
    this.#timer.unref();
  }

  /**
   * Re-seals, under the primary KEK, every record noted as in the clear or
   * under an older KEK; resolves with how many it rewrote. Compare-and-set on
   * each record's version: a record changed meanwhile is left to whoever
   * changed it (its write sealed it under their primary; if that is not ours,
   * reading it notes it again).
   */
  reseal(): Promise<number> {
    this.#pass ??= this.#resealAll().finally(() => {
      this.#pass = undefined;
    });
    return this.#pass;
  }

  async #resealAll(): Promise<number> {
    const ring = this.#ring;
    if (!ring) return 0;
    let done = 0;
    let conflicts = 0;
    const total = this.#stale.size;
    try {
      for (const name of [...this.#stale]) {
        if (this.#closed) break;
        const raw = await this.#inner.getConsumer(name);
        if (!raw) {
          this.#forget(name);
          continue;
        }
        const open = this.#openRecord(raw);
        if (!this.#stale.has(name)) continue;
        // Same record, secrets sealed under the primary, one version later; updatedAt stays (no admin change).
        const next: ConsumerRecord = { ...this.#sealRecord(open), version: raw.version + 1 };
        try {
          await this.#inner.replaceConsumer(next);
          this.#stale.delete(name);
          done++;
        } catch (err) {
          if (!(err instanceof StoreConflictError)) throw err;
          this.#stale.delete(name); // changed meanwhile: the change log brings the new version
          conflicts++;
        }
        if (done > 0 && done % 1000 === 0) this.#log.info({ resealed: done, of: total, kek: ring.primary.id }, 're-sealing symmetric JWT secrets');
      }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.#log.warn({ resealed: done, remaining: this.#stale.size }, 're-seal pass stopped: the store cannot be reached; it resumes later');
      this.#schedule();
    }
    if (done > 0) {
      this.#log.info({ resealed: done, conflicts, remaining: this.#stale.size, kek: ring.primary.id }, 'symmetric JWT secrets re-sealed under the primary KEK');
      await this.#inner
        .appendAudit({
          at: new Date(this.#now()).toISOString(),
          actor: 'system',
          action: 'secrets.reseal',
          target: `kek:${ring.primary.id}`,
          before: null,
          after: { resealed: done, remaining: this.#stale.size },
        })
        .catch((err: unknown) => this.#log.error({ err: String(err) }, 'audit entry could not be written'));
    }
    if (this.#stale.size > 0) this.#schedule();
    return done;
  }

  // ---- ConsumerStore -------------------------------------------------------

  createConsumer(rec: ConsumerRecord): Promise<void> {
    return this.#inner.createConsumer(this.#sealRecord(rec));
  }

  replaceConsumer(rec: ConsumerRecord): Promise<void> {
    return this.#inner.replaceConsumer(this.#sealRecord(rec));
  }

  deleteConsumer(name: string, version: number) {
    return this.#inner.deleteConsumer(name, version).then((routes) => {
      this.#forget(name);
      return routes;
    });
  }

  async getConsumer(name: string): Promise<ConsumerRecord | undefined> {
    const rec = await this.#inner.getConsumer(name);
    return rec && this.#openRecord(rec);
  }

  async listConsumers(limit: number, after?: string): Promise<Page<ConsumerRecord>> {
    const page = await this.#inner.listConsumers(limit, after);
    return { ...page, items: page.items.map((r) => this.#openRecord(r)) };
  }

  async changesSince(rev: number, limit?: number, token?: string): Promise<ChangeSet> {
    const set = await this.#inner.changesSince(rev, limit, token);
    for (const [name, rec] of set.consumers) {
      if (rec) set.consumers.set(name, this.#openRecord(rec));
      else this.#forget(name);
    }
    return set;
  }

  /** As changesSince: the secrets of JWT check records are opened the same way. */
  async checkChangesSince(rev: number, limit?: number, token?: string): Promise<ChangeSet<CheckRecord>> {
    const set = await this.#inner.checkChangesSince(rev, limit, token);
    for (const [name, check] of set.consumers) {
      if (!check || check[1] === API_KEY_CHECK) {
        this.#forget(name);
        continue;
      }
      const [, , id, , , , version, auth] = check;
      const open = this.#openRecord({ id, name, version, auth });
      if (open.auth !== auth) {
        // Everything else as read (limits, when the record has them, come after auth).
        const opened = [...check];
        opened[7] = open.auth;
        set.consumers.set(name, opened as unknown as JwtCheck);
      }
    }
    return set;
  }

  putRoute: ConsumerStore['putRoute'] = (rec, asRead) => this.#inner.putRoute(rec, asRead);
  deleteRoute: ConsumerStore['deleteRoute'] = (route, asRead) => this.#inner.deleteRoute(route, asRead);
  getRoute: ConsumerStore['getRoute'] = (route) => this.#inner.getRoute(route);
  listRoutes: ConsumerStore['listRoutes'] = (limit, after) => this.#inner.listRoutes(limit, after);
  routesGranting: ConsumerStore['routesGranting'] = (consumer) => this.#inner.routesGranting(consumer);
  pruneDanglingGrants: ConsumerStore['pruneDanglingGrants'] = () => this.#inner.pruneDanglingGrants();
  pruneChangeLog: ConsumerStore['pruneChangeLog'] = (upTo) => this.#inner.pruneChangeLog(upTo);

  appendAudit(entry: AuditInput): Promise<string> {
    return this.#inner.appendAudit(entry);
  }

  listAudit(limit: number, before?: string): Promise<Page<AuditEntry>> {
    return this.#inner.listAudit(limit, before);
  }

  on(event: StoreEvent, listener: () => void): () => void {
    return this.#inner.on(event, listener);
  }

  get connected(): boolean {
    return this.#inner.connected;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pass?.catch(() => undefined);
    await this.#inner.close();
  }
}
