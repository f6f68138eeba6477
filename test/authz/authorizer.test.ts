/**
 * The Authorizer on a ConsumerReplica fed directly (ConsumerReplica.apply), with an
 * injected clock: every reason code, every credential source, and the
 * malformed and ambiguous requests that must never be allowed.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/authz/authorizer.js';
import type { Decision } from '../../src/authz/decision.js';
import { ALL_REASONS, REASONS, type Reason } from '../../src/authz/reasons.js';
import type { AuthzRequest } from '../../src/authz/request.js';
import { generateSystemKey } from '../../src/consumers/api-keys.js';
import type { ConsumerRecord, CredentialSource } from '../../src/consumers/model.js';
import { createLogger } from '../../src/log.js';
import { ConsumerReplica } from '../../src/replica/consumer-replica.js';
import { FileStore } from '../../src/store/file-store.js';
import { Replicator } from '../../src/replica/replicator.js';
import { apiKeyConsumer, apiKeyRecord, changeSet, FIXTURE_TIME } from '../helpers/fixtures.js';
import { authorizerOn } from '../helpers/stack.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const EXPIRY = '2026-06-01T01:00:00.000Z';

const ALICE_KEY = generateSystemKey(); // bearer
const BOB_KEY = 'bob-custom-key-0001'; // header x-api-key
const CAROL_KEY = 'carol&key%with=odd+chars'; // query api_key
const DAVE_KEY = generateSystemKey(); // bearer, disabled
const ERIN_KEY = generateSystemKey(); // bearer, expires at EXPIRY

/** An API-key consumer with keys `key_<name><i>` (fixtures.ts defaults for the rest). */
function rec(name: string, source: CredentialSource, keys: Array<{ key: string; expiresAt?: string }>, enabled = true): ConsumerRecord {
  return apiKeyConsumer(name, keys.map((k, i) => apiKeyRecord(`key_${name}${i}`, k.key, k.expiresAt ?? null)), { source, enabled });
}

let now = T0;
let dir: ConsumerReplica;
let authz: Authorizer;

beforeEach(() => {
  now = T0;
  ({ replica: dir, authorizer: authz } = authorizerOn(
    changeSet({
      consumers: [
        rec('alice', { in: 'bearer' }, [{ key: ALICE_KEY }]),
        rec('bob', { in: 'header', name: 'x-api-key' }, [{ key: BOB_KEY }]),
        rec('carol', { in: 'query', name: 'api_key' }, [{ key: CAROL_KEY }]),
        rec('dave', { in: 'bearer' }, [{ key: DAVE_KEY }], false),
        rec('erin', { in: 'bearer' }, [{ key: ERIN_KEY, expiresAt: EXPIRY }]),
      ],
      routes: [{ route: 'chat', consumers: ['alice'], updatedAt: FIXTURE_TIME }],
    }),
    { now: () => now },
  ));
});

function req(r: Partial<AuthzRequest>): AuthzRequest {
  return { id: 'r1', method: 'GET', path: '/v1/chat', headers: {}, route: '', ...r };
}

/** API-key checks answer synchronously; a promise here would be a regression. */
function sync(d: Decision | Promise<Decision>): Decision {
  if (d instanceof Promise) throw new Error('an API-key check answered asynchronously');
  return d;
}

function check(r: Partial<AuthzRequest>): Decision {
  return sync(authz.check(req(r)));
}

function reason(d: Decision | Promise<Decision>): Reason | 'allow' {
  d = sync(d);
  return d.allow ? 'allow' : d.reason;
}

function allowedAs(d: Decision): string | undefined {
  return d.allow ? d.identity.consumerName : undefined;
}

const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
const q = (k: string) => encodeURIComponent(k);

