/**
 * The Redis store's layout 2 on a real redis-server: every consumer write
 * keeps its check record `q:<name>` in step (stamped with its revision), a
 * reader never takes a check record older than the consumer's change-log
 * entry (left by a previous-release writer), and the in-place upgrade from
 * layout 1 writes them all once, under a fencing lock.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseCheckRecord, toCheckRecord } from '../../src/consumers/check-record.js';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import { LAYOUT_VERSION, RedisStore } from '../../src/store/redis-store.js';
import * as scripts from '../../src/store/redis-scripts.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { apiKeyConsumer, apiKeyRecord } from '../helpers/fixtures.js';
import { previousReleaseDelete, previousReleaseReplace, seedPreviousLayout } from '../helpers/previous-layout.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let admin: Redis;
let n = 0;
let p: string;
let store: RedisStore;

beforeAll(async () => {
  redis = await startRedis({ persist: false });
  admin = redis.client();
});
afterAll(async () => {
  admin.disconnect();
  await redis.close();
});
beforeEach(async () => {
  p = `lay${++n}-${process.pid}:`;
  store = new RedisStore({ url: redis.url, keyPrefix: p });
  const up = new Promise<void>((resolve) => store.on('up', resolve));
  store.connect();
  await up;
});
afterEach(async () => {
  await store.close();
});

function rec(i: number, opts: { enabled?: boolean; version?: number } = {}): ConsumerRecord {
  return apiKeyConsumer(`c${i}`, [apiKeyRecord(`key_${i}`, `key-of-consumer-${i}-xxxxxxxx`)], opts);
}

/** The check record Redis holds for `name`, and the revision of its change-log entry. */
async function stored(name: string): Promise<{ check: unknown; logRev: number }> {
  const [q, score] = await Promise.all([admin.get(`${p}q:${name}`), admin.zscore(`${p}log`, `c:${name}`)]);
  return { check: q === null ? null : parseCheckRecord(q), logRev: Number(score) };
}

describe('check records written by every consumer write', () => {
  it('create, replace and delete keep q:<name> equal to the record, at its change-log revision', async () => {
    await store.createConsumer(rec(1));
    let s = await stored('c1');
    expect(s.check).toEqual(toCheckRecord(rec(1), s.logRev));
    const disabled = rec(1, { enabled: false, version: 2 });
    await store.replaceConsumer(disabled);
    s = await stored('c1');
    expect(s.check).toEqual(toCheckRecord(disabled, s.logRev));
    await store.deleteConsumer('c1', 2);
    expect(await admin.exists(`${p}q:c1`)).toBe(0);
  });

  it('the check records are what checkChangesSince answers (not the full records)', async () => {
    await store.createConsumer(rec(1));
    // Planted: the full record says disabled, its check record (same revision) says enabled.
    await admin.set(`${p}c:c1`, JSON.stringify(rec(1, { enabled: false })));
    expect((await store.checkChangesSince(0)).consumers.get('c1')?.[4]).toBe(1);
  });
});

describe('a check record older than its consumer (a previous-release writer)', () => {
  it('is not used: a disable by the previous release is read from the full record', async () => {
    await store.createConsumer(rec(1));
    await previousReleaseReplace(admin, p, rec(1, { enabled: false, version: 2 }));
    const s = await stored('c1');
    expect((s.check as number[])[0]).toBeLessThan(s.logRev); // the stale check record is still there…
    expect((await store.checkChangesSince(0)).consumers.get('c1')?.[4]).toBe(0); // …and not used
  });

  it('is not used: a delete by the previous release leaves q:, the consumer reads as deleted', async () => {
    await store.createConsumer(rec(1));
    await previousReleaseDelete(admin, p, rec(1));
    expect(await admin.exists(`${p}q:c1`)).toBe(1);
    const set = await store.checkChangesSince(0);
    expect(set.consumers.has('c1')).toBe(true);
    expect(set.consumers.get('c1')).toBeNull();
  });

  it('layout 1 data (no check records) reads completely, from the full records', async () => {
    const recs = Array.from({ length: 30 }, (_, i) => rec(i));
    await seedPreviousLayout(admin, p, recs);
    const set = await store.checkChangesSince(0);
    expect(set.consumers.size).toBe(30);
    for (const r of recs) expect(set.consumers.get(r.name)?.slice(1)).toEqual(toCheckRecord(r).slice(1));
  });
});

describe('upgradeLayout', () => {
  it('writes every missing check record once, sets the version, then has nothing to do', async () => {
    const recs = Array.from({ length: 5000 }, (_, i) => rec(i));
    await seedPreviousLayout(admin, p, recs);
    await store.createConsumer(rec(9999)); // written by this release: already has its check record
    expect(await store.layoutVersion()).toBe(1);
    const r = await store.upgradeLayout({ batch: 700 });
    expect(r).toEqual({ state: 'upgraded', written: 5000 });
    expect(await store.layoutVersion()).toBe(LAYOUT_VERSION);
    expect(await admin.exists(`${p}layout-lock`)).toBe(0);
    for (const i of [0, 1, 2500, 4999]) {
      const s = await stored(`c${i}`);
      expect(s.check).toEqual(toCheckRecord(rec(i), s.logRev));
    }
    expect(await store.upgradeLayout()).toEqual({ state: 'current', written: 0 });
  });

  it('another holder of the lock: busy, nothing written', async () => {
    await seedPreviousLayout(admin, p, [rec(1)]);
    await admin.set(`${p}layout-lock`, 'someone-else', 'PX', 10_000);
    expect(await store.upgradeLayout()).toEqual({ state: 'busy', written: 0 });
    expect(await admin.exists(`${p}q:c1`)).toBe(0);
  });

  it('an upgrader that lost its lock writes nothing more and does not set the version', async () => {
    await seedPreviousLayout(admin, p, Array.from({ length: 100 }, (_, i) => rec(i)));
    let steps = 0;
    const run = store.upgradeLayout({
      batch: 10,
      progress: () => {
        // After the first step the lock passes to another instance (this one was paused past its lifetime).
        if (++steps === 1) void admin.set(`${p}layout-lock`, 'the-next-upgrader', 'PX', 10_000);
      },
    });
    await expect(run).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.layoutVersion()).toBe(1);
    const written = (await admin.keys(`${p}q:*`)).length;
    expect(written).toBeLessThanOrEqual(20);
    expect(await admin.get(`${p}layout-lock`)).toBe('the-next-upgrader');
  });

  it('a consumer changed after the upgrader read it keeps the check record of its change', async () => {
    await seedPreviousLayout(admin, p, [rec(1)]);
    const readAt = String(await admin.zscore(`${p}log`, 'c:c1'));
    await store.replaceConsumer(rec(1, { enabled: false, version: 2 })); // after the read, before the upgrade's write
    await admin.set(`${p}layout-lock`, 'tok', 'PX', 10_000);
    const tail = JSON.stringify(toCheckRecord(rec(1))).slice(3); // the enabled record the upgrader read
    const wrote = await admin.eval(scripts.UPGRADE_CHECKS, 3, `${p}layout-lock`, `${p}log`, `${p}q:c1`, 'tok', 1, 'c:c1', readAt, tail);
    expect(wrote).toBe(0);
    expect((await stored('c1')).check).toEqual(toCheckRecord(rec(1, { enabled: false, version: 2 }), (await stored('c1')).logRev));
  });
});
