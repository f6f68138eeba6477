/**
 * One contract suite for every ConsumerStore implementation: the in-memory
 * FileStore, the FileStore on a file (reopened: data and epoch survive), and
 * the RedisStore on a real redis-server.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toCheckRecord } from '../../src/consumers/check-record.js';
import type { ApiKeyRecord, ConsumerRecord, RouteRecord } from '../../src/consumers/model.js';
import { routeMatchRules } from '../../src/consumers/route-match.js';
import { FileStore } from '../../src/store/file-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { StoreConflictError, type ConsumerStore } from '../../src/store/store.js';
import type { Redis } from 'ioredis';
import { until } from '../helpers/app.js';
import { jwtConsumer, jwtKeyRecord } from '../helpers/fixtures.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/** Hash of a record's first API key. */
function firstHash(rec: ConsumerRecord | undefined): string | undefined {
  const k = rec?.auth.keys[0];
  return k && 'hash' in k ? k.hash : undefined;
}

const T0 = '2026-01-01T00:00:00.000Z';

function key(hash: string): ApiKeyRecord {
  return { id: `key_${hash}`, hash, hint: '…' + hash.slice(-4), generation: 'custom', createdAt: T0, expiresAt: null };
}

function consumer(name: string, hashes: string[] = [`h-${name}`], version = 1): ConsumerRecord {
  return {
    id: `csm_${name}`,
    name,
    description: '',
    enabled: true,
    createdAt: T0,
    updatedAt: T0,
    version,
    auth: { type: 'api-key', source: { in: 'bearer' }, keys: hashes.map(key) },
  };
}

/** A symmetric JWT consumer (the secret in the clear: no KEK below the SealedStore), made at run time. */
function symmetricJwtConsumer(name: string): ConsumerRecord {
  const k = createHash('sha256').update(`contract-${name}`).digest('base64url');
  return jwtConsumer(name, [jwtKeyRecord({ kty: 'oct', kid: `kid-${name}`, alg: 'HS256', k })]);
}

function route(name: string, consumers: string[]): RouteRecord {
  return { route: name, consumers, updatedAt: T0 };
}

async function conflict(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StoreConflictError);
    return (err as StoreConflictError).code;
  }
  throw new Error('expected a StoreConflictError, the write succeeded');
}

/** A store under test; `reopen` (when supported) closes it and opens the same data again. */
interface Harness {
  store: ConsumerStore;
  reopen?: () => Promise<ConsumerStore>;
  /**
   * Writes a route behind the store's back, as a version that did not remove
   * grants on delete left it (names of consumers that no longer exist).
   */
  plantRoute?: (rec: RouteRecord) => Promise<ConsumerStore>;
  dispose: () => Promise<void>;
}