describe('reason codes', () => {
  it('covers every reason in the table (this file tests each one below; route_mismatch and path_not_normal: route-naming.test.ts; rate_limited and quota_exhausted: test/limits/)', () => {
    expect(ALL_REASONS.sort()).toEqual(
      ['authz_unavailable', 'consumer_disabled', 'expired_credential', 'grant_expired', 'invalid_credential', 'missing_credential', 'route_forbidden',
        'route_mismatch', 'path_not_normal', 'rate_limited', 'quota_exhausted'].sort(),
    );
  });

  it('missing_credential: nothing in any source', () => {
    expect(reason(check({}))).toBe('missing_credential');
    // a header nobody reads keys from does not count
    expect(reason(check({ headers: { 'x-other-key': BOB_KEY } }))).toBe('missing_credential');
    // a query parameter nobody reads does not count
    expect(reason(check({ path: `/v1/chat?key=${q(CAROL_KEY)}` }))).toBe('missing_credential');
  });

  it('invalid_credential: an unknown key', () => {
    expect(reason(check({ headers: bearer('nobody-has-this-key-0001') }))).toBe('invalid_credential');
    expect(reason(check({ headers: bearer(generateSystemKey()) }))).toBe('invalid_credential');
    expect(reason(check({ headers: { 'x-api-key': 'nobody-has-this-key-0001' } }))).toBe('invalid_credential');
  });

  it('expired_credential: refused from the expiry instant on, allowed one ms before', () => {
    now = Date.parse(EXPIRY) - 1;
    expect(allowedAs(check({ headers: bearer(ERIN_KEY) }))).toBe('erin');
    now = Date.parse(EXPIRY);
    expect(reason(check({ headers: bearer(ERIN_KEY) }))).toBe('expired_credential');
    now = Date.parse(EXPIRY) + 86_400_000;
    expect(reason(check({ headers: bearer(ERIN_KEY) }))).toBe('expired_credential');
  });

  it('consumer_disabled', () => {
    expect(reason(check({ headers: bearer(DAVE_KEY) }))).toBe('consumer_disabled');
  });

  it('grant_expired: a short-term grant admits until its expiry, by the clock at Check; a long-term grantee is unaffected', () => {
    const until = new Date(T0 + 60_000).toISOString();
    dir.apply(changeSet({ rev: 2, routes: [{ route: 'chat', consumers: ['alice', 'bob'], expires: { bob: until }, updatedAt: FIXTURE_TIME }] }));
    now = T0 + 59_999;
    expect(reason(check({ route: 'chat', headers: { 'x-api-key': BOB_KEY } }))).toBe('allow');
    now = T0 + 60_000;
    const d = check({ route: 'chat', headers: { 'x-api-key': BOB_KEY } });
    expect(reason(d)).toBe('grant_expired');
    expect(REASONS.grant_expired).toMatchObject({ http: 403, grpc: 7 });
    expect(reason(check({ route: 'chat', headers: bearer(ALICE_KEY) }))).toBe('allow');
    expect(reason(check({ route: 'other', headers: { 'x-api-key': BOB_KEY } }))).toBe('allow');
    // not granted at all stays route_forbidden
    expect(reason(check({ route: 'chat', path: `/v1/chat?api_key=${q(CAROL_KEY)}` }))).toBe('route_forbidden');
    // renewed: admitted again; the expiry is dropped when the route changes
    dir.apply(changeSet({ rev: 3, routes: [{ route: 'chat', consumers: ['alice', 'bob'], updatedAt: FIXTURE_TIME }] }));
    expect(reason(check({ route: 'chat', headers: { 'x-api-key': BOB_KEY } }))).toBe('allow');
  });

  it('route_forbidden: a granted route admits only its consumers; other routes admit all', () => {
    expect(allowedAs(check({ route: 'chat', headers: bearer(ALICE_KEY) }))).toBe('alice');
    expect(reason(check({ route: 'chat', headers: { 'x-api-key': BOB_KEY } }))).toBe('route_forbidden');
    expect(allowedAs(check({ route: 'models', headers: { 'x-api-key': BOB_KEY } }))).toBe('bob');
    expect(allowedAs(check({ route: '', headers: { 'x-api-key': BOB_KEY } }))).toBe('bob');
  });

  it('authentication comes before authorization: a bad key on a granted route is 401, not 403', () => {
    expect(reason(check({ route: 'chat', headers: bearer('nobody-has-this-key-0001') }))).toBe('invalid_credential');
    expect(reason(check({ route: 'chat' }))).toBe('missing_credential');
  });

  it('authz_unavailable: replica not authoritative and the key unknown (or nothing found)', () => {
    dir.authoritative = false;
    expect(reason(check({ headers: bearer('nobody-has-this-key-0001') }))).toBe('authz_unavailable');
    expect(reason(check({}))).toBe('authz_unavailable');
    // a key the replica knows is still answered from memory
    expect(allowedAs(check({ headers: bearer(ALICE_KEY) }))).toBe('alice');
    expect(reason(check({ headers: bearer(DAVE_KEY) }))).toBe('consumer_disabled');
    // a malformed credential is refused without the store
    expect(reason(check({ headers: { authorization: 'Bearer' } }))).toBe('invalid_credential');
  });

  it('authz_unavailable on a cold, empty replica', () => {
    const cold = authorizerOn(changeSet({}), { now: () => now, authoritative: false }).authorizer;
    expect(reason(cold.check(req({ headers: bearer(ALICE_KEY) })))).toBe('authz_unavailable');
  });
});

