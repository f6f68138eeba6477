/**
 * FileStore when the file cannot be written: the write is refused as an outage
 * and NOTHING changes (memory, revision, change log), so the replica never
 * serves a consumer the admin was told was not created.
 */
import { mkdirSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import { FileStore } from '../../src/store/file-store.js';
import { StoreUnavailableError } from '../../src/store/store.js';

const T0 = '2026-01-01T00:00:00.000Z';
function consumer(name: string, hash: string, version = 1): ConsumerRecord {
  return {
    id: `csm_${name}`, name, description: '', enabled: true, createdAt: T0, updatedAt: T0, version,
    auth: { type: 'api-key', source: { in: 'bearer' }, keys: [{ id: `key_${hash}`, hash, hint: '…', generation: 'custom', createdAt: T0, expiresAt: null }] },
  };
}

let dir: string;
let path: string;
let store: FileStore;
/** Makes every persist fail: a directory sits where the temp file goes. */
const block = () => mkdirSync(`${path}.${process.pid}.tmp`);
const unblock = () => rmdirSync(`${path}.${process.pid}.tmp`);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cauthz-fail-'));
  path = join(dir, 'consumers.json');
  store = await FileStore.open({ path });
  await store.createConsumer(consumer('alice', 'a1'));
  await store.putRoute({ route: 'chat', consumers: ['alice'], updatedAt: T0 });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('FileStore: a write that cannot be persisted changes nothing', () => {
  it.each([
    ['createConsumer', (s: FileStore) => s.createConsumer(consumer('bob', 'b1'))],
    ['replaceConsumer', (s: FileStore) => s.replaceConsumer(consumer('alice', 'a2', 2))],
    ['deleteConsumer', (s: FileStore) => s.deleteConsumer('alice', 1)],
    ['putRoute', (s: FileStore) => s.putRoute({ route: 'chat', consumers: [], updatedAt: T0 })],
    ['deleteRoute', (s: FileStore) => s.deleteRoute('chat')],
  ] as const)('%s', async (_label, write) => {
    const before = await store.changesSince(0);
    const list = await store.listConsumers(100);
    let changed = 0;
    store.on('change', () => changed++);
    block();
    await expect(write(store)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(changed).toBe(0);
    expect(await store.changesSince(0)).toEqual(before);
    expect(await store.listConsumers(100)).toEqual(list);
    expect(await store.getRoute('chat')).toEqual({ route: 'chat', consumers: ['alice'], updatedAt: T0 });
    // hash ownership is unchanged: a1 still alice's, b1/a2 still free
    unblock();
    await expect(store.createConsumer(consumer('carol', 'a1'))).rejects.toMatchObject({ code: 'credential_conflict' });
    await store.createConsumer(consumer('dave', 'b1'));
    await store.createConsumer(consumer('erin', 'a2'));
    // and the store works again, revisions continuing
    expect((await store.changesSince(before.rev)).consumers.has('erin')).toBe(true);
    const reopened = await FileStore.open({ path });
    expect((await reopened.getConsumer('alice'))?.version).toBe(1);
    await reopened.close();
  });
});
