/**
 * Consumer management: the operations behind the admin API and the CLI.
 * Validates input, makes and hashes keys, and writes through the store with
 * compare-and-set. Returns views; a plaintext key leaves only in the answer to
 * the call that created it.
 */
import { AdminError, invalid } from '../admin/errors.js';
import { StoreConflictError, StoreUnavailableError, type ConsumerStore } from '../store/store.js';
import {
  customKeyProblem,
  generateSystemKey,
  hashKey,
  keyHint,
  newId,
} from './api-keys.js';
import {
  keyView,
  toView,
  type ApiKeyRecord,
  type ApiKeyView,
  type ConsumerRecord,
  type ConsumerView,
  type RouteRecord,
} from './model.js';
import * as v from './validate.js';

export interface ConsumerServiceOptions {
  store: ConsumerStore;
  now?: () => number;
}

export interface Created {
  consumer: ConsumerView;
  apiKey: string;
}

const CAS_ATTEMPTS = 8;

export class ConsumerService {
  readonly #store: ConsumerStore;
  readonly #now: () => number;

  constructor(opts: ConsumerServiceOptions) {
    this.#store = opts.store;
    this.#now = opts.now ?? Date.now;
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }

  async create(input: unknown): Promise<Created> {
    const body = v.object(input, 'body');
    v.onlyFields(body, ['name', 'description', 'enabled', 'auth'], '');
    const name = v.consumerName(body.name);
    const description = v.description(body.description);
    const enabled = v.bool(body.enabled, 'enabled', true);
    const auth = v.object(body.auth, 'auth');
    if (auth.type !== 'api-key') throw invalid('auth.type', 'must be "api-key"');
    v.onlyFields(auth, ['type', 'generation', 'key', 'source', 'expiresAt'], 'auth');
    const source = v.credentialSource(auth.source, 'auth.source');
    const { record: key, plaintext } = this.#newKey(auth, 'auth');
    const now = this.#iso();
    const rec: ConsumerRecord = {
      id: newId('csm_'),
      name,
      description,
      enabled,
      createdAt: now,
      updatedAt: now,
      version: 1,
      auth: { type: 'api-key', source, keys: [key] },
    };
    await this.#write(() => this.#store.createConsumer(rec));
    return { consumer: toView(rec), apiKey: plaintext };
  }

  /** Makes a key from `{generation?, key?, expiresAt?}` found at `field`. */
  #newKey(o: v.Json, field: string): { record: ApiKeyRecord; plaintext: string } {
    // `field` is '' for the keys endpoint, whose fields sit at the top level.
    const at = (f: string) => (field ? `${field}.${f}` : f);
    const generation = v.generation(o.generation, at('generation'));
    let plaintext: string;
    if (generation === 'custom') {
      const problem = customKeyProblem(o.key);
      if (problem) throw invalid(at('key'), o.key === undefined ? 'is required when generation is "custom"' : problem);
      plaintext = o.key as string;
    } else {
      if (o.key !== undefined) throw invalid(at('key'), 'is only accepted when generation is "custom"');
      plaintext = generateSystemKey();
    }
    const record: ApiKeyRecord = {
      id: newId('key_'),
      hash: hashKey(plaintext),
      hint: keyHint(plaintext),
      generation,
      createdAt: this.#iso(),
      expiresAt: v.expiresAt(o.expiresAt, at('expiresAt'), this.#now()),
    };
    return { record, plaintext };
  }

  async list(limitParam: string | null, cursor: string | null): Promise<{ items: ConsumerView[]; nextCursor: string | null }> {
    const limit = v.limit(limitParam, 100, 1000);
    const after = cursor === null || cursor === '' ? undefined : decodeCursor(cursor);
    const page = await this.#read(() => this.#store.listConsumers(limit, after));
    return { items: page.items.map(toView), nextCursor: page.next === undefined ? null : encodeCursor(page.next) };
  }