function storeContract(label: string, opts: { reopenable: boolean; plantable?: boolean }, make: () => Promise<Harness>): void {
  describe(`ConsumerStore contract: ${label}`, () => {
    let h: Harness;
    let s: ConsumerStore;
    beforeEach(async () => {
      h = await make();
      s = h.store;
    });
    afterEach(async () => {
      await h.dispose();
    });

    it('creates and gets a consumer; an unknown name is undefined', async () => {
      await s.createConsumer(consumer('alice'));
      expect(await s.getConsumer('alice')).toEqual(consumer('alice'));
      expect(await s.getConsumer('nobody')).toBeUndefined();
    });

    it('checkChangesSince answers each consumer in its Check-only form, batch for batch as changesSince does', async () => {
      const alice: ConsumerRecord = {
        ...consumer('alice'),
        auth: { type: 'api-key', source: { in: 'header', name: 'x-api-key' }, keys: [key('a1'), { ...key('a2'), expiresAt: '2030-01-01T00:00:00.000Z' }] },
      };
      await s.createConsumer(alice);
      await s.createConsumer(symmetricJwtConsumer('bob'));
      await s.createConsumer(consumer('carol'));
      await s.replaceConsumer({ ...consumer('carol'), enabled: false, version: 2 });
      await s.createConsumer(consumer('dave'));
      await s.deleteConsumer('dave', 1);
      await s.putRoute(route('chat', ['alice']));
      for (const limit of [100, 2]) {
        for (let rev = 0, more = true; more; ) {
          const full = await s.changesSince(rev, limit);
          const check = await s.checkChangesSince(rev, limit);
          expect({ ...check, consumers: undefined }).toEqual({ ...full, consumers: undefined });
          expect([...check.consumers.keys()]).toEqual([...full.consumers.keys()]);
          for (const [name, rec] of full.consumers) {
            // Index 0 is the revision it was written at (stores stamp it differently); the rest is the record's.
            expect(check.consumers.get(name)?.slice(1) ?? null).toEqual(rec && toCheckRecord(rec).slice(1));
          }
          more = full.more;
          rev = full.rev;
        }
      }
      const all = await s.checkChangesSince(0);
      expect(all.consumers.get('carol')?.[4]).toBe(0); // disabled
      expect(all.consumers.get('dave')).toBeNull();
      expect(all.consumers.get('alice')).toEqual([expect.any(Number), 1, 'csm_alice', 'alice', 1, Date.parse(T0), 'header:x-api-key', 'key_a1', 'a1', 0, 'key_a2', 'a2', Date.parse('2030-01-01T00:00:00.000Z')]);
    });

    it('refuses a second consumer with the same name (consumer_exists) and keeps the first', async () => {
      await s.createConsumer(consumer('alice', ['h1']));
      expect(await conflict(s.createConsumer(consumer('alice', ['h2'])))).toBe('consumer_exists');
      expect(firstHash(await s.getConsumer('alice'))).toBe('h1');
      // h2 was not taken by the refused write
      await s.createConsumer(consumer('bob', ['h2']));
    });

    it('refuses a key hash owned by another consumer (credential_conflict) and writes nothing', async () => {
      await s.createConsumer(consumer('alice', ['h1']));
      expect(await conflict(s.createConsumer(consumer('bob', ['hx', 'h1'])))).toBe('credential_conflict');
      expect(await s.getConsumer('bob')).toBeUndefined();
      // hx was not reserved by the refused write
      await s.createConsumer(consumer('carol', ['hx']));
    });

    it('lists in name order with pagination (`next`)', async () => {
      const names = ['delta', 'alpha', 'echo', 'charlie', 'bravo'];
      for (const n of names) await s.createConsumer(consumer(n));
      const p1 = await s.listConsumers(2);
      expect(p1.items.map((c) => c.name)).toEqual(['alpha', 'bravo']);
      expect(p1.next).toBe('bravo');
      const p2 = await s.listConsumers(2, p1.next);
      expect(p2.items.map((c) => c.name)).toEqual(['charlie', 'delta']);
      expect(p2.next).toBe('delta');
      const p3 = await s.listConsumers(2, p2.next);
      expect(p3.items.map((c) => c.name)).toEqual(['echo']);
      expect(p3.next).toBeUndefined();
      const all = await s.listConsumers(5);
      expect(all.items).toHaveLength(5);
      expect(all.next).toBeUndefined();
      expect((await s.listConsumers(10, 'echo')).items).toEqual([]);
    });

    it('replaceConsumer is a compare-and-set on version', async () => {
      await s.createConsumer(consumer('alice'));
      const v2 = { ...consumer('alice', ['h-alice'], 2), description: 'two' };
      await s.replaceConsumer(v2);
      expect(await s.getConsumer('alice')).toEqual(v2);
      // stale writer (based on version 1 again)
      expect(await conflict(s.replaceConsumer({ ...consumer('alice', ['h-alice'], 2), description: 'stale' }))).toBe(
        'version_conflict',
      );
      // a jump ahead is also refused
      expect(await conflict(s.replaceConsumer(consumer('alice', ['h-alice'], 4)))).toBe('version_conflict');
      expect((await s.getConsumer('alice'))?.description).toBe('two');
      expect(await conflict(s.replaceConsumer(consumer('ghost', ['hg'], 2)))).toBe('consumer_not_found');
      expect(await s.getConsumer('ghost')).toBeUndefined();
    });

    it('replaceConsumer releases dropped hashes and refuses hashes owned by another consumer', async () => {
      await s.createConsumer(consumer('alice', ['a1', 'a2']));
      await s.createConsumer(consumer('bob', ['b1']));
      // alice may not take bob's hash
      expect(await conflict(s.replaceConsumer(consumer('alice', ['a1', 'a2', 'b1'], 2)))).toBe('credential_conflict');
      expect((await s.getConsumer('alice'))?.version).toBe(1);
      // alice rotates: drops a1, adds a3
      await s.replaceConsumer(consumer('alice', ['a2', 'a3'], 2));
      // a1 is free again: bob can take it
      await s.replaceConsumer(consumer('bob', ['b1', 'a1'], 2));
      // a3 is alice's: carol may not create with it
      expect(await conflict(s.createConsumer(consumer('carol', ['a3'])))).toBe('credential_conflict');
      expect(await conflict(s.createConsumer(consumer('carol', ['a1'])))).toBe('credential_conflict');
    });

    it('deleteConsumer releases its hashes; CAS on version; unknown → consumer_not_found', async () => {
      await s.createConsumer(consumer('alice', ['a1']));
      expect(await conflict(s.deleteConsumer('alice', 7))).toBe('version_conflict');
      expect(await s.getConsumer('alice')).toBeDefined();
      await s.deleteConsumer('alice', 1);
      expect(await s.getConsumer('alice')).toBeUndefined();
      expect((await s.listConsumers(10)).items).toEqual([]);
      expect(await conflict(s.deleteConsumer('alice', 1))).toBe('consumer_not_found');
      await s.createConsumer(consumer('bob', ['a1']));
      // the name is free again too
      await s.createConsumer(consumer('alice', ['a9']));
    });

    it('routes: put, get, list with pagination, delete', async () => {
      for (const n of ['alice', 'bob', 'carol']) await s.createConsumer(consumer(n));
      expect(await s.getRoute('chat')).toBeUndefined();
      await s.putRoute(route('chat', ['alice']));
      await s.putRoute(route('models', ['bob']));
      await s.putRoute(route('admin', ['carol']));
      expect(await s.getRoute('chat')).toEqual(route('chat', ['alice']));
      await s.putRoute(route('chat', ['alice', 'bob']));
      expect((await s.getRoute('chat'))?.consumers).toEqual(['alice', 'bob']);
      const p1 = await s.listRoutes(2);
      expect(p1.items.map((r) => r.route)).toEqual(['admin', 'chat']);
      expect(p1.next).toBe('chat');
      const p2 = await s.listRoutes(2, p1.next);
      expect(p2.items.map((r) => r.route)).toEqual(['models']);
      expect(p2.next).toBeUndefined();
      expect(await s.deleteRoute('chat')).toBe(true);
      expect(await s.deleteRoute('chat')).toBe(false);
      expect(await s.deleteRoute('never')).toBe(false);
      expect(await s.getRoute('chat')).toBeUndefined();
      expect((await s.listRoutes(10)).items.map((r) => r.route)).toEqual(['admin', 'models']);
    });

    it('writes issued back to back apply in the order issued (put then delete of one route)', async () => {
      await s.createConsumer(consumer('alice'));
      const put = s.putRoute(route('fast', ['alice']));
      const del = s.deleteRoute('fast');
      await put;
      expect(await del).toBe(true);
      expect(await s.getRoute('fast')).toBeUndefined();
      const create = s.createConsumer(consumer('quick'));
      const drop = s.deleteConsumer('quick', 1);
      await create;
      await drop;
      expect(await s.getConsumer('quick')).toBeUndefined();
    });

    it('changesSince: revision order, tombstones as null, a stable epoch', async () => {
      const start = await s.changesSince(0);
      expect(start.consumers.size + start.routes.size).toBe(0);
      expect(start.more).toBe(false);
      const epoch = start.epoch;
      expect(typeof epoch).toBe('string');
      expect(epoch.length).toBeGreaterThan(0);

      await s.createConsumer(consumer('alice'));
      await s.createConsumer(consumer('bob'));
      await s.putRoute(route('chat', ['alice']));
      const all = await s.changesSince(0);
      expect(all.epoch).toBe(epoch);
      expect([...all.consumers.keys()]).toEqual(['alice', 'bob']);
      expect(all.routes.get('chat')).toEqual(route('chat', ['alice']));
      expect(all.more).toBe(false);
      const rev = all.rev;
      expect(rev).toBeGreaterThan(0);

      // nothing new: same rev, empty set
      const none = await s.changesSince(rev);
      expect(none.rev).toBe(rev);
      expect(none.consumers.size + none.routes.size).toBe(0);

      // a re-write of alice moves her after bob; deletes show as null
      await s.replaceConsumer(consumer('alice', ['h-alice'], 2));
      await s.deleteConsumer('bob', 1);
      await s.deleteRoute('chat');
      const later = await s.changesSince(rev);
      expect(later.epoch).toBe(epoch);
      expect([...later.consumers.entries()]).toEqual([
        ['alice', consumer('alice', ['h-alice'], 2)],
        ['bob', null],
      ]);
      expect([...later.routes.entries()]).toEqual([['chat', null]]);
      expect(later.rev).toBeGreaterThan(rev);
      // from 0, one entry per entity, in order of each entity's last change
      const again = await s.changesSince(0);
      expect([...again.consumers.keys()]).toEqual(['alice', 'bob']);
      expect(again.rev).toBe(later.rev);
    });

    it('changesSince pages with limit and `more` until everything is seen', async () => {
      const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
      for (const n of names) await s.createConsumer(consumer(n));
      const first = await s.changesSince(0, 2);
      expect([...first.consumers.keys()]).toEqual(['n1', 'n2']);
      expect(first.more).toBe(true);
      const seen = [...first.consumers.keys()];
      let rev = first.rev;
      let more = first.more;
      let rounds = 0;
      while (more) {
        const next = await s.changesSince(rev, 2);
        expect(next.rev).toBeGreaterThanOrEqual(rev);
        seen.push(...next.consumers.keys());
        rev = next.rev;
        more = next.more;
        expect(++rounds).toBeLessThan(5);
      }
      expect(seen).toEqual(names);
      const rest = await s.changesSince(rev, 2);
      expect(rest.consumers.size).toBe(0);
      expect(rest.more).toBe(false);
    });

    it('pruneChangeLog drops tombstones up to a revision, once; a reader behind what was pruned is told to reload', async () => {
      await s.createConsumer(consumer('alice'));
      await s.createConsumer(consumer('bob'));
      const reader = (await s.changesSince(0)).rev; // a replica that saw alice and bob
      await s.deleteConsumer('bob', 1);
      await s.putRoute(route('chat', ['alice']));
      await s.deleteRoute('chat');
      const upTo = (await s.changesSince(0)).rev;
      await s.createConsumer(consumer('carol'));
      await s.deleteConsumer('carol', 1); // a tombstone newer than the bound: kept
      expect(await s.pruneChangeLog(upTo)).toBe(2);
      expect(await s.pruneChangeLog(upTo)).toBe(0); // idempotent

      const all = await s.changesSince(0);
      expect(all.truncated ?? false).toBe(false); // a full load never needs tombstones
      expect([...all.consumers.entries()]).toEqual([['alice', consumer('alice')], ['carol', null]]);
      expect(all.routes.size).toBe(0);
      // Behind the pruned deletions: told to reload (it would miss bob's delete).
      expect((await s.changesSince(reader)).truncated).toBe(true);
      // At or past them: catch-up is complete and correct.
      const after = await s.changesSince(upTo);
      expect(after.truncated ?? false).toBe(false);
      expect([...after.consumers.entries()]).toEqual([['carol', null]]);
      // A live entity is never pruned, whatever its age.
      expect(await s.pruneChangeLog(all.rev + 100)).toBe(1); // carol's tombstone
      expect([...(await s.changesSince(0)).consumers.keys()]).toEqual(['alice']);
      expect((await s.changesSince(upTo)).truncated).toBe(true);
      if (h.reopen) {
        s = await h.reopen();
        expect((await s.changesSince(upTo)).truncated).toBe(true); // the watermark is kept
        expect([...(await s.changesSince(0)).consumers.keys()]).toEqual(['alice']);
      }
    });

    it('changesSince: a revision ahead of the store, or another write at it, is `diverged`', async () => {
      await s.createConsumer(consumer('alice'));
      const set = await s.changesSince(0);
      expect(set.diverged ?? false).toBe(false);
      const same = await s.changesSince(set.rev, undefined, set.token);
      expect(same.diverged ?? false).toBe(false);
      expect(same.token).toBe(set.token);
      // The store is behind what the reader saw (e.g. restored from an older snapshot).
      expect((await s.changesSince(set.rev + 5)).diverged).toBe(true);
      if (set.token !== undefined) expect((await s.changesSince(set.rev, undefined, `${set.token}x`)).diverged).toBe(true);
    });

    it('a failed write does not bump the revision', async () => {
      await s.createConsumer(consumer('alice'));
      const { rev } = await s.changesSince(0);
      await conflict(s.createConsumer(consumer('alice')));
      await conflict(s.replaceConsumer(consumer('alice', ['h-alice'], 5)));
      await conflict(s.deleteConsumer('ghost', 1));
      const after = await s.changesSince(rev);
      expect(after.rev).toBe(rev);
      expect(after.consumers.size).toBe(0);
    });

    it("fires 'change' after a write, and the write is visible when it fires", async () => {
      const seen = new Promise<ConsumerRecord | undefined>((resolve) => {
        const off = s.on('change', () => {
          off();
          resolve(s.getConsumer('alice'));
        });
      });
      await s.createConsumer(consumer('alice'));
      expect(await seen).toEqual(consumer('alice'));
      const routeSeen = new Promise<void>((resolve) => {
        const off = s.on('change', () => {
          off();
          resolve();
        });
      });
      await s.putRoute(route('chat', ['alice']));
      await routeSeen;
    });

    it('RACE: 20 concurrent creates of one name: exactly one wins, the rest get consumer_exists', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.createConsumer(consumer('racer', [`race-${i}`]))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r.reason as StoreConflictError).code)).toEqual(Array(19).fill('consumer_exists'));
      const winner = await s.getConsumer('racer');
      const idx = results.findIndex((r) => r.status === 'fulfilled');
      expect(firstHash(winner)).toBe(`race-${idx}`);
      // the losers' hashes were not reserved
      for (let i = 0; i < 20; i++) if (i !== idx) await s.createConsumer(consumer(`free-${i}`, [`race-${i}`]));
    });

    it('RACE: 20 concurrent creates with one key hash: exactly one wins, the rest get credential_conflict', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.createConsumer(consumer(`c${String(i).padStart(2, '0')}`, ['shared']))),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as StoreConflictError).code] : []));
      expect(codes).toEqual(Array(19).fill('credential_conflict'));
      expect((await s.listConsumers(100)).items).toHaveLength(1);
    });

    it('RACE: concurrent replaces at one version: exactly one wins', async () => {
      await s.createConsumer(consumer('alice'));
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => s.replaceConsumer({ ...consumer('alice', ['h-alice'], 2), description: `w${i}` })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as StoreConflictError).code] : []));
      expect(codes).toEqual(Array(9).fill('version_conflict'));
    });

    it('putRoute refuses a name with no consumer (consumer_not_found naming it) and writes nothing', async () => {
      await s.createConsumer(consumer('alice'));
      const { rev } = await s.changesSince(0);
      const err = await s.putRoute(route('chat', ['alice', 'ghost'])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreConflictError);
      expect((err as StoreConflictError).code).toBe('consumer_not_found');
      expect((err as StoreConflictError).subject).toBe('ghost');
      expect(await s.getRoute('chat')).toBeUndefined();
      expect((await s.changesSince(rev)).rev).toBe(rev);
      await s.putRoute(route('chat', ['alice']));
      expect(await s.routesGranting('alice')).toEqual([route('chat', ['alice'])]);
      expect(await s.routesGranting('ghost')).toEqual([]);
    });

    it('putRoute keeps match rules and `open`; tying rules are refused (route_match_conflict naming the other route), nothing written', async () => {
      await s.createConsumer(consumer('alice'));
      const orders: RouteRecord = { ...route('orders', ['alice']), match: routeMatchRules([{ hosts: ['api.example.com'], path: { prefix: '/orders' } }]) };
      const docs: RouteRecord = { ...route('docs', []), open: true, match: routeMatchRules([{ path: { template: '/docs/{page}' }, methods: ['GET'] }]) };
      await s.putRoute(orders);
      await s.putRoute(docs);
      expect(await s.getRoute('orders')).toEqual(orders);
      expect(await s.getRoute('docs')).toEqual(docs);
      const { rev } = await s.changesSince(0);
      const tie: RouteRecord = { ...route('orders2', []), open: true, match: routeMatchRules([{ hosts: ['api.example.com'], path: { prefix: '/Orders' } }]) };
      const err = await s.putRoute(tie).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreConflictError);
      expect((err as StoreConflictError).code).toBe('route_match_conflict');
      expect((err as StoreConflictError).subject).toBe('orders');
      expect((err as StoreConflictError).detail).toContain('"orders2"');
      expect(await s.getRoute('orders2')).toBeUndefined();
      expect((await s.changesSince(rev)).rev).toBe(rev);
      // The same rules with a method, or on another host, do not tie; a route re-saved with its own rules does not tie with itself.
      await s.putRoute({ ...tie, match: routeMatchRules([{ hosts: ['api.example.com'], path: { prefix: '/orders' }, methods: ['POST'] }]) });
      await s.putRoute({ ...orders, consumers: [] });
      // Once a route's rules are gone (cleared or deleted), another route may take them.
      await s.putRoute(route('orders', ['alice']));
      await s.putRoute({ ...tie, match: orders.match });
      expect(await conflict(s.putRoute({ ...docs, route: 'docs2' }))).toBe('route_match_conflict');
      expect(await s.deleteRoute('docs')).toBe(true);
      await s.putRoute({ ...docs, route: 'docs2' });
      expect((await s.changesSince(0)).routes.get('docs2')).toEqual({ ...docs, route: 'docs2' });
    });

    it('RACE: 10 concurrent puts of tying rules on 10 routes: exactly one wins, the rest get route_match_conflict', async () => {
      const rules = routeMatchRules([{ path: { exact: '/same' } }]);
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => s.putRoute({ ...route(`r${i}`, []), open: true, match: rules })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as StoreConflictError).code] : []));
      expect(codes).toEqual(Array(9).fill('route_match_conflict'));
      expect((await s.listRoutes(100)).items).toHaveLength(1);
    });

    it('deleteConsumer removes it from every grant in the same write; a last grant leaves an empty list', async () => {
      for (const n of ['alice', 'bob']) await s.createConsumer(consumer(n));
      await s.putRoute(route('chat', ['alice', 'bob']));
      await s.putRoute(route('secret', ['alice']));
      await s.putRoute(route('models', ['bob']));
      await s.putRoute(route('gone', ['alice']));
      await s.deleteRoute('gone');
      await s.putRoute(route('secret', ['alice'])); // put twice: still one grant
      const { rev } = await s.changesSince(0);
      const changed = await s.deleteConsumer('alice', 1);
      expect(changed.map((r) => [r.route, r.consumers])).toEqual([
        ['chat', ['bob']],
        ['secret', []],
      ]);
      expect((await s.getRoute('chat'))?.consumers).toEqual(['bob']);
      expect((await s.getRoute('secret'))?.consumers).toEqual([]);
      expect((await s.getRoute('models'))?.consumers).toEqual(['bob']);
      expect(await s.getRoute('gone')).toBeUndefined();
      expect(await s.routesGranting('alice')).toEqual([]);
      // every changed route is in the change log, each at its own revision (a page never splits one)
      const later = await s.changesSince(rev);
      expect([...later.routes.keys()].sort()).toEqual(['chat', 'secret']);
      expect(later.routes.get('secret')?.consumers).toEqual([]);
      expect(later.consumers.get('alice')).toBeNull();
      const seen: string[] = [];
      for (let r = rev, more = true; more; ) {
        const page = await s.changesSince(r, 1);
        seen.push(...page.routes.keys(), ...page.consumers.keys());
        expect(page.rev).toBeGreaterThan(r);
        r = page.rev;
        more = (await s.changesSince(r)).rev > r;
      }
      expect(seen.sort()).toEqual(['alice', 'chat', 'secret']);
      // a consumer created under the old name inherits nothing
      await s.createConsumer(consumer('alice', ['h-alice-2']));
      expect(await s.routesGranting('alice')).toEqual([]);
      expect((await s.getRoute('secret'))?.consumers).toEqual([]);
    });

    it('a delete refused (version_conflict) leaves the grants', async () => {
      await s.createConsumer(consumer('alice'));
      await s.putRoute(route('secret', ['alice']));
      expect(await conflict(s.deleteConsumer('alice', 7))).toBe('version_conflict');
      expect((await s.getRoute('secret'))?.consumers).toEqual(['alice']);
    });

    it('pruneDanglingGrants on clean data changes nothing', async () => {
      await s.createConsumer(consumer('alice'));
      await s.putRoute(route('secret', ['alice']));
      const { rev } = await s.changesSince(0);
      expect(await s.pruneDanglingGrants()).toEqual([]);
      expect((await s.changesSince(rev)).rev).toBe(rev);
    });

    if (opts.plantable) it('upgrade: grants naming a consumer that no longer exists are dropped, once, idempotently', async () => {
      await s.createConsumer(consumer('alice'));
      await s.createConsumer(consumer('bob'));
      s = await h.plantRoute!(route('secret', ['alice', 'temp1']));
      s = await h.plantRoute!(route('old', ['temp1', 'temp2']));
      s = await h.plantRoute!(route('fine', ['bob']));
      const { rev } = await s.changesSince(0);
      // two instances at once
      const [a, b] = await Promise.all([s.pruneDanglingGrants(), s.pruneDanglingGrants()]);
      const all = [...a, ...b].map((c) => [c.before.route, c.before.consumers, c.after.consumers]);
      expect(all.sort()).toEqual([
        ['old', ['temp1', 'temp2'], []],
        ['secret', ['alice', 'temp1'], ['alice']],
      ]);
      expect((await s.getRoute('secret'))?.consumers).toEqual(['alice']);
      expect((await s.getRoute('old'))?.consumers).toEqual([]);
      expect((await s.getRoute('fine'))?.consumers).toEqual(['bob']);
      const later = await s.changesSince(rev);
      expect([...later.routes.keys()].sort()).toEqual(['old', 'secret']);
      expect(await s.pruneDanglingGrants()).toEqual([]);
      // the pass also leaves the grants findable for a later delete
      expect((await s.routesGranting('alice')).map((r) => r.route)).toEqual(['secret']);
      await s.createConsumer(consumer('temp1', ['h-temp1-new']));
      expect(await s.routesGranting('temp1')).toEqual([]);
      const changed = await s.deleteConsumer('alice', 1);
      expect(changed.map((r) => r.route)).toEqual(['secret']);
    });

    if (opts.reopenable) it('reopening keeps data, revision and epoch', async () => {
      await s.createConsumer(consumer('alice', ['a1']));
      await s.putRoute(route('chat', ['alice']));
      await s.createConsumer(consumer('bob', ['b1']));
      await s.deleteConsumer('bob', 1);
      const before = await s.changesSince(0);
      s = await h.reopen!();
      const after = await s.changesSince(0);
      expect(after.epoch).toBe(before.epoch);
      expect(after.rev).toBe(before.rev);
      expect([...after.consumers.entries()]).toEqual([...before.consumers.entries()]);
      expect(await s.getConsumer('alice')).toEqual(consumer('alice', ['a1']));
      expect(await s.getRoute('chat')).toEqual(route('chat', ['alice']));
      // hash index rebuilt: a1 still taken, b1 free
      expect(await conflict(s.createConsumer(consumer('carol', ['a1'])))).toBe('credential_conflict');
      await s.createConsumer(consumer('carol', ['b1']));
      // revisions continue after the old ones
      expect((await s.changesSince(before.rev)).consumers.has('carol')).toBe(true);
    });
  });
}

