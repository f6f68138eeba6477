/**
 * The audit half of the ConsumerStore contract, run against both
 * implementations: append, newest-first pages with a cursor, the retention
 * cap, and (file store) survival across a reopen.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { AuditInput, ConsumerStore } from '../../src/store/store.js';
import { until } from '../helpers/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let seq = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.close();
});

const entry = (i: number): AuditInput => ({
  at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
  actor: i % 2 ? 'ci' : 'admin',
  action: 'consumer.update',
  target: `consumer:c${i}`,
  before: { enabled: true, n: i },
  after: { enabled: false, n: i },
});

const implementations: Array<[string, () => Promise<{ store: ConsumerStore; reopen?: () => Promise<ConsumerStore> }>]> = [
  [
    'FileStore',
    async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'cauthz-audit-')), 'consumers.json');
      return { store: await FileStore.open({ path }), reopen: () => FileStore.open({ path }) };
    },
  ],
  [
    'RedisStore',
    async () => {
      const store = new RedisStore({ url: redis.url, keyPrefix: `audit${++seq}:` });
      store.connect();
      await until(() => store.connected);
      return { store };
    },
  ],
];

describe.each(implementations)('%s audit trail', (_name, make) => {
  it('appends and lists newest first, in pages that a cursor continues', async () => {
    const { store, reopen } = await make();
    try {
      expect(await store.listAudit(10)).toEqual({ items: [] });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await store.appendAudit(entry(i)));
      expect(new Set(ids).size).toBe(5);

      const page1 = await store.listAudit(2);
      expect(page1.items.map((e) => e.target)).toEqual(['consumer:c4', 'consumer:c3']);
      expect(page1.items[0]).toEqual({ id: ids[4], ...entry(4) });
      expect(page1.next).toBe(ids[3]);
      const page2 = await store.listAudit(2, page1.next);
      expect(page2.items.map((e) => e.id)).toEqual([ids[2], ids[1]]);
      const page3 = await store.listAudit(2, page2.next);
      expect(page3.items.map((e) => e.id)).toEqual([ids[0]]);
      expect(page3.next).toBeUndefined();

      if (reopen) {
        await store.close();
        const again = await reopen();
        expect((await again.listAudit(10)).items.map((e) => e.id)).toEqual([...ids].reverse());
        expect(await again.appendAudit(entry(5))).not.toBe(ids[4]);
        expect((await again.listAudit(1)).items[0]?.target).toBe('consumer:c5');
        await again.close();
      }
    } finally {
      await store.close();
    }
  });
});

describe('RedisStore audit stream', () => {
  it('is a Redis stream trimmed with MAXLEN ~ under the key prefix', async () => {
    const store = new RedisStore({ url: redis.url, keyPrefix: 'auditcap:' });
    store.connect();
    await until(() => store.connected);
    try {
      await store.appendAudit(entry(1));
      const probe = redis.client();
      expect(await probe.type('auditcap:audit')).toBe('stream');
      expect(await probe.xlen('auditcap:audit')).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('fails with StoreUnavailableError while Redis is unreachable', async () => {
    const store = new RedisStore({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:' });
    store.connect();
    try {
      await expect(store.appendAudit(entry(1))).rejects.toThrow('store unavailable');
      await expect(store.listAudit(1)).rejects.toThrow('store unavailable');
    } finally {
      await store.close();
    }
  });
});
