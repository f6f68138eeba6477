/**
 * SealedStore over the file store: secrets sealed in the data file, opened
 * on read; the re-seal pass is a compare-and-set that never overwrites a
 * change made meanwhile.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import { Keyring } from '../../src/consumers/secret-seal.js';
import { createLogger } from '../../src/log.js';
import { FileStore } from '../../src/store/file-store.js';
import { SealedStore } from '../../src/store/sealed-store.js';
import type { ConsumerStore } from '../../src/store/store.js';

const T0 = '2026-01-01T00:00:00.000Z';
const ring = (id: string) => new Keyring([{ id, key: createSecretKey(randomBytes(32)) }]);
const silent = createLogger('silent');

function symmetric(name: string, k: string, version = 1): ConsumerRecord {
  return {
    id: `csm_${name}`,
    name,
    description: '',
    enabled: true,
    createdAt: T0,
    updatedAt: T0,
    version,
    auth: {
      type: 'jwt',
      keyType: 'symmetric',
      keys: [{ kid: 'hs-1', jwk: { kty: 'oct', kid: 'hs-1', alg: 'HS256', k }, createdAt: T0 }],
      token: { in: 'header', name: 'authorization', prefix: 'Bearer ', passthrough: false },
      identity: { claim: 'uid', value: `${name}-uid` },
      claims: { requireExp: true, clockSkewSeconds: 0 },
      claimsToHeaders: [],
    },
  };
}

const jwkOf = (rec: ConsumerRecord | undefined) => (rec?.auth.type === 'jwt' ? rec.auth.keys[0]?.jwk : undefined);

describe('SealedStore', () => {
  it('the data file holds the sealed form only; reads give the secret back', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'cauthz-sealed-')), 'consumers.json');
    const k = randomBytes(32).toString('base64url');
    const s = new SealedStore({ store: await FileStore.open({ path }), keyring: ring('kf'), logger: silent });
    await s.createConsumer(symmetric('alice', k));
    expect(readFileSync(path, 'utf8')).not.toContain(k);
    expect(readFileSync(path, 'utf8')).toContain('"sealed":"v1.kf.');
    expect(jwkOf(await s.getConsumer('alice'))).toEqual({ kty: 'oct', kid: 'hs-1', alg: 'HS256', k });
    expect(jwkOf((await s.listConsumers(10)).items[0])?.k).toBe(k);
    expect(jwkOf((await s.changesSince(0)).consumers.get('alice') ?? undefined)?.k).toBe(k);
    await s.close();
  });

  it('a ciphertext moved to another consumer does not open there', async () => {
    const inner = await FileStore.open();
    const s = new SealedStore({ store: inner, keyring: ring('kf'), logger: silent });
    await s.createConsumer(symmetric('alice', randomBytes(32).toString('base64url')));
    const alice = (await inner.getConsumer('alice'))!;
    const stolen = { ...symmetric('mallory', 'x'), auth: { ...(alice.auth as object), identity: { claim: 'uid', value: 'mallory-uid' } } } as ConsumerRecord;
    await inner.createConsumer(stolen);
    const opened = await s.getConsumer('mallory');
    expect(jwkOf(opened)?.k).toBeUndefined();
    expect(s.status()).toMatchObject({ unreadable: 1, unreadableKeks: ['kf'] });
  });

  it('re-seal pass: compare-and-set, a change made meanwhile wins and is sealed on a later pass', async () => {
    const k = randomBytes(32).toString('base64url');
    const inner = await FileStore.open();
    await inner.createConsumer(symmetric('alice', k)); // stored in the clear, as before a KEK existed
    let interfere = true;
    // An admin change lands between the pass's read and its write.
    const racing: ConsumerStore = new Proxy(inner, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'replaceConsumer') {
          return async (rec: ConsumerRecord) => {
            if (interfere) {
              interfere = false;
              await target.replaceConsumer({ ...symmetric('alice', k, 2), description: 'changed by an admin' });
            }
            return target.replaceConsumer(rec);
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const s = new SealedStore({ store: racing, keyring: ring('kr'), logger: silent, resealDelayMs: 60_000 });
    await s.changesSince(0);
    expect(s.status().awaitingReseal).toBe(1);
    expect(await s.reseal()).toBe(0); // lost the race
    let raw = (await inner.getConsumer('alice'))!;
    expect(raw.version).toBe(2);
    expect(raw.description).toBe('changed by an admin');
    await s.changesSince(0); // the change log brings version 2, still in the clear
    expect(await s.reseal()).toBe(1);
    raw = (await inner.getConsumer('alice'))!;
    expect(raw.version).toBe(3);
    expect(raw.description).toBe('changed by an admin');
    expect(raw.updatedAt).toBe(T0);
    expect(jwkOf(raw)?.k).toBeUndefined();
    expect(jwkOf(raw)?.sealed?.startsWith('v1.kr.')).toBe(true);
    expect(jwkOf(await s.getConsumer('alice'))?.k).toBe(k);
    expect(s.status().awaitingReseal).toBe(0);
    const audit = await inner.listAudit(10);
    expect(audit.items.map((e) => [e.actor, e.action, e.target])).toEqual([['system', 'secrets.reseal', 'kek:kr']]);
    await s.close();
  });

  it('without a KEK: records pass through unchanged (in the clear)', async () => {
    const k = randomBytes(32).toString('base64url');
    const inner = await FileStore.open();
    const s = new SealedStore({ store: inner, logger: silent });
    await s.createConsumer(symmetric('alice', k));
    expect(jwkOf(await inner.getConsumer('alice'))?.k).toBe(k);
    expect(s.status()).toEqual({ primaryKek: null, unreadable: 0, unreadableKeks: [], awaitingReseal: 0 });
    expect(await s.reseal()).toBe(0);
  });
});