storeContract('FileStore (memory)', { reopenable: false }, async () => {
  const store = await FileStore.open();
  return { store, dispose: () => store.close() };
});

storeContract('FileStore (file, reopened)', { reopenable: true, plantable: true }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cauthz-store-'));
  const path = join(dir, 'data', 'consumers.json');
  let store = await FileStore.open({ path });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = await FileStore.open({ path });
      return store;
    },
    plantRoute: async (rec) => {
      await store.close();
      const data = JSON.parse(readFileSync(path, 'utf8')) as { rev: number; routes: RouteRecord[]; log: Record<string, number> };
      data.routes = [...data.routes.filter((r) => r.route !== rec.route), rec];
      data.log[`r:${rec.route}`] = ++data.rev;
      writeFileSync(path, JSON.stringify(data));
      store = await FileStore.open({ path });
      return store;
    },
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('RedisStore', () => {
  let redis: TestRedis;
  let admin: Redis;
  let n = 0;
  beforeAll(async () => {
    redis = await startRedis({ persist: false });
    admin = redis.client();
  });
  afterAll(async () => {
    await redis.close();
  });

  it('a history rewritten under the same revision numbers (older snapshot restored, then new writes) is `diverged`', async () => {
    const keyPrefix = `rw${++n}-${process.pid}:`;
    const store = new RedisStore({ url: redis.url, keyPrefix });
    const up = new Promise<void>((resolve) => store.on('up', resolve));
    store.connect();
    await up;
    try {
      await store.createConsumer(consumer('alice'));
      await store.createConsumer(consumer('bob'));
      const seen = await store.changesSince(0); // the replica at bob's revision
      expect(seen.token).toMatch(/^\d+\.\d+$/);
      expect((await store.changesSince(seen.rev, undefined, seen.token)).diverged).toBe(false);
      // What a restore of a snapshot taken before bob looks like: bob gone, the
      // counter one lower; then another write takes bob's revision number.
      await admin.del(`${keyPrefix}c:bob`);
      await admin.zrem(`${keyPrefix}names`, 'bob');
      await admin.zrem(`${keyPrefix}log`, 'c:bob');
      await admin.del(`${keyPrefix}k:h-bob`);
      await admin.hdel(`${keyPrefix}hist`, String(seen.rev));
      await admin.set(`${keyPrefix}rev`, String(seen.rev - 1));
      await store.createConsumer(consumer('carol'));
      const now = await store.changesSince(seen.rev, undefined, seen.token);
      expect((await store.changesSince(0)).rev).toBe(seen.rev); // same number…
      expect(now.diverged).toBe(true); // …another write
    } finally {
      await store.close();
    }
  });

  storeContract('RedisStore (real redis-server)', { reopenable: true, plantable: true }, async () => {
    const keyPrefix = `t${++n}-${process.pid}:`;
    const open = async () => {
      const store = new RedisStore({ url: redis.url, keyPrefix });
      const up = new Promise<void>((resolve) => store.on('up', resolve));
      store.connect();
      await up;
      // 'change' arrives by pub/sub: wait until the subscriber is registered.
      await until(async () => {
        const [, count] = (await admin.pubsub('NUMSUB', `${keyPrefix}events`)) as [string, number];
        return count === 1;
      });
      return store;
    };
    let store = await open();
    return {
      store,
      plantRoute: async (rec) => {
        // As an older version wrote it: no grants index, no marker.
        const rev = await admin.incr(`${keyPrefix}rev`);
        await admin
          .multi()
          .set(`${keyPrefix}r:${rec.route}`, JSON.stringify(rec))
          .zadd(`${keyPrefix}routes`, 0, rec.route)
          .zadd(`${keyPrefix}log`, rev, `r:${rec.route}`)
          .del(`${keyPrefix}grants-indexed`)
          .exec();
        return store;
      },
      reopen: async () => {
        await store.close();
        await until(async () => ((await admin.pubsub('NUMSUB', `${keyPrefix}events`)) as [string, number])[1] === 0);
        store = await open();
        return store;
      },
      dispose: async () => {
        await store.close();
        await until(async () => ((await admin.pubsub('NUMSUB', `${keyPrefix}events`)) as [string, number])[1] === 0);
      },
    };
  });
});