describe('credential sources', () => {
  it('bearer: scheme is case-insensitive; the Authorization header is stripped', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const d = check({ headers: { authorization: `${scheme} ${ALICE_KEY}` } });
      expect(allowedAs(d)).toBe('alice');
      expect(d.allow && d.strip).toEqual({ header: 'authorization' });
    }
  });

  it('bearer: other schemes are refused', () => {
    expect(reason(check({ headers: { authorization: `Basic ${ALICE_KEY}` } }))).toBe('invalid_credential');
    expect(reason(check({ headers: { authorization: ALICE_KEY } }))).toBe('invalid_credential');
  });

  it('custom header: read and stripped', () => {
    const d = check({ headers: { 'x-api-key': BOB_KEY } });
    expect(allowedAs(d)).toBe('bob');
    expect(d.allow && d.strip).toEqual({ header: 'x-api-key' });
  });

  it('query parameter: among other parameters, before a #fragment, percent-encoded', () => {
    for (const path of [
      `/v1/models?api_key=${q(CAROL_KEY)}`,
      `/v1/models?limit=5&api_key=${q(CAROL_KEY)}&x=1`,
      `/v1/models?limit=5&api_key=${q(CAROL_KEY)}#section`,
      `/v1/models?api_key=${q(CAROL_KEY).replace(/%26/g, '%26')}&empty=&flag`,
    ]) {
      const d = check({ path });
      expect(allowedAs(d), path).toBe('carol');
      expect(d.allow && d.strip).toEqual({ query: 'api_key' });
    }
    // every character percent-encoded
    const all = [...Buffer.from(CAROL_KEY)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    expect(allowedAs(check({ path: `/x?api_key=${all}` }))).toBe('carol');
    // the fragment is not part of the value
    expect(reason(check({ path: `/x?api_key=${q(CAROL_KEY)}extra#frag` }))).toBe('invalid_credential');
    // '+' is not a space: the raw '+' in the key must be sent as '+' or %2B
    expect(allowedAs(check({ path: `/x?api_key=${CAROL_KEY.replace('&', '%26').replace('%w', '%25w').replace('=', '%3D')}` }))).toBe('carol');
  });
});

describe('a key counts only from its own source', () => {
  it("a bearer consumer's key in a header or the query is invalid", () => {
    expect(reason(check({ headers: { 'x-api-key': ALICE_KEY } }))).toBe('invalid_credential');
    expect(reason(check({ path: `/x?api_key=${ALICE_KEY}` }))).toBe('invalid_credential');
  });

  it("a header consumer's key as bearer or query is invalid", () => {
    expect(reason(check({ headers: bearer(BOB_KEY) }))).toBe('invalid_credential');
    expect(reason(check({ path: `/x?api_key=${BOB_KEY}` }))).toBe('invalid_credential');
  });

  it("a query consumer's key as bearer or header is invalid", () => {
    expect(reason(check({ headers: { 'x-api-key': CAROL_KEY } }))).toBe('invalid_credential');
    expect(reason(check({ headers: bearer(CAROL_KEY) }))).toBe('invalid_credential');
  });

  it('the right key in the right place plus the same key in a wrong place is invalid', () => {
    expect(reason(check({ headers: { ...bearer(ALICE_KEY), 'x-api-key': ALICE_KEY } }))).toBe('invalid_credential');
  });
});

