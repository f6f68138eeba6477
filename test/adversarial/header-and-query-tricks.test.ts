/**
 * Attack class: header and query tricks. The shapes of a request line and
 * header map that parsers disagree on: repeated parameters and headers,
 * separators other than `&`, a second `?`, fragments, credential-looking
 * text in the path, `+` versus `%20`, cookies repeated or quoted. Each case
 * pins the outcome; where the credential is not at a place this service reads,
 * it is not accepted (so it cannot be "accepted but not stripped").
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAllow, expectDeny, expectGrpcAllow, expectGrpcDeny, jws } from '../helpers/adversary.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { harness, secs, type Harness } from '../helpers/jwt.js';

const BOB = 'bob-custom-key-0001'; // header x-api-key
const CAROL = 'carol-custom-key-0001'; // query api_key
const PLUS = 'plus+key+custom+0001'; // query api_key, contains '+'
let h: Harness;
let exp: number;
let gusSecret: Buffer;

beforeAll(async () => {
  h = await harness();
  exp = secs(h.clock.now) + 600;
  const custom = (name: string, key: string, source: object) =>
    h.service.create({ name, auth: { type: 'api-key', generation: 'custom', key, source } });
  await custom('bob', BOB, { in: 'header', name: 'x-api-key' });
  await custom('carol', CAROL, { in: 'query', name: 'api_key' });
  await custom('plus', PLUS, { in: 'query', name: 'api_key' });
  const gus = (await h.service.create({
    name: 'gus',
    auth: { type: 'jwt', keyType: 'symmetric', token: { in: 'cookie', name: 'session' }, identity: { value: 'gus-uid' } },
  })) as { jwks: { keys: Array<{ k: string }> } };
  gusSecret = Buffer.from(gus.jwks.keys[0]!.k, 'base64url');
  await h.sync();
});

const check = (req: { headers?: Record<string, string>; path?: string }) => h.check(req);
const gusToken = () => jws({ alg: 'HS256' }, { uid: 'gus-uid', exp }, (i) => createHmac('sha256', gusSecret).update(i).digest());

describe('query string shapes', () => {
  const missing: Array<[string, string]> = [
    ['the key after ";" (not a separator)', `/x?a=1;api_key=${CAROL}`],
    ['the key after a second "?" (part of the first value)', `/x?a=1?api_key=${CAROL}`],
    ['the key only in the fragment', `/x#?api_key=${CAROL}`],
    ['the key after the fragment', `/x?a=1#&api_key=${CAROL}`],
    ['the key in the path, not the query', `/api_key=${CAROL}`],
    ['the key in a path segment with ";"', `/x;api_key=${CAROL}`],
    ['a name with a trailing space', `/x?api_key%20=${CAROL}`],
    ['the name only inside a value', `/x?q=api_key%3D${CAROL}`],
  ];
  it.each(missing)('%s → 401 missing_credential (never an allow)', async (_label, path) => {
    expectDeny(await check({ path }), 'missing_credential');
  });

  const invalid: Array<[string, string]> = [
    ['repeated, same value', `/x?api_key=${CAROL}&api_key=${CAROL}`],
    ['repeated, second empty', `/x?api_key=${CAROL}&api_key=`],
    ['repeated, second without "="', `/x?api_key=${CAROL}&api_key`],
    ['value with a raw space', `/x?api_key=${CAROL} `],
    ['value with %20 around it', `/x?api_key=%20${CAROL}%20`],
    ['value with an encoded CR LF', `/x?api_key=${CAROL}%0D%0A`],
    ['value with an encoded comma', `/x?api_key=${CAROL}%2C${CAROL}`],
    ['"+" where the key has none (not a space, not the key)', `/x?api_key=${CAROL}+`],
    ['%2B for "+" in a key without "+"', `/x?api_key=${CAROL}%2B`],
    ['an empty name beside an encoded alias', `/x?=1&api%5Fkey=${CAROL}`],
  ];
  it.each(invalid)('%s → 401 invalid_credential', async (_label, path) => {
    expectDeny(await check({ path }), 'invalid_credential');
  });

  it("'+' is literal: a key with '+' is allowed sent as '+' or %2B, not as %20", async () => {
    expectAllow(await check({ path: `/x?api_key=${PLUS}` }), 'plus');
    expectAllow(await check({ path: `/x?api_key=${PLUS.replace(/\+/g, '%2B')}` }), 'plus');
    expectDeny(await check({ path: `/x?api_key=${PLUS.replace(/\+/g, '%20')}` }), 'invalid_credential');
  });

  it('empty pairs, "&&", a lone "?" and other parameters around the key do not matter', async () => {
    for (const path of [`/x?&&api_key=${CAROL}&&`, `/x?=&api_key=${CAROL}`, `/x?api_key=${CAROL}#frag`, `/x?api_key=${CAROL}&b`]) {
      expectAllow(await check({ path }), 'carol');
    }
  });
});

describe('header shapes', () => {
  it('repeated headers joined by Envoy with "," → invalid_credential', async () => {
    expectDeny(await check({ headers: { 'x-api-key': `${BOB},${BOB}` } }), 'invalid_credential');
    expectDeny(await check({ headers: { 'x-api-key': `${BOB}, ${BOB}` } }), 'invalid_credential');
  });
  it('a header name that differs (upper case as given, a look-alike, an underscore) is not read', async () => {
    expectDeny(await check({ headers: { 'x_api_key': BOB } }), 'missing_credential');
    expectDeny(await check({ headers: { 'x-api-key ': BOB } }), 'missing_credential');
    expectDeny(await check({ headers: { 'x-apі-key': BOB } }), 'missing_credential'); // Cyrillic і
  });
  it('an over-long header value is refused unread', async () => {
    expectDeny(await check({ headers: { 'x-api-key': 'k'.repeat(100_000) } }), 'invalid_credential');
  });
});

describe('cookie shapes', () => {
  it('the session cookie among others is allowed, and only it is removed', async () => {
    const d = await check({ headers: { cookie: `a=1; session=${gusToken()}; b=2` } });
    expectAllow(d, 'gus');
    expect(d.allow && d.strip).toEqual({ cookie: 'session', rest: 'a=1; b=2' });
  });
  it('the session cookie twice (same value or not), or empty → invalid_credential', async () => {
    const t = gusToken();
    expectDeny(await check({ headers: { cookie: `session=${t}; session=${t}` } }), 'invalid_credential');
    expectDeny(await check({ headers: { cookie: `session=${t}; session=x` } }), 'invalid_credential');
    expectDeny(await check({ headers: { cookie: 'session=' } }), 'invalid_credential');
  });
  it('a cookie whose name only contains "session" is not it', async () => {
    expectDeny(await check({ headers: { cookie: `xsession=${gusToken()}; session_=${gusToken()}` } }), 'missing_credential');
  });
});

describe('over the real gRPC server (official protos)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
    const res = await t.admin('POST', '/v1/consumers', { name: 'carol', auth: { type: 'api-key', generation: 'custom', key: CAROL, source: { in: 'query', name: 'api_key' } } });
    expect(res.status).toBe(201);
    await until(async () => (await t.envoy.check({ path: `/x?api_key=${CAROL}` })).status?.code === 0);
  });
  afterAll(async () => {
    await t?.stop();
  });
  it('the key after ";" or a second "?" is no credential; a repeated parameter is invalid', async () => {
    expectGrpcDeny(await t.envoy.check({ path: `/x?a=1;api_key=${CAROL}` }), 401, 'missing_credential');
    expectGrpcDeny(await t.envoy.check({ path: `/x?a=1?api_key=${CAROL}` }), 401, 'missing_credential');
    expectGrpcDeny(await t.envoy.check({ path: `/x?api_key=${CAROL}&api_key=${CAROL}` }), 401, 'invalid_credential');
    const ok = await t.envoy.check({ path: `/x?&&api_key=${CAROL}#f` });
    expectGrpcAllow(ok, 'carol');
    expect(ok.ok_response?.query_parameters_to_remove).toEqual(['api_key']);
  });
});
