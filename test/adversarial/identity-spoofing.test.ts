/**
 * Attack class: identity spoofing. Several credentials in one request, a
 * credential of one consumer dressed as another's, identity headers sent by
 * the client, JWT identity claims that name someone else.
 *
 * The rule under test (src/authz/authorizer.ts, README "Credentials"): every
 * place some consumer reads, and Authorization always, is looked at; an allow
 * needs every credential found to resolve to the same credential of the same
 * consumer; anything else beside it denies (invalid_credential). So an allowed
 * request carries exactly one credential, and that one is stripped.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/authz/decision.js';
import { expectAllow, expectDeny, expectGrpcAllow, expectGrpcDeny, jws } from '../helpers/adversary.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { harness, secs, type Harness } from '../helpers/jwt.js';

const BOB = 'bob-custom-key-0001'; // header x-api-key
const CAROL = 'carol-custom-key-0001'; // query api_key
let ALICE = ''; // bearer
let h: Harness;
let exp: number;
const secrets: Record<string, Buffer> = {};

const hs = (name: string, payload: object, header: object = { alg: 'HS256' }) =>
  jws(header, payload, (i) => createHmac('sha256', secrets[name] as Buffer).update(i).digest());

beforeAll(async () => {
  h = await harness();
  exp = secs(h.clock.now) + 600;
  ALICE = ((await h.service.create({ name: 'alice', auth: { type: 'api-key' } })) as { apiKey: string }).apiKey;
  await h.service.create({ name: 'bob', auth: { type: 'api-key', generation: 'custom', key: BOB, source: { in: 'header', name: 'x-api-key' } } });
  await h.service.create({ name: 'carol', auth: { type: 'api-key', generation: 'custom', key: CAROL, source: { in: 'query', name: 'api_key' } } });
  const jwt = async (name: string, token: object, identity: object) => {
    const r = (await h.service.create({ name, auth: { type: 'jwt', keyType: 'symmetric', token, identity } })) as { jwks: { keys: Array<{ k: string }> } };
    secrets[name] = Buffer.from(r.jwks.keys[0]!.k, 'base64url');
  };
  await jwt('dave', { in: 'header', name: 'x-jwt' }, { claim: 'uid', value: 'dave-uid' });
  await jwt('erin', { in: 'header', name: 'authorization', prefix: 'Bearer ' }, { claim: 'uid', value: 'erin-uid' });
  await jwt('fran', { in: 'query', name: 'token' }, { claim: 'sub', value: 'fran' });
  await jwt('gus', { in: 'cookie', name: 'session' }, { claim: 'uid', value: 'gus-uid' });
  await h.sync();
});

const check = (req: { headers?: Record<string, string>; path?: string }) => h.check(req);

describe('several credentials in one request: one rule', () => {
  const unknownKey = 'nobody-has-this-key-0001';
  const cases: Array<[string, () => { headers?: Record<string, string>; path?: string }]> = [
    ['valid x-api-key + unknown well-formed bearer', () => ({ headers: { 'x-api-key': BOB, authorization: `Bearer ${unknownKey}` } })],
    ['valid bearer + unknown x-api-key', () => ({ headers: { authorization: `Bearer ${ALICE}`, 'x-api-key': unknownKey } })],
    ['valid x-api-key + malformed cak_ bearer', () => ({ headers: { 'x-api-key': BOB, authorization: `Bearer cak_${'x'.repeat(38)}` } })],
    ['valid x-api-key + unknown-identity JWT as bearer', () => ({ headers: { 'x-api-key': BOB, authorization: `Bearer ${hs('erin', { uid: 'nobody', exp })}` } })],
    ['valid x-api-key + Basic credentials', () => ({ headers: { 'x-api-key': BOB, authorization: 'Basic dXNlcjpwYXNz' } })],
    ['valid x-api-key + an empty Authorization', () => ({ headers: { 'x-api-key': BOB, authorization: '' } })],
    ['valid bearer + unknown api_key parameter', () => ({ headers: { authorization: `Bearer ${ALICE}` }, path: `/x?api_key=${unknownKey}` })],
    ['valid query key + unknown x-jwt token', () => ({ path: `/x?api_key=${CAROL}`, headers: { 'x-jwt': hs('dave', { uid: 'nobody', exp }) } })],
    ['valid bearer + an unknown-identity token in the session cookie', () => ({ headers: { authorization: `Bearer ${ALICE}`, cookie: `a=1; session=${hs('gus', { uid: 'x', exp })}` } })],
    ['valid bearer + garbage in the session cookie', () => ({ headers: { authorization: `Bearer ${ALICE}`, cookie: 'session=garbage' } })],
    ['valid bearer + an unknown ?token=', () => ({ headers: { authorization: `Bearer ${ALICE}` }, path: `/x?token=${hs('fran', { sub: 'x', exp })}` })],
    ['valid JWT (x-jwt) + unknown bearer', () => ({ headers: { 'x-jwt': hs('dave', { uid: 'dave-uid', exp }), authorization: `Bearer ${unknownKey}` } })],
    ['valid JWT (x-jwt) + an expired JWT of another consumer', () => ({ headers: { 'x-jwt': hs('dave', { uid: 'dave-uid', exp }), authorization: `Bearer ${hs('erin', { uid: 'erin-uid', exp: exp - 3600 })}` } })],
    ['two valid credentials of two consumers', () => ({ headers: { authorization: `Bearer ${ALICE}`, 'x-api-key': BOB } })],
    ['two valid credentials of two consumers (JWT + key)', () => ({ headers: { 'x-jwt': hs('dave', { uid: 'dave-uid', exp }), 'x-api-key': BOB } })],
    ["alice's key in the right place and in bob's header", () => ({ headers: { authorization: `Bearer ${ALICE}`, 'x-api-key': ALICE } })],
    ['the same JWT in its header and as bearer', () => ({ headers: { 'x-jwt': hs('dave', { uid: 'dave-uid', exp }), authorization: `Bearer ${hs('dave', { uid: 'dave-uid', exp })}` } })],
  ];
  it.each(cases)('%s → 401 invalid_credential', async (_label, req) => {
    expectDeny(await check(req()), 'invalid_credential');
  });
});

describe('an allowed request forwards no credential it did not strip', () => {
  // Every combination of up to two of these values across the places some
  // consumer reads: an allow must carry exactly one credential, and strip it.
  const places: Array<[place: string, strip: object, good: () => string, other: string]> = [
    ['authorization', { header: 'authorization' }, () => `Bearer ${ALICE}`, 'Bearer nobody-has-this-key-0001'],
    ['x-api-key', { header: 'x-api-key' }, () => BOB, 'nobody-has-this-key-0002'],
    ['?api_key', { query: 'api_key' }, () => CAROL, 'nobody-has-this-key-0003'],
    ['x-jwt', { header: 'x-jwt' }, () => hs('dave', { uid: 'dave-uid', exp }), 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA'],
  ];
  function request(values: Array<[string, string]>) {
    const headers: Record<string, string> = {};
    let path = '/x';
    for (const [place, v] of values) {
      if (place.startsWith('?')) path += `${path.includes('?') ? '&' : '?'}${place.slice(1)}=${encodeURIComponent(v)}`;
      else headers[place] = v;
    }
    return { headers, path };
  }
  it('all pairs of places × {good, unknown} values', async () => {
    let allows = 0;
    for (let i = 0; i < places.length; i++) {
      for (let j = i; j < places.length; j++) {
        for (const gi of [true, false]) {
          for (const gj of [true, false]) {
            if (j === i && !gj) continue; // one place: gj is unused
            const a = places[i]!;
            const b = places[j]!;
            const values: Array<[string, string]> = [[a[0], gi ? a[2]() : a[3]]];
            if (j !== i) values.push([b[0], gj ? b[2]() : b[3]]);
            const d: Decision = await check(request(values));
            if (d.allow) {
              allows++;
              // exactly one place, with its good value, and that place stripped
              expect(values.length, JSON.stringify(values)).toBe(1);
              expect(gi).toBe(true);
              expect(d.strip).toEqual(a[1]);
            } else {
              expect(d.reason).toBe('invalid_credential');
            }
          }
        }
      }
    }
    expect(allows).toBe(places.length);
  });
});

describe('JWT identity claims', () => {
  it("a token naming dave signed with erin's secret → invalid_credential", async () => {
    expectDeny(await check({ headers: { 'x-jwt': hs('erin', { uid: 'dave-uid', exp }) } }), 'invalid_credential');
  });
  it('a payload naming two consumers (uid of one, sub of another) → invalid_credential', async () => {
    expectDeny(await check({ headers: { 'x-jwt': hs('dave', { uid: 'dave-uid', sub: 'fran', exp }) } }), 'invalid_credential');
  });
  it("a token of a consumer found where another consumer's tokens are read → invalid_credential", async () => {
    expectDeny(await check({ headers: { authorization: `Bearer ${hs('dave', { uid: 'dave-uid', exp })}` } }), 'invalid_credential');
    expectDeny(await check({ path: `/x?token=${hs('dave', { uid: 'dave-uid', exp })}` }), 'invalid_credential');
  });
  it('identity values that only look equal: case, a Unicode look-alike, NFD, a trailing space, a number → not dave', async () => {
    for (const uid of ['DAVE-UID', 'dave\u2010uid', 'dave-uid ', 'dave-uid\u0000']) {
      expectDeny(await check({ headers: { 'x-jwt': hs('dave', { uid, exp }) } }), 'invalid_credential');
    }
    expectDeny(await check({ headers: { 'x-jwt': hs('dave', { uid: ['dave-uid'], exp }) } }), 'invalid_credential');
    expectDeny(await check({ headers: { 'x-jwt': hs('dave', { uid: { toString: 'dave-uid' }, exp }) } }), 'invalid_credential');
  });
  it('a duplicated identity claim (first names dave, last names nobody, and the reverse) → invalid_credential', async () => {
    const sign = (text: string) => jws({ alg: 'HS256' }, Buffer.from(text), (i) => createHmac('sha256', secrets.dave as Buffer).update(i).digest());
    expectDeny(await check({ headers: { 'x-jwt': sign(`{"uid":"dave-uid","uid":"x","exp":${exp}}`) } }), 'invalid_credential');
    expectDeny(await check({ headers: { 'x-jwt': sign(`{"uid":"x","u\\u0069d":"dave-uid","exp":${exp}}`) } }), 'invalid_credential');
  });
  it('the honest tokens are allowed', async () => {
    expectAllow(await check({ headers: { 'x-jwt': hs('dave', { uid: 'dave-uid', exp }) } }), 'dave');
    expectAllow(await check({ path: `/x?token=${hs('fran', { sub: 'fran', exp })}` }), 'fran');
    expectAllow(await check({ headers: { cookie: `a=1; session=${hs('gus', { uid: 'gus-uid', exp })}` } }), 'gus');
  });
});

describe('over the real gRPC server (official protos)', () => {
  let t: TestApp;
  let key = '';
  beforeAll(async () => {
    t = await startApp();
    key = (await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } })).body.apiKey;
    const bob = await t.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key', generation: 'custom', key: BOB, source: { in: 'header', name: 'x-api-key' } } });
    expect(bob.status).toBe(201);
    await until(async () => (await t.envoy.check({ headers: { 'x-api-key': BOB } })).status?.code === 0);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('valid x-api-key + an unknown well-formed bearer → 401 invalid_credential (the Authorization header never goes upstream)', async () => {
    expectGrpcDeny(await t.envoy.check({ headers: { 'x-api-key': BOB, authorization: 'Bearer nobody-has-this-key-0001' } }), 401, 'invalid_credential');
    expectGrpcDeny(await t.envoy.check({ headers: { authorization: `Bearer ${key}`, 'x-api-key': 'nobody-has-this-key-0002' } }), 401, 'invalid_credential');
  });

  it('client-sent identity headers are overwritten with the real consumer', async () => {
    const res = await t.envoy.check({ headers: { authorization: `Bearer ${key}`, 'x-consumer-name': 'bob', 'x-mse-consumer': 'bob', 'x-consumer-id': 'csm_bob' } });
    expectGrpcAllow(res, 'alice');
    const set = Object.fromEntries(res.ok_response!.headers.map((o) => [o.header.key, [o.header.value, o.append?.value]]));
    expect(set['x-consumer-name']).toEqual(['alice', false]);
    expect(set['x-mse-consumer']).toEqual(['alice', false]);
    expect(res.ok_response!.headers_to_remove).toEqual(['authorization']);
  });
});
