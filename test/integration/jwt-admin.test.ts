/**
 * The admin contract for JWT consumers: defaults, views without secrets,
 * rotation bodies, and every bad field refused with a 400 that names it and
 * stores nothing. Identity uniqueness is checked on both stores.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { keyPair, type TestKeyPair } from '../helpers/fixtures.js';

let t: TestApp;
let ec: TestKeyPair;
let rsa: TestKeyPair;

beforeAll(async () => {
  t = await startApp();
  ec = await keyPair('ES256', 'ec-1');
  rsa = await keyPair('RS256', 'rsa-1');
});

afterAll(async () => {
  await t.stop();
});

const asym = (jwks: unknown, extra: Record<string, unknown> = {}) => ({ type: 'jwt', keyType: 'asymmetric', jwks, ...extra });

describe('create: defaults and views', () => {
  it('symmetric: the JWKS is returned once; views never show k', async () => {
    const res = await t.admin('POST', '/v1/consumers', { name: 'sym-view', auth: { type: 'jwt', keyType: 'symmetric' } });
    expect(res.status).toBe(201);
    const [key] = res.body.jwks.keys;
    expect(Object.keys(key).sort()).toEqual(['alg', 'k', 'kid', 'kty']);
    expect(key).toMatchObject({ kty: 'oct', alg: 'HS256' });
    expect(Buffer.from(key.k, 'base64url').length).toBeGreaterThanOrEqual(32);
    const auth = res.body.consumer.auth;
    expect(auth).toEqual({
      type: 'jwt',
      keyType: 'symmetric',
      keys: [{ kid: key.kid, kty: 'oct', alg: 'HS256', createdAt: expect.any(String) }],
      token: { in: 'header', name: 'authorization', prefix: 'Bearer ', passthrough: false },
      identity: { claim: 'uid', value: expect.stringMatching(/^[0-9a-f]{32}$/) },
      claims: { requireExp: true, clockSkewSeconds: 60 },
      claimsToHeaders: [],
    });
    const got = await t.admin('GET', '/v1/consumers/sym-view');
    const list = await t.admin('GET', '/v1/consumers');
    for (const text of [JSON.stringify(res.body.consumer), JSON.stringify(got.body), JSON.stringify(list.body)]) {
      expect(text).not.toContain(key.k);
      expect(text).not.toContain('"k"');
    }
  });

  it('asymmetric: keys shown without key material; kid defaults to the RFC 7638 thumbprint', async () => {
    const { kid: _kid, ...noKid } = ec.publicJwk;
    const res = await t.admin('POST', '/v1/consumers', {
      name: 'asym-view',
      auth: asym({ keys: [rsa.publicJwk, noKid] }, {
        token: { in: 'query', name: 'jwt' },
        identity: { claim: 'sub', value: 'svc-1' },
        claims: { requireExp: false, issuer: 'https://id.example', audience: 'api', clockSkewSeconds: 5 },
        claimsToHeaders: [{ claim: 'email', header: 'X-User-Email' }],
      }),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.jwks).toBeUndefined();
    const auth = res.body.consumer.auth;
    expect(auth.keys).toEqual([
      { kid: 'rsa-1', kty: 'RSA', alg: 'RS256', createdAt: expect.any(String) },
      { kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), kty: 'EC', alg: 'ES256', crv: 'P-256', createdAt: expect.any(String) },
    ]);
    expect(auth.token).toEqual({ in: 'query', name: 'jwt', prefix: '', passthrough: false });
    expect(auth.claims).toEqual({ requireExp: false, issuer: 'https://id.example', audience: 'api', clockSkewSeconds: 5 });
    expect(auth.claimsToHeaders).toEqual([{ claim: 'email', header: 'x-user-email' }]);
  });
});

describe('create: every bad JWT field → 400 naming it, nothing stored', () => {
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  const withPrivate = () => ({ ...ec.publicJwk, d: 'AAAA' });
  const cases: Array<[string, () => unknown, string]> = [
    ['private JWK (d)', () => asym({ keys: [withPrivate()] }), 'auth.jwks.keys[0].d'],
    ['private RSA parts (p)', () => asym({ keys: [{ ...rsa.publicJwk, p: 'AAAA' }] }), 'auth.jwks.keys[0].p'],
    ['RSA 1024', () => asym({ keys: [rsa1024] }), 'auth.jwks.keys[0].n'],
    ['unknown kty', () => asym({ keys: [{ kty: 'XYZ', x: 'AAAA' }] }), 'auth.jwks.keys[0].kty'],
    ['oct in an asymmetric JWKS', () => asym({ keys: [{ kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0' }] }), 'auth.jwks.keys[0].kty'],
    ['EC with an alg for another curve', () => asym({ keys: [{ ...ec.publicJwk, alg: 'ES384' }] }), 'auth.jwks.keys[0].alg'],
    ['RSA with alg HS256', () => asym({ keys: [{ ...rsa.publicJwk, alg: 'HS256' }] }), 'auth.jwks.keys[0].alg'],
    ['RSA with alg none', () => asym({ keys: [{ ...rsa.publicJwk, alg: 'none' }] }), 'auth.jwks.keys[0].alg'],
    ['x5u in a JWK', () => asym({ keys: [{ ...ec.publicJwk, x5u: 'https://x.example/c.pem' }] }), 'auth.jwks.keys[0].x5u'],
    ['unknown JWK member', () => asym({ keys: [{ ...ec.publicJwk, foo: 1 }] }), 'auth.jwks.keys[0].foo'],
    ['not a point on the curve', () => asym({ keys: [{ ...ec.publicJwk, x: ec.publicJwk.y }] }), 'auth.jwks.keys[0]'],
    ['use enc', () => asym({ keys: [{ ...ec.publicJwk, use: 'enc' }] }), 'auth.jwks.keys[0].use'],
    ['duplicate kid', () => asym({ keys: [rsa.publicJwk, { ...ec.publicJwk, kid: 'rsa-1' }] }), 'auth.jwks.keys[1].kid'],
    ['kid with spaces', () => asym({ keys: [{ ...ec.publicJwk, kid: 'a b' }] }), 'auth.jwks.keys[0].kid'],
    ['empty JWKS', () => asym({ keys: [] }), 'auth.jwks.keys'],
    ['JWKS with an unknown field', () => asym({ keys: [ec.publicJwk], jku: 'x' }), 'auth.jwks.jku'],
    ['asymmetric without jwks', () => ({ type: 'jwt', keyType: 'asymmetric' }), 'auth.jwks'],
    ['symmetric with jwks', () => ({ type: 'jwt', keyType: 'symmetric', jwks: { keys: [] } }), 'auth.jwks'],
    ['missing keyType', () => ({ type: 'jwt' }), 'auth.keyType'],
    ['bad keyType', () => ({ type: 'jwt', keyType: 'hmac' }), 'auth.keyType'],
    ['unknown auth field', () => ({ type: 'jwt', keyType: 'symmetric', source: { in: 'bearer' } }), 'auth.source'],
    ['bad token.in', () => ({ type: 'jwt', keyType: 'symmetric', token: { in: 'body' } }), 'auth.token.in'],
    ['query without name', () => ({ type: 'jwt', keyType: 'symmetric', token: { in: 'query' } }), 'auth.token.name'],
    ['cookie without name', () => ({ type: 'jwt', keyType: 'symmetric', token: { in: 'cookie' } }), 'auth.token.name'],
    ['reserved token header', () => ({ type: 'jwt', keyType: 'symmetric', token: { in: 'header', name: 'cookie' } }), 'auth.token.name'],
    ['token prefix not a string', () => ({ type: 'jwt', keyType: 'symmetric', token: { prefix: 7 } }), 'auth.token.prefix'],
    ['token passthrough not boolean', () => ({ type: 'jwt', keyType: 'symmetric', token: { passthrough: 'no' } }), 'auth.token.passthrough'],
    ['unknown token field', () => ({ type: 'jwt', keyType: 'symmetric', token: { where: 'x' } }), 'auth.token.where'],
    ['identity value a number', () => ({ type: 'jwt', keyType: 'symmetric', identity: { value: 5 } }), 'auth.identity.value'],
    ['identity claim exp', () => ({ type: 'jwt', keyType: 'symmetric', identity: { claim: 'exp' } }), 'auth.identity.claim'],
    ['identity claim __proto__', () => ({ type: 'jwt', keyType: 'symmetric', identity: { claim: '__proto__' } }), 'auth.identity.claim'],
    ['requireExp not boolean', () => ({ type: 'jwt', keyType: 'symmetric', claims: { requireExp: 'yes' } }), 'auth.claims.requireExp'],
    ['negative clock skew', () => ({ type: 'jwt', keyType: 'symmetric', claims: { clockSkewSeconds: -1 } }), 'auth.claims.clockSkewSeconds'],
    ['huge clock skew', () => ({ type: 'jwt', keyType: 'symmetric', claims: { clockSkewSeconds: 86400 } }), 'auth.claims.clockSkewSeconds'],
    ['empty issuer', () => ({ type: 'jwt', keyType: 'symmetric', claims: { issuer: '' } }), 'auth.claims.issuer'],
    ['audience an array', () => ({ type: 'jwt', keyType: 'symmetric', claims: { audience: ['a'] } }), 'auth.claims.audience'],
    ['unknown claims field', () => ({ type: 'jwt', keyType: 'symmetric', claims: { maxAge: 5 } }), 'auth.claims.maxAge'],
    ['claimsToHeaders not an array', () => ({ type: 'jwt', keyType: 'symmetric', claimsToHeaders: {} }), 'auth.claimsToHeaders'],
    [
      'claim header reserved',
      () => ({ type: 'jwt', keyType: 'symmetric', claimsToHeaders: [{ claim: 'sub', header: 'x-consumer-name' }] }),
      'auth.claimsToHeaders[0].header',
    ],
    [
      'claim header authorization',
      () => ({ type: 'jwt', keyType: 'symmetric', claimsToHeaders: [{ claim: 'sub', header: 'Authorization' }] }),
      'auth.claimsToHeaders[0].header',
    ],
    [
      'claim header not a header name',
      () => ({ type: 'jwt', keyType: 'symmetric', claimsToHeaders: [{ claim: 'sub', header: 'x bad\r\n' }] }),
      'auth.claimsToHeaders[0].header',
    ],
    [
      'claim header twice',
      () => ({ type: 'jwt', keyType: 'symmetric', claimsToHeaders: [{ claim: 'a', header: 'x-a' }, { claim: 'b', header: 'X-A' }] }),
      'auth.claimsToHeaders[1].header',
    ],
    ['claim name with spaces', () => ({ type: 'jwt', keyType: 'symmetric', claimsToHeaders: [{ claim: 'a b', header: 'x-a' }] }), 'auth.claimsToHeaders[0].claim'],
  ];

  it.each(cases)('%s', async (_what, auth, field) => {
    const res = await t.admin('POST', '/v1/consumers', { name: 'refused', auth: auth() });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.field).toBe(field);
    expect(res.body.error.message.startsWith(`${field}: `)).toBe(true);
    expect((await t.admin('GET', '/v1/consumers/refused')).status).toBe(404);
  });
});

describe('rotation bodies', () => {
  beforeAll(async () => {
    await t.admin('POST', '/v1/consumers', { name: 'rb-api', auth: { type: 'api-key' } });
    await t.admin('POST', '/v1/consumers', { name: 'rb-sym', auth: { type: 'jwt', keyType: 'symmetric' } });
    await t.admin('POST', '/v1/consumers', { name: 'rb-asym', auth: asym({ keys: [ec.publicJwk] }) });
  });

  it('a body of the wrong kind gets a 400 naming the field', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['rb-api', { jwk: ec.publicJwk }, 'jwk'],
      ['rb-sym', { generation: 'system' }, 'generation'],
      ['rb-sym', { jwk: ec.publicJwk }, 'jwk'],
      ['rb-asym', {}, 'jwk'],
      ['rb-asym', { key: 'x' }, 'key'],
      ['rb-asym', { jwk: { ...rsa.publicJwk, d: 'AAAA' } }, 'jwk.d'],
      ['rb-asym', { jwk: { ...rsa.publicJwk, kid: 'ec-1' } }, 'jwk.kid'],
    ];
    for (const [name, body, field] of cases) {
      const res = await t.admin('POST', `/v1/consumers/${name}/keys`, body);
      expect(res.status, `${name} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
    const view = (await t.admin('GET', '/v1/consumers/rb-asym')).body;
    expect(view.auth.keys).toHaveLength(1);
  });

  it('API-key rotation keeps its shape', async () => {
    const res = await t.admin('POST', '/v1/consumers/rb-api/keys', {});
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['apiKey', 'key']);
  });

  it('DELETE of an unknown kid → 404 key_not_found', async () => {
    const res = await t.admin('DELETE', '/v1/consumers/rb-sym/keys/nope');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('key_not_found');
  });
});

describe.each([
  ['file store', () => Promise.resolve(undefined)],
  ['redis store', () => startRedis({ persist: false })],
])('identity uniqueness (%s)', (_name, redis) => {
  let app: TestApp;
  let r: TestRedis | undefined;

  beforeAll(async () => {
    r = await redis();
    app = await startApp(r ? { redisUrl: r.url } : {});
  });

  afterAll(async () => {
    await app.stop();
    await r?.close();
  });

  it('one (claim, value) names one consumer: 409 credential_conflict; released on delete', async () => {
    const auth = { type: 'jwt', keyType: 'symmetric', identity: { claim: 'sub', value: 'team-a' } };
    expect((await app.admin('POST', '/v1/consumers', { name: 'u1', auth })).status).toBe(201);
    const dup = await app.admin('POST', '/v1/consumers', { name: 'u2', auth });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'credential_conflict', field: 'auth.identity.value' });
    expect((await app.admin('GET', '/v1/consumers/u2')).status).toBe(404);
    // The same value under another claim is another identity.
    const other = { ...auth, identity: { claim: 'uid', value: 'team-a' } };
    expect((await app.admin('POST', '/v1/consumers', { name: 'u3', auth: other })).status).toBe(201);
    // Concurrent creates: exactly one wins.
    const race = await Promise.all(
      ['r1', 'r2', 'r3', 'r4'].map((name) =>
        app.admin('POST', '/v1/consumers', { name, auth: { ...auth, identity: { claim: 'sub', value: 'raced' } } }),
      ),
    );
    expect(race.map((x) => x.status).sort()).toEqual([201, 409, 409, 409]);
    expect((await app.admin('DELETE', '/v1/consumers/u1')).status).toBe(204);
    expect((await app.admin('POST', '/v1/consumers', { name: 'u2', auth })).status).toBe(201);
  });
});
