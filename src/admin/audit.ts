/**
 * The audit trail of admin changes, kept in the store (a Redis stream or the
 * file store's file). The admin layer wraps every successful mutation: who
 * (the admin token's name), what (action and target), when, and the public
 * views before and after, read just before and just after the change. Views
 * never hold a key, a hash or a secret; the answers of create/add-key (which
 * hold the new key) are never recorded.
 *
 * The snapshots are not atomic with the change: a concurrent writer can slip
 * in between; the entry still names the change that was made. An audit write
 * that fails after the change succeeded is logged at error, and the change's
 * answer is still returned (the change happened; a 503 would be a lie).
 *
 * A consumer delete also removes the consumer from every route grant (in the
 * same store write); besides its `consumer.delete` entry it records one
 * `route.consumer_removed` entry per route, with that route's grants before
 * and after, by the same actor. The upgrade pass that drops grants of
 * consumers that no longer exist records the same entries as actor `system`.
 */
import type { Logger } from 'pino';
import type { ConsumerService } from './consumer-service.js';
import type { AuditEntry, ConsumerStore } from '../store/store.js';
import { invalid } from '../consumers/errors.js';
import { AdminError, adminErrorOf } from './errors.js';

/** What an admin request changes, derived from its method and path. */
interface Mutation {
  action: string;
  kind: 'consumer' | 'route';
  /** Undefined for a create: the name is in the body. */
  name: string | undefined;
}

const PATTERNS: ReadonlyArray<readonly [string, RegExp, string, 'consumer' | 'route']> = [
  ['POST', /^\/v1\/consumers$/, 'consumer.create', 'consumer'],
  ['PATCH', /^\/v1\/consumers\/([^/]+)$/, 'consumer.update', 'consumer'],
  ['DELETE', /^\/v1\/consumers\/([^/]+)$/, 'consumer.delete', 'consumer'],
  ['POST', /^\/v1\/consumers\/([^/]+)\/keys$/, 'key.add', 'consumer'],
  ['DELETE', /^\/v1\/consumers\/([^/]+)\/keys\/[^/]+$/, 'key.remove', 'consumer'],
  ['POST', /^\/v1\/consumers\/([^/]+)\/quota\/reset$/, 'quota.reset', 'consumer'],
  ['POST', /^\/v1\/consumers\/([^/]+)\/quota\/top-up$/, 'quota.top_up', 'consumer'],
  ['PUT', /^\/v1\/routes\/([^/]+)$/, 'route.put', 'route'],
  ['DELETE', /^\/v1\/routes\/([^/]+)$/, 'route.delete', 'route'],
];

export interface AuditorOptions {
  store: ConsumerStore;
  service: ConsumerService;
  logger: Logger;
  now?: () => number;
}

export class Auditor {
  readonly #store: ConsumerStore;
  readonly #service: ConsumerService;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(opts: AuditorOptions) {
    this.#store = opts.store;
    this.#service = opts.service;
    this.#log = opts.logger;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Runs an admin request; when it is a mutation and succeeds, records it.
   * A failed request records nothing.
   */
  async around<T>(actor: string, method: string, path: string, body: unknown, run: () => Promise<T>): Promise<T> {
    const m = mutationOf(method, path);
    if (!m) return run();
    const before = m.name === undefined ? null : await this.#snapshot(m.kind, m.name);
    const granting = m.action === 'consumer.delete' && m.name !== undefined ? await this.#granting(m.name) : [];
    const result = await run();
    const name = m.name ?? nameInBody(body);
    try {
      const after = name === undefined ? null : await this.#snapshot(m.kind, name);
      await this.#store.appendAudit({
        at: new Date(this.#now()).toISOString(),
        actor,
        action: m.action,
        target: `${m.kind}:${name ?? '?'}`,
        before,
        after,
      });
    } catch (err) {
      this.#log.error({ err: String(err), actor, action: m.action, target: `${m.kind}:${name ?? '?'}` }, 'audit entry could not be written');
    }
    // The routes the delete removed the consumer from, each with its grants before and after.
    for (const r of granting) {
      try {
        const after = (await this.#snapshot('route', r.route)) as { consumers?: string[] } | null;
        if (after?.consumers?.includes(m.name as string)) continue; // not changed by this delete
        await this.recordRoute(actor, 'route.consumer_removed', r, after);
      } catch (err) {
        this.#log.error({ err: String(err), actor, action: 'route.consumer_removed', target: `route:${r.route}` }, 'audit entry could not be written');
      }
    }
    return result;
  }

  /** Records a change made outside an admin request (e.g. `system` upgrade passes) or a route a delete changed. */
  async recordRoute(actor: string, action: string, before: { route: string } | null, after: unknown): Promise<void> {
    await this.#store.appendAudit({
      at: new Date(this.#now()).toISOString(),
      actor,
      action,
      target: `route:${before?.route ?? '?'}`,
      before,
      after,
    });
  }

  async #granting(name: string): Promise<Array<{ route: string }>> {
    try {
      return await this.#service.routesGranting(name);
    } catch (err) {
      if (err instanceof AdminError && err.status === 400) return [];
      throw err;
    }
  }

  /** A page of the trail, newest first. `cursor` is a `nextCursor` from an earlier page. */
  async list(limitParam: string | null, cursor: string | null): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    let limit = 100;
    if (limitParam !== null && limitParam !== '') {
      if (!/^\d{1,4}$/.test(limitParam) || Number(limitParam) < 1 || Number(limitParam) > 1000) {
        throw invalid('limit', 'must be an integer from 1 to 1000');
      }
      limit = Number(limitParam);
    }
    let before: string | undefined;
    if (cursor !== null && cursor !== '') {
      if (!/^\d{1,20}(-\d{1,20})?$/.test(cursor)) throw invalid('cursor', 'is not a cursor this API returned');
      before = cursor;
    }
    try {
      const page = await this.#store.listAudit(limit, before);
      return { items: page.items, nextCursor: page.next ?? null };
    } catch {
      throw new AdminError('store_unavailable', 'the consumer store cannot be reached');
    }
  }

  async #snapshot(kind: 'consumer' | 'route', name: string): Promise<unknown> {
    try {
      return kind === 'consumer' ? await this.#service.get(name) : await this.#service.getRoute(name);
    } catch (err) {
      if (adminErrorOf(err)?.status === 404) return null;
      if (adminErrorOf(err)?.status === 400) return null;
      throw err;
    }
  }
}

function mutationOf(method: string, path: string): Mutation | undefined {
  for (const [verb, re, action, kind] of PATTERNS) {
    if (verb !== method) continue;
    const m = re.exec(path);
    if (!m) continue;
    let name: string | undefined;
    if (m[1] !== undefined) {
      try {
        name = decodeURIComponent(m[1]);
      } catch {
        return undefined; // the request itself will be refused as invalid
      }
    }
    return { action, kind, name };
  }
  return undefined;
}

function nameInBody(body: unknown): string | undefined {
  const name = (body as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}