  async get(name: string): Promise<ConsumerView> {
    return toView(await this.#require(name));
  }

  async update(name: string, input: unknown): Promise<ConsumerView> {
    const body = v.object(input, 'body');
    v.onlyFields(body, ['enabled', 'description'], '');
    const enabled = body.enabled === undefined ? undefined : v.bool(body.enabled, 'enabled', true);
    const description = body.description === undefined ? undefined : v.description(body.description);
    const rec = await this.#modify(name, (cur) => ({
      ...cur,
      enabled: enabled ?? cur.enabled,
      description: description ?? cur.description,
    }));
    return toView(rec);
  }

  async remove(name: string): Promise<void> {
    v.consumerName(name);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#require(name);
      try {
        await this.#write(() => this.#store.deleteConsumer(name, cur.version));
        return;
      } catch (err) {
        if (!isVersionConflict(err) || attempt >= CAS_ATTEMPTS) throw mapStoreError(err);
      }
    }
  }

  async addKey(name: string, input: unknown): Promise<{ key: ApiKeyView; apiKey: string }> {
    const body = v.object(input ?? {}, 'body');
    v.onlyFields(body, ['generation', 'key', 'expiresAt'], '');
    const { record, plaintext } = this.#newKey(body, '');
    await this.#modify(name, (cur) => {
      if (cur.auth.keys.length >= v.MAX_KEYS_PER_CONSUMER) {
        throw invalid('key', `a consumer holds at most ${v.MAX_KEYS_PER_CONSUMER} keys; remove one first`);
      }
      // The store only keeps hashes unique across consumers; one consumer must not hold a key twice.
      if (cur.auth.keys.some((k) => k.hash === record.hash)) {
        throw new AdminError('credential_conflict', 'this key is already in use by a consumer', 'key');
      }
      return { ...cur, auth: { ...cur.auth, keys: [...cur.auth.keys, record] } };
    });
    return { key: keyView(record), apiKey: plaintext };
  }

  async removeKey(name: string, keyId: string): Promise<void> {
    await this.#modify(name, (cur) => {
      const keys = cur.auth.keys.filter((k) => k.id !== keyId);
      if (keys.length === cur.auth.keys.length) throw new AdminError('key_not_found', `consumer "${name}" has no key "${keyId}"`);
      if (keys.length === 0) {
        throw invalid('keyId', 'this is the consumer\'s last key; add a new key first, or delete or disable the consumer');
      }
      return { ...cur, auth: { ...cur.auth, keys } };
    });
  }

  async putRoute(route: string, input: unknown): Promise<RouteRecord> {
    v.routeName(route);
    const body = v.object(input, 'body');
    v.onlyFields(body, ['consumers'], '');
    if (!Array.isArray(body.consumers)) throw invalid('consumers', 'is required and must be an array of consumer names');
    if (body.consumers.length > 10_000) throw invalid('consumers', 'must list at most 10000 names');
    const names = [...new Set(body.consumers.map((n, i) => v.consumerName(n, `consumers[${i}]`)))].sort();
    for (const n of names) {
      if (!(await this.#read(() => this.#store.getConsumer(n)))) throw invalid('consumers', `no consumer named "${n}"`);
    }
    const rec: RouteRecord = { route, consumers: names, updatedAt: this.#iso() };
    await this.#write(() => this.#store.putRoute(rec));
    return rec;
  }

  async getRoute(route: string): Promise<RouteRecord> {
    v.routeName(route);
    const rec = await this.#read(() => this.#store.getRoute(route));
    if (!rec) throw new AdminError('route_not_found', `route "${route}" has no grants`);
    return rec;
  }

  async listRoutes(limitParam: string | null, cursor: string | null): Promise<{ items: RouteRecord[]; nextCursor: string | null }> {
    const limit = v.limit(limitParam, 100, 1000);
    const after = cursor === null || cursor === '' ? undefined : decodeCursor(cursor);
    const page = await this.#read(() => this.#store.listRoutes(limit, after));
    return { items: page.items, nextCursor: page.next === undefined ? null : encodeCursor(page.next) };
  }

  async deleteRoute(route: string): Promise<void> {
    v.routeName(route);
    const existed = await this.#write(() => this.#store.deleteRoute(route));
    if (!existed) throw new AdminError('route_not_found', `route "${route}" has no grants`);
  }

  async #require(name: string): Promise<ConsumerRecord> {
    v.consumerName(name);
    const rec = await this.#read(() => this.#store.getConsumer(name));
    if (!rec) throw new AdminError('consumer_not_found', `no consumer named "${name}"`);
    return rec;
  }

  /** Read-modify-write with compare-and-set, retried on a concurrent change. */
  async #modify(name: string, change: (cur: ConsumerRecord) => ConsumerRecord): Promise<ConsumerRecord> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#require(name);
      const next: ConsumerRecord = { ...change(cur), version: cur.version + 1, updatedAt: this.#iso() };
      try {
        await this.#write(() => this.#store.replaceConsumer(next));
        return next;
      } catch (err) {
        if (!isVersionConflict(err) || attempt >= CAS_ATTEMPTS) throw mapStoreError(err);
      }
    }
  }

  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapStoreError(err);
    }
  }

  async #write<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isVersionConflict(err)) throw err;
      throw mapStoreError(err);
    }
  }
}

function isVersionConflict(err: unknown): boolean {
  return err instanceof StoreConflictError && err.code === 'version_conflict';
}

function mapStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) {
    return new AdminError('store_unavailable', 'the consumer store cannot be reached; nothing was changed');
  }
  if (err instanceof StoreConflictError) {
    switch (err.code) {
      case 'consumer_exists':
        return new AdminError('consumer_exists', 'a consumer with this name already exists', 'name');
      case 'credential_conflict':
        return new AdminError('credential_conflict', 'this key is already in use by a consumer', 'key');
      case 'consumer_not_found':
        return new AdminError('consumer_not_found', 'the consumer does not exist');
      case 'version_conflict':
        return new AdminError('store_unavailable', 'the consumer kept changing; try again');
    }
  }
  return err;
}

function encodeCursor(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const name = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!v.NAME_RE.test(name) && !v.ROUTE_RE.test(name)) throw invalid('cursor', 'is not a cursor this API returned');
  return name;
}