describe('ambiguous requests are refused', () => {
  it('two different valid credentials in one request', () => {
    expect(reason(check({ headers: { ...bearer(ALICE_KEY), 'x-api-key': BOB_KEY } }))).toBe('invalid_credential');
    expect(reason(check({ headers: bearer(ALICE_KEY), path: `/x?api_key=${q(CAROL_KEY)}` }))).toBe('invalid_credential');
    expect(reason(check({ headers: { 'x-api-key': BOB_KEY }, path: `/x?api_key=${q(CAROL_KEY)}` }))).toBe('invalid_credential');
  });

  it('a valid credential plus a value no consumer owns is invalid (one rule: every credential found must resolve to the same one)', () => {
    // Until issue 10 this was allowed, and the unknown value went upstream unstripped.
    expect(reason(check({ headers: { ...bearer(ALICE_KEY), 'x-api-key': 'nobody-has-this-key-0001' } }))).toBe('invalid_credential');
    expect(reason(check({ headers: { 'x-api-key': BOB_KEY, authorization: 'Bearer nobody-has-this-key-0001' } }))).toBe('invalid_credential');
  });

  it('the same query parameter twice (even with the same value, even with an encoded name)', () => {
    expect(reason(check({ path: `/x?api_key=${q(CAROL_KEY)}&api_key=${q(CAROL_KEY)}` }))).toBe('invalid_credential');
    expect(reason(check({ path: `/x?api_key=${q(CAROL_KEY)}&api%5Fkey=other` }))).toBe('invalid_credential');
  });

  it('a repeated header joined with a comma by Envoy', () => {
    expect(reason(check({ headers: { 'x-api-key': `${BOB_KEY},${BOB_KEY}` } }))).toBe('invalid_credential');
    expect(reason(check({ headers: { 'x-api-key': `${BOB_KEY}, nobody-has-this-key` } }))).toBe('invalid_credential');
    expect(reason(check({ headers: { authorization: `Bearer ${ALICE_KEY},Bearer ${ALICE_KEY}` } }))).toBe('invalid_credential');
    expect(reason(check({ headers: { authorization: `Bearer ${ALICE_KEY}, Bearer ${DAVE_KEY}` } }))).toBe('invalid_credential');
  });
});

describe('oversized and malformed credentials', () => {
  const bad: Array<[string, Record<string, string>]> = [
    ['10 KB bearer', bearer('a'.repeat(10 * 1024))],
    ['10 KB header', { 'x-api-key': 'a'.repeat(10 * 1024) }],
    ['empty header', { 'x-api-key': '' }],
    ['blank header', { 'x-api-key': '   ' }],
    ['Bearer without a token', { authorization: 'Bearer' }],
    ['Bearer and spaces', { authorization: 'Bearer    ' }],
    ['empty Authorization', { authorization: '' }],
    ['non-ASCII bearer', bearer('ключ-ключ-ключ-ключ')],
    ['non-ASCII header', { 'x-api-key': 'bob-custom-key-000\u00e9' }],
    ['NUL byte in the header', { 'x-api-key': `${BOB_KEY}\u0000` }],
    ['NUL byte in the bearer token', bearer(`${ALICE_KEY.slice(0, 10)}\u0000${ALICE_KEY.slice(10)}`)],
    ['system prefix, bad checksum', bearer(ALICE_KEY.slice(0, -1) + (ALICE_KEY.endsWith('A') ? 'B' : 'A'))],
    ['system prefix, truncated', bearer(ALICE_KEY.slice(0, -2))],
    ['system prefix, extended', bearer(`${ALICE_KEY}x`)],
    ['token with a trailing junk word', { authorization: `Bearer ${ALICE_KEY} extra` }],
  ];
  it.each(bad)('%s → invalid_credential', (_label, headers) => {
    expect(reason(check({ headers }))).toBe('invalid_credential');
  });

  it('oversized, empty and malformed query values → invalid_credential', () => {
    for (const path of [
      `/x?api_key=${'a'.repeat(10 * 1024)}`,
      '/x?api_key=',
      '/x?api_key',
      '/x?api_key=%zz%',
      `/x?api_key=${q(CAROL_KEY)}%00`,
    ]) {
      expect(reason(check({ path })), path).toBe('invalid_credential');
    }
  });

  it('the longest accepted length (512) still resolves; 513 is refused unread', () => {
    const long = 'k'.repeat(512);
    dir.apply(changeSet({ consumers: [rec('long', { in: 'header', name: 'x-api-key' }, [{ key: long }])] }));
    // (this feed replaced nothing else: names differ)
    expect(allowedAs(check({ headers: { 'x-api-key': long } }))).toBe('long');
    expect(reason(check({ headers: { 'x-api-key': `${long}k` } }))).toBe('invalid_credential');
  });
});

