/**
 * Attack class: credential placement and encoding. A key must be accepted
 * only in the exact form the strip instruction removes, or it reaches the
 * upstream: query parameter names are literal (Envoy's
 * query_parameters_to_remove matches them literally), and a request with a
 * percent-encoded alias of a credential parameter name is refused; header
 * values are the key byte for byte (no trim: Unicode spaces, BOM, CR/LF, tabs
 * are malformed); `Authorization` is `Bearer`, one space, the key.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/authz/decision.js';
import { expectAllow, expectDeny, expectGrpcAllow, expectGrpcDeny, jws } from '../helpers/adversary.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { harness, secs, type Harness } from '../helpers/jwt.js';

const BOB = 'bob-custom-key-0001'; // header x-api-key
const CAROL = 'carol-custom-key-0001'; // query api_key
const TILDE = 'tilde-custom-key-0001'; // query api~key
const DOT = 'dot-custom-key-00001'; // query api.key
let ALICE = ''; // bearer, system key

let h: Harness;
let franToken = '';
const check = (req: { headers?: Record<string, string>; path?: string }) => h.check(req);
const enc = (s: string) => [...Buffer.from(s)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

beforeAll(async () => {
  h = await harness();
  const made = (await h.service.create({ name: 'alice', auth: { type: 'api-key' } })) as { apiKey: string };
  ALICE = made.apiKey;
  const custom = (name: string, key: string, source: object) =>
    h.service.create({ name, auth: { type: 'api-key', generation: 'custom', key, source } });
  await custom('bob', BOB, { in: 'header', name: 'x-api-key' });
  await custom('carol', CAROL, { in: 'query', name: 'api_key' });
  await custom('tilde', TILDE, { in: 'query', name: 'api~key' });
  await custom('dot', DOT, { in: 'query', name: 'api.key' });
  const fran = (await h.service.create({
    name: 'fran',
    auth: { type: 'jwt', keyType: 'symmetric', token: { in: 'query', name: 'token' }, identity: { value: 'fran-uid' } },
  })) as { jwks: { keys: Array<{ k: string }> } };
  const secret = Buffer.from(fran.jwks.keys[0]!.k, 'base64url');
  franToken = jws({ alg: 'HS256' }, { uid: 'fran-uid', exp: secs(h.clock.now) + 600 }, (i) => createHmac('sha256', secret).update(i).digest());
  await h.sync();
});

function stripOf(d: Decision): unknown {
  return d.allow ? d.strip : undefined;
}

describe('query parameter names are literal', () => {
  it('the literal name is allowed and stripped by that name; the value may be percent-encoded', async () => {
    const d = await check({ path: `/x?api_key=${CAROL}` });
    expectAllow(d, 'carol');
    expect(stripOf(d)).toEqual({ query: 'api_key' });
    expectAllow(await check({ path: `/x?api_key=${enc(CAROL)}` }), 'carol');
    expectAllow(await check({ path: `/x?api~key=${TILDE}` }), 'tilde');
    expectAllow(await check({ path: `/x?api.key=${DOT}` }), 'dot');
  });

  const aliases: Array<[string, string]> = [
    ['api%5Fkey (encoded "_")', `/x?api%5Fkey=${CAROL}`],
    ['api%5fkey (lower-case hex)', `/x?api%5fkey=${CAROL}`],
    ['%61pi_key', `/x?%61pi_key=${CAROL}`],
    ['%61%70%69_key', `/x?%61%70%69_key=${CAROL}`],
    ['every character encoded', `/x?${enc('api_key')}=${CAROL}`],
    ['api%7Ekey for an api~key source', `/x?api%7Ekey=${TILDE}`],
    ['api%7ekey for an api~key source', `/x?api%7ekey=${TILDE}`],
    ['api%2Ekey for an api.key source', `/x?api%2Ekey=${DOT}`],
    ['the literal one plus an encoded copy', `/x?api_key=${CAROL}&api%5Fkey=${CAROL}`],
    ['an encoded copy first, then the literal one', `/x?api%5Fkey=x&api_key=${CAROL}`],
    ['an encoded copy with no value', `/x?api_key=${CAROL}&api%5Fkey`],
  ];
  it.each(aliases)('%s → 401 invalid_credential (never forwarded under a name Envoy would not strip)', async (_label, path) => {
    expectDeny(await check({ path }), 'invalid_credential');
  });

  it("a JWT consumer's query parameter: literal allowed and stripped, an encoded alias refused", async () => {
    const d = await check({ path: `/x?token=${franToken}` });
    expectAllow(d, 'fran');
    expect(stripOf(d)).toEqual({ query: 'token' });
    expectDeny(await check({ path: `/x?t%6Fken=${franToken}` }), 'invalid_credential');
    expectDeny(await check({ path: `/x?token=${franToken}&%74oken=x` }), 'invalid_credential');
  });

  it('an encoded alias of a credential parameter beside a valid bearer key → invalid_credential', async () => {
    expectDeny(await check({ headers: { authorization: `Bearer ${ALICE}` }, path: `/x?api%5Fkey=${CAROL}` }), 'invalid_credential');
    expectDeny(await check({ headers: { authorization: `Bearer ${ALICE}` }, path: '/x?%61pi_key=whatever' }), 'invalid_credential');
  });

  it('names that differ after decoding too are just other parameters (not credentials)', async () => {
    expectDeny(await check({ path: `/x?API_KEY=${CAROL}` }), 'missing_credential');
    expectDeny(await check({ path: `/x?api_key%00=${CAROL}` }), 'missing_credential');
    expectDeny(await check({ path: `/x?api-key=${CAROL}` }), 'missing_credential');
    expectDeny(await check({ path: `/x?api_key2=${CAROL}` }), 'missing_credential');
    expectAllow(await check({ path: `/x?api_key=${CAROL}&API_KEY=other&api%5Fkeys=1` }), 'carol');
  });

  it('values: double encoding is decoded once, invalid percent-encoding and non-UTF-8 escapes are refused', async () => {
    expectDeny(await check({ path: `/x?api_key=${enc(enc(CAROL))}` }), 'invalid_credential');
    for (const v of ['%zz', '%', `${CAROL}%`, '%C0%AF', '%ED%A0%80', '%FF']) {
      expectDeny(await check({ path: `/x?api_key=${v}` }), 'invalid_credential');
    }
  });
});

describe('header values are exactly the key (no trim)', () => {
  const around: Array<[string, string, string]> = [
    ['leading space', ' ', ''],
    ['trailing space', '', ' '],
    ['tab', '\t', ''],
    ['trailing CR LF', '', '\r\n'],
    ['trailing LF', '', '\n'],
    ['BOM', '\uFEFF', ''],
    ['no-break space', '\u00A0', ''],
    ['em space', '', '\u2003'],
    ['ideographic space', '\u3000', ''],
    ['line separator', '', '\u2028'],
    ['zero-width space', '\u200B', ''],
    ['NUL', '', '\u0000'],
    ['vertical tab', '\u000B', ''],
  ];
  it.each(around)('x-api-key with %s → invalid_credential', async (_label, before, after) => {
    expectDeny(await check({ headers: { 'x-api-key': `${before}${BOB}${after}` } }), 'invalid_credential');
  });
  it.each(around)('Authorization: Bearer with %s around the key → invalid_credential', async (_label, before, after) => {
    expectDeny(await check({ headers: { authorization: `Bearer ${before}${ALICE}${after}` } }), 'invalid_credential');
  });

  it('the exact value is allowed', async () => {
    expectAllow(await check({ headers: { 'x-api-key': BOB } }), 'bob');
    expectAllow(await check({ headers: { authorization: `Bearer ${ALICE}` } }), 'alice');
  });
});

describe('the Bearer form: scheme (any case), exactly one space, the key, nothing else', () => {
  const forms: Array<[string, () => string]> = [
    ['two spaces', () => `Bearer  ${ALICE}`],
    ['a tab for the space', () => `Bearer\t${ALICE}`],
    ['no space', () => `Bearer${ALICE}`],
    ['a colon', () => `Bearer:${ALICE}`],
    ['a trailing space', () => `Bearer ${ALICE} `],
    ['a leading space', () => ` Bearer ${ALICE}`],
    ['a no-break space', () => `Bearer\u00A0${ALICE}`],
    ['the key twice', () => `Bearer ${ALICE} ${ALICE}`],
    ['another scheme', () => `Token ${ALICE}`],
    ['Basic', () => `Basic ${Buffer.from(`x:${ALICE}`).toString('base64')}`],
    ['the key alone', () => ALICE],
    ['a Unicode look-alike scheme (Cyrillic е)', () => `B\u0435arer ${ALICE}`],
  ];
  it.each(forms)('%s → invalid_credential', async (_label, value) => {
    expectDeny(await check({ headers: { authorization: value() } }), 'invalid_credential');
  });
  it('bearer, BEARER, bEaReR are allowed', async () => {
    for (const s of ['bearer', 'BEARER', 'bEaReR']) expectAllow(await check({ headers: { authorization: `${s} ${ALICE}` } }), 'alice');
  });
});

describe('over the real gRPC server (official protos)', () => {
  let t: TestApp;
  let aliceKey = '';
  beforeAll(async () => {
    t = await startApp();
    aliceKey = (await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } })).body.apiKey;
    for (const [name, key, source] of [
      ['bob', BOB, { in: 'header', name: 'x-api-key' }],
      ['carol', CAROL, { in: 'query', name: 'api_key' }],
      ['tilde', TILDE, { in: 'query', name: 'api~key' }],
    ] as const) {
      expect((await t.admin('POST', '/v1/consumers', { name, auth: { type: 'api-key', generation: 'custom', key, source } })).status).toBe(201);
    }
    await until(async () => (await t.envoy.check({ path: `/x?api~key=${TILDE}` })).status?.code === 0);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('literal api_key: allowed, query_parameters_to_remove names it', async () => {
    const res = await t.envoy.check({ path: `/x?a=1&api_key=${CAROL}` });
    expectGrpcAllow(res, 'carol');
    expect(res.ok_response?.query_parameters_to_remove).toEqual(['api_key']);
  });

  it.each([`/x?api%5Fkey=${CAROL}`, `/x?%61%70%69_key=${CAROL}`, `/x?api%7Ekey=${TILDE}`, `/x?api_key=${CAROL}&api%5Fkey=${CAROL}`])(
    '%s → 401 invalid_credential',
    async (path) => {
      expectGrpcDeny(await t.envoy.check({ path }), 401, 'invalid_credential');
    },
  );

  it('header keys with a BOM, NBSP, CR/LF or spaces; Bearer with two spaces or a trailing space → 401 invalid_credential', async () => {
    for (const v of [`\uFEFF${BOB}`, `${BOB}\u00A0`, `${BOB}\r\n`, ` ${BOB} `]) {
      expectGrpcDeny(await t.envoy.check({ headers: { 'x-api-key': v } }), 401, 'invalid_credential');
    }
    for (const v of [`Bearer  ${aliceKey}`, `Bearer ${aliceKey} `, `Bearer \u3000${aliceKey}`]) {
      expectGrpcDeny(await t.envoy.check({ headers: { authorization: v } }), 401, 'invalid_credential');
    }
    expectGrpcAllow(await t.envoy.check({ headers: { 'x-api-key': BOB } }), 'bob');
  });
});
