/**
 * The replica's compact API-key entries: every key of a consumer resolves by
 * its binary digest to that consumer with its own id and expiry; a replaced
 * or deleted consumer leaves no key behind; sources in use follow the set.
 */
import { describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/consumers/api-keys.js';
import type { ApiKeyRecord, ConsumerRecord, CredentialSource } from '../../src/consumers/model.js';
import { ConsumerReplica } from '../../src/replica/consumer-replica.js';
import type { ChangeSet } from '../../src/store/store.js';
import { apiKeyConsumer, apiKeyRecord, changeSet } from '../helpers/fixtures.js';

const key = apiKeyRecord;

function consumer(name: string, keys: ApiKeyRecord[], source: CredentialSource = { in: 'bearer' }, enabled = true): ConsumerRecord {
  return apiKeyConsumer(name, keys, { source, enabled });
}

function change(name: string, rec: ConsumerRecord | null): ChangeSet {
  return rec ? changeSet({ consumers: [rec] }) : changeSet({ deleted: [name] });
}

describe('ConsumerReplica, API-key consumers', () => {
  it('resolves every key of a consumer to it, with that key id and expiry', () => {
    const dir = new ConsumerReplica();
    dir.apply(change('alice', consumer('alice', [key('key_1', 'first-key-0123456789'), key('key_2', 'second-key-0123456789', '2027-01-01T00:00:00.000Z')])));
    const a = dir.byKeyDigest(keyDigest('first-key-0123456789'));
    const b = dir.byKeyDigest(keyDigest('second-key-0123456789'));
    expect(a?.credentialId).toBe('key_1');
    expect(a?.expiresAtMs).toBe(Infinity);
    expect(b?.credentialId).toBe('key_2');
    expect(b?.expiresAtMs).toBe(Date.parse('2027-01-01T00:00:00.000Z'));
    expect(a?.consumer).toBe(b?.consumer);
    const rec = a!.consumer.record;
    expect({ id: rec.id, name: rec.name, enabled: rec.enabled, type: rec.auth.type }).toEqual({ id: 'csm_alice', name: 'alice', enabled: true, type: 'api-key' });
    expect(a!.consumer.sourceKey).toBe('bearer');
    expect(dir.byKeyDigest(keyDigest('third-key-0123456789'))).toBeUndefined();
  });

  it('a replaced consumer keeps only its new keys; a deleted one none', () => {
    const dir = new ConsumerReplica();
    dir.apply(change('bob', consumer('bob', [key('key_1', 'first-key-0123456789'), key('key_2', 'second-key-0123456789')])));
    dir.apply(change('bob', consumer('bob', [key('key_2', 'second-key-0123456789')], { in: 'header', name: 'x-api-key' }, false)));
    expect(dir.byKeyDigest(keyDigest('first-key-0123456789'))).toBeUndefined();
    const e = dir.byKeyDigest(keyDigest('second-key-0123456789'));
    expect(e?.credentialId).toBe('key_2');
    expect(e?.consumer.record.enabled).toBe(false);
    expect(e?.consumer.sourceKey).toBe('header:x-api-key');
    expect(dir.headerNames).toEqual(['x-api-key']);
    dir.apply(change('bob', null));
    expect(dir.byKeyDigest(keyDigest('second-key-0123456789'))).toBeUndefined();
    expect(dir.size).toBe(0);
    expect(dir.headerNames).toEqual([]);
  });

  it('counts sources across consumers and drops a source with its last consumer', () => {
    const dir = new ConsumerReplica();
    dir.apply(change('c1', consumer('c1', [key('k1', 'c1-key-0123456789abc')], { in: 'query', name: 'api_key' })));
    dir.apply(change('c2', consumer('c2', [key('k2', 'c2-key-0123456789abc')], { in: 'query', name: 'api_key' })));
    dir.apply(change('c1', null));
    expect(dir.queryNames).toEqual(['api_key']);
    expect(dir.byKeyDigest(keyDigest('c2-key-0123456789abc'))?.consumer.sourceKey).toBe('query:api_key');
    dir.apply(change('c2', null));
    expect(dir.queryNames).toEqual([]);
  });
});

describe('ConsumerReplica freshness (the staleness bound)', () => {
  it('fresh only until the bound after the send time of the last confirmation; never extended backwards', () => {
    let now = 10_000;
    const dir = new ConsumerReplica({ maxStalenessMs: 1000, clock: () => now });
    expect(dir.isFresh()).toBe(false); // nothing confirmed yet
    dir.authoritative = true;
    expect(dir.authoritative).toBe(false); // in step but never confirmed: not authoritative
    dir.confirm(9_500); // a poll sent 500 ms ago, answered now
    expect(dir.isFresh()).toBe(true);
    expect(dir.authoritative).toBe(true);
    expect(dir.stalenessMs()).toBe(500);
    now = 10_499;
    expect(dir.isFresh()).toBe(true);
    now = 10_500; // 1000 ms after the send, however late the answer came
    expect(dir.isFresh()).toBe(false);
    expect(dir.authoritative).toBe(false);
    dir.confirm(9_000); // a late answer to an older poll does not move freshness back or forth
    expect(dir.isFresh()).toBe(false);
    dir.confirm(10_400);
    expect(dir.isFresh()).toBe(true);
    dir.expire();
    expect(dir.isFresh()).toBe(false);
    expect(dir.isFresh(10_000)).toBe(false);
  });

  it('without a bound (unit tests, tools) the replica never goes stale by time', () => {
    const dir = new ConsumerReplica();
    expect(dir.isFresh()).toBe(true);
    dir.expire();
    expect(dir.isFresh(Number.MAX_VALUE)).toBe(true);
    dir.authoritative = true;
    expect(dir.authoritative).toBe(true);
    expect(dir.maxStalenessMs).toBe(Infinity);
  });
});
