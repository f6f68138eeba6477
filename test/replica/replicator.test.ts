/**
 * The Replicator's paged, pipelined full load: a data set larger than one
 * batch arrives whole, and a consumer changed while the load runs (its change
 * moves to a later page) ends up in its latest version with no key left over.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/consumers/api-keys.js';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import { createLogger } from '../../src/log.js';
import { ConsumerReplica } from '../../src/replica/consumer-replica.js';
import { FileStore } from '../../src/store/file-store.js';
import { Replicator } from '../../src/replica/replicator.js';
import type { ChangeSet } from '../../src/store/store.js';
import { apiKeyConsumer, apiKeyRecord } from '../helpers/fixtures.js';

function rec(i: number, key = `key-of-consumer-${i}`, version = 1): ConsumerRecord {
  return apiKeyConsumer(`c${i}`, [apiKeyRecord(`key_${i}`, key)], { version });
}

describe('Replicator full load', () => {
  it('pages through more than one batch, and a consumer changed mid-load ends up current', async () => {
    const n = 4500;
    const store = await FileStore.open();
    for (let i = 0; i < n; i++) await store.createConsumer(rec(i));
    let calls = 0;
    const changesSince = store.changesSince.bind(store);
    store.changesSince = async (rev: number, limit?: number): Promise<ChangeSet> => {
      const set = await changesSince(rev, limit);
      // While the first page is being applied, c0's key is rotated: its change moves to the end of the log.
      if (++calls === 1) await store.replaceConsumer(rec(0, 'rotated-key-of-consumer-0', 2));
      return set;
    };
    const replica = new ConsumerReplica();
    const replicator = new Replicator({ store, replica, logger: createLogger('silent'), pollMs: 60_000 });
    replicator.start();
    await replicator.whenWarm();
    await replicator.sync();
    expect(calls).toBeGreaterThan(2);
    expect(replica.size).toBe(n);
    for (const i of [1, 2000, 2001, 4499]) expect(replica.byKeyDigest(keyDigest(`key-of-consumer-${i}`))?.consumer.name).toBe(`c${i}`);
    expect(replica.byKeyDigest(keyDigest('key-of-consumer-0'))).toBeUndefined();
    expect(replica.byKeyDigest(keyDigest('rotated-key-of-consumer-0'))?.consumer.name).toBe('c0');
    replicator.stop();
    await store.close();
  });
});

/** A store whose changesSince answers are held until released (a slow or paused link). */
function holdable(store: FileStore) {
  const held: Array<() => void> = [];
  let holding = false;
  const real = store.changesSince.bind(store);
  store.changesSince = async (rev: number, limit?: number, token?: string): Promise<ChangeSet> => {
    if (holding) await new Promise<void>((r) => held.push(r));
    void token; // the FileStore keeps no tokens
    return real(rev, limit);
  };
  return {
    hold: () => (holding = true),
    release: () => {
      holding = false;
      for (const r of held.splice(0)) r();
    },
    get waiting() {
      return held.length;
    },
  };
}

describe('Replicator freshness', () => {
  it('confirms by the SEND time of the poll: an answer delayed past the bound leaves the replica stale', async () => {
    let now = 1_000;
    const clock = () => now;
    const store = await FileStore.open();
    await store.createConsumer(rec(1));
    const replica = new ConsumerReplica({ maxStalenessMs: 1000, clock });
    const replicator = new Replicator({ store, replica, logger: createLogger('silent'), pollMs: 60_000, clock });
    expect(replicator.pollMs).toBe(250); // several confirmations within the bound
    await replicator.sync();
    expect(replica.isFresh()).toBe(true);
    expect(replica.authoritative).toBe(true);

    const link = holdable(store);
    link.hold();
    now = 1_200;
    const pass = replicator.sync(); // sent at 1200, answered at 2300
    now = 2_300;
    link.release();
    await pass;
    expect(replica.isFresh()).toBe(false); // 2300 >= 1200 + 1000
    expect(replica.authoritative).toBe(false);

    // A process pause: the clock jumps; only a poll sent after it makes the replica fresh again.
    now = 9_000;
    expect(replica.isFresh()).toBe(false);
    await replicator.sync();
    expect(replica.isFresh()).toBe(true);
    expect(replica.stalenessMs()).toBe(0);
    await store.close();
  });
});

describe('Replicator: the store moved backwards', () => {
  it('a store restored from an older file (same epoch, lower revision) is reloaded: later consumers gone, new ones in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-repl-'));
    const live = join(dir, 'live.json');
    const snapshot = join(dir, 'snapshot.json');
    let store = await FileStore.open({ path: live });
    await store.createConsumer(rec(1));
    copyFileSync(live, snapshot); // taken with c1 only
    await store.createConsumer(rec(2));
    await store.createConsumer(rec(3));
    // The replica reads through a handle that can be pointed at the restored store.
    const handle = new Proxy({} as FileStore, { get: (_t, p) => { const v = Reflect.get(store, p, store); return typeof v === 'function' ? v.bind(store) : v; } });
    const reloads: string[] = [];
    const replica = new ConsumerReplica();
    const replicator = new Replicator({
      store: handle,
      replica,
      logger: createLogger('silent'),
      pollMs: 60_000,
      observer: { applied: () => {}, failed: () => {}, reloaded: (r) => reloads.push(r ?? '') },
    });
    await replicator.sync();
    expect(replica.size).toBe(3);

    await store.close();
    store = await FileStore.open({ path: snapshot }); // same epoch, revision 1
    await store.createConsumer(rec(4)); // revision 2 again, another write
    await replicator.sync();
    expect(reloads).toEqual(['diverged']);
    expect([...['c1', 'c2', 'c3', 'c4']].map((n) => replica.consumer(n) !== undefined)).toEqual([true, false, false, true]);
    expect(replica.byKeyDigest(keyDigest('key-of-consumer-2'))).toBeUndefined();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('Replicator pruning', () => {
  it('prunes tombstones the store had a retention ago; a replica behind them reloads and stays correct', async () => {
    let now = 0;
    const clock = () => now;
    const store = await FileStore.open();
    for (let i = 0; i < 5; i++) await store.createConsumer(rec(i));
    const reloads: string[] = [];
    const behind = new ConsumerReplica();
    const lagging = new Replicator({
      store, replica: behind, logger: createLogger('silent'), pollMs: 60_000, clock,
      observer: { applied: () => {}, failed: () => {}, reloaded: (r) => reloads.push(r ?? '') },
    });
    await lagging.sync(); // then cut off: it stays at this revision
    expect(behind.size).toBe(5);
    const replica = new ConsumerReplica();
    const replicator = new Replicator({ store, replica, logger: createLogger('silent'), pollMs: 60_000, clock, tombstoneRetentionMs: 60_000 });
    await replicator.sync();
    for (let i = 0; i < 4; i++) await store.deleteConsumer(`c${i}`, 1);
    now = 10_000;
    await replicator.sync(); // the store had the four tombstones at 10 s
    now = 65_000;
    expect(await replicator.prune()).toBe(0); // not a retention old yet
    now = 70_000;
    await store.deleteConsumer('c4', 1); // newer than the bound: kept
    await replicator.sync();
    expect(await replicator.prune()).toBe(4);
    expect([...(await store.changesSince(0)).consumers.keys()]).toEqual(['c4']);
    expect(replica.size).toBe(0);

    // The replica cut off since before the deletions cannot catch up from the
    // log any more: it reloads, and every deletion reaches it.
    await lagging.sync();
    expect(reloads).toEqual(['truncated']);
    expect(behind.size).toBe(0);
    await store.close();
  });
});
