/**
 * The Replicator's paged, pipelined full load: a data set larger than one
 * batch arrives whole, and a consumer changed while the load runs (its change
 * moves to a later page) ends up in its latest version with no key left over.
 */
import { describe, expect, it } from 'vitest';
import { hashKey, keyDigest } from '../../src/consumers/api-keys.js';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import { createLogger } from '../../src/log.js';
import { Directory } from '../../src/replica/directory.js';
import { FileStore } from '../../src/store/file-store.js';
import { Replicator } from '../../src/replica/replicator.js';
import type { ChangeSet } from '../../src/store/store.js';

const T = '2026-01-01T00:00:00.000Z';

function rec(i: number, key = `key-of-consumer-${i}`, version = 1): ConsumerRecord {
  return {
    id: `csm_${i}`,
    name: `c${i}`,
    description: '',
    enabled: true,
    createdAt: T,
    updatedAt: T,
    version,
    auth: { type: 'api-key', source: { in: 'bearer' }, keys: [{ id: `key_${i}`, hash: hashKey(key), hint: 'x…', generation: 'custom', createdAt: T, expiresAt: null }] },
  };
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
    const directory = new Directory();
    const replicator = new Replicator({ store, directory, logger: createLogger('silent'), pollMs: 60_000 });
    replicator.start();
    await replicator.whenWarm();
    await replicator.sync();
    expect(calls).toBeGreaterThan(2);
    expect(directory.size).toBe(n);
    for (const i of [1, 2000, 2001, 4499]) expect(directory.byKeyDigest(keyDigest(`key-of-consumer-${i}`))?.consumer.name).toBe(`c${i}`);
    expect(directory.byKeyDigest(keyDigest('key-of-consumer-0'))).toBeUndefined();
    expect(directory.byKeyDigest(keyDigest('rotated-key-of-consumer-0'))?.consumer.name).toBe('c0');
    replicator.stop();
    await store.close();
  });
});