describe('the replica follows changes', () => {
  it('a removed consumer and a removed key are refused at once', () => {
    dir.apply(changeSet({ rev: 2, deleted: ['alice'] }));
    expect(reason(check({ headers: bearer(ALICE_KEY) }))).toBe('invalid_credential');
    const bob2 = { ...rec('bob', { in: 'header', name: 'x-api-key' }, [{ key: 'bob-second-key-0002' }]), version: 2 };
    dir.apply(changeSet({ rev: 3, consumers: [bob2] }));
    expect(reason(check({ headers: { 'x-api-key': BOB_KEY } }))).toBe('invalid_credential');
    expect(allowedAs(check({ headers: { 'x-api-key': 'bob-second-key-0002' } }))).toBe('bob');
  });

  it('when the last bearer consumer goes, a bearer key is still read, and is invalid', () => {
    dir.apply(changeSet({ rev: 2, deleted: ['alice', 'dave', 'erin'] }));
    expect(reason(check({ headers: bearer(ALICE_KEY) }))).toBe('invalid_credential');
  });
});

describe('fed by a FileStore through the Replicator', () => {
  it('cold → authz_unavailable; warm → decisions follow store writes', async () => {
    const store = await FileStore.open();
    const replica = new ConsumerReplica();
    const replicator = new Replicator({ store, replica, logger: createLogger('silent'), pollMs: 60_000 });
    const a = new Authorizer({ replica, now: () => now });
    await store.createConsumer(rec('alice', { in: 'bearer' }, [{ key: ALICE_KEY }]));
    expect(reason(a.check(req({ headers: bearer(ALICE_KEY) })))).toBe('authz_unavailable');
    replicator.start();
    await replicator.whenWarm();
    expect(replica.authoritative).toBe(true);
    expect(allowedAs(sync(a.check(req({ headers: bearer(ALICE_KEY) }))))).toBe('alice');
    expect(reason(a.check(req({ headers: bearer(DAVE_KEY) })))).toBe('invalid_credential');
    await store.replaceConsumer({ ...rec('alice', { in: 'bearer' }, [{ key: ALICE_KEY }], false), version: 2 });
    await replicator.sync();
    expect(reason(a.check(req({ headers: bearer(ALICE_KEY) })))).toBe('consumer_disabled');
    await store.putRoute({ route: 'chat', consumers: [], updatedAt: FIXTURE_TIME });
    await store.replaceConsumer({ ...rec('alice', { in: 'bearer' }, [{ key: ALICE_KEY }]), version: 3 });
    await replicator.sync();
    expect(reason(a.check(req({ route: 'chat', headers: bearer(ALICE_KEY) })))).toBe('route_forbidden');
    await store.deleteConsumer('alice', 3);
    await replicator.sync();
    expect(reason(a.check(req({ headers: bearer(ALICE_KEY) })))).toBe('invalid_credential');
    replicator.stop();
    await store.close();
  });
});
