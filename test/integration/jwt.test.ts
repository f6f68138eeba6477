/**
 * JWT consumers end to end: created through the admin API, tokens sent in
 * CheckRequests encoded with the official Envoy protos to the real gRPC
 * server, answers decoded with the official CheckResponse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { denyCode, header, httpStatus, type OfficialCheckResponse } from '../helpers/envoy.js';
import { ASYM_ALGS, keyPair, type TestKeyPair } from '../helpers/fixtures.js';
import { hs256Secret, sign } from '../helpers/jwt.js';

let t: TestApp;
const exp = () => Math.floor(Date.now() / 1000) + 600;

async function create(body: unknown): Promise<any> {
  const res = await t.admin('POST', '/v1/consumers', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function symmetric(name: string, auth: Record<string, unknown> = {}): Promise<{ secret: Buffer; kid: string; view: any }> {
  const body = await create({ name, auth: { type: 'jwt', keyType: 'symmetric', identity: { value: `${name}-uid` }, ...auth } });
  return { secret: hs256Secret(body.jwks), kid: body.jwks.keys[0].kid, view: body.consumer };
}

const hs = (name: string, secret: Buffer, kid?: string, extra: Record<string, unknown> = {}) =>
  sign({ uid: `${name}-uid`, exp: exp(), ...extra }, secret, kid ? { alg: 'HS256', kid } : { alg: 'HS256' });

function ok(res: OfficialCheckResponse) {
  expect(res.http_response, res.denied_response?.body).toBe('ok_response');
  return res.ok_response!;
}

beforeAll(async () => {
  t = await startApp();
});

afterAll(async () => {
  await t.stop();
});

describe('every algorithm', () => {
  const pairs: Record<string, TestKeyPair> = {};

  beforeAll(async () => {
    for (const alg of ASYM_ALGS) {
      const kp = await keyPair(alg);
      pairs[alg] = kp;
      // RSA keys for RS256 are supplied without "alg" (RS256 is the default); PS* must say so.
      const jwk = alg === 'RS256' ? { ...kp.publicJwk, alg: undefined } : kp.publicJwk;
      await create({ name: `alg-${alg}`, auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [jwk] }, identity: { value: `alg-${alg}-uid` } } });
    }
  });

  it.each(ASYM_ALGS)('%s: allowed, identity headers set, kid is the credential id', async (alg) => {
    const kp = pairs[alg]!;
    const token = await sign({ uid: `alg-${alg}-uid`, exp: exp() }, kp.privateKey, { alg, kid: kp.kid });
    const res = await t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
    const okr = ok(res);
    expect(header(okr.headers, 'x-consumer-name')).toBe(`alg-${alg}`);
    expect(header(okr.headers, 'x-mse-consumer')).toBe(`alg-${alg}`);
    expect(header(okr.headers, 'x-credential-id')).toBe(kp.kid);
    expect(okr.headers.every((h) => h.append?.value === false)).toBe(true);
    expect(okr.headers_to_remove).toEqual(['authorization']);
    expect(res.dynamic_metadata!.fields.auth_type?.stringValue).toBe('jwt');
  });

  it('HS256 (symmetric): the generated JWKS verifies, with and without kid', async () => {
    const s = await symmetric('alg-HS256');
    for (const token of [await hs('alg-HS256', s.secret, s.kid), await hs('alg-HS256', s.secret)]) {
      const res = await t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
      expect(header(ok(res).headers, 'x-consumer-name')).toBe('alg-HS256');
    }
  });
});

describe('token locations and passthrough', () => {
  it('header with a custom name and prefix; the prefix is matched case-insensitively; stripped', async () => {
    const s = await symmetric('loc-header', { token: { in: 'header', name: 'X-Auth-Token', prefix: 'JWT ' } });
    const token = await hs('loc-header', s.secret);
    for (const v of [`JWT ${token}`, `jwt ${token}`]) {
      const okr = ok(await t.envoy.check({ headers: { 'x-auth-token': v } }));
      expect(header(okr.headers, 'x-consumer-name')).toBe('loc-header');
      expect(okr.headers_to_remove).toEqual(['x-auth-token']);
    }
    // Found elsewhere (Authorization: Bearer) it does not count.
    expect(denyCode(await t.envoy.check({ headers: { authorization: `Bearer ${token}` } }))).toBe('invalid_credential');
    // Without the prefix it is refused.
    expect(denyCode(await t.envoy.check({ headers: { 'x-auth-token': token } }))).toBe('invalid_credential');
  });

  it('query parameter: removed with query_parameters_to_remove', async () => {
    const s = await symmetric('loc-query', { token: { in: 'query', name: 'access_token' } });
    const token = await hs('loc-query', s.secret);
    const okr = ok(await t.envoy.check({ path: `/v1/models?limit=5&access_token=${token}&x=1` }));
    expect(header(okr.headers, 'x-consumer-name')).toBe('loc-query');
    expect(okr.query_parameters_to_remove).toEqual(['access_token']);
    expect(okr.headers_to_remove).toEqual([]);
    // Twice: ambiguous.
    expect(denyCode(await t.envoy.check({ path: `/?access_token=${token}&access_token=${token}` }))).toBe('invalid_credential');
  });

  it('cookie: the cookie header is rewritten without the token, or removed when it was the only cookie', async () => {
    const s = await symmetric('loc-cookie', { token: { in: 'cookie', name: 'session_jwt' } });
    const token = await hs('loc-cookie', s.secret);
    const mixed = ok(await t.envoy.check({ headers: { cookie: `theme=dark; session_jwt=${token}; lang=en` } }));
    expect(header(mixed.headers, 'x-consumer-name')).toBe('loc-cookie');
    const cookie = mixed.headers.find((h) => h.header.key === 'cookie');
    expect(cookie?.header.value).toBe('theme=dark; lang=en');
    expect(cookie?.append).toEqual({ value: false });
    expect(mixed.headers_to_remove).toEqual([]);
    const only = ok(await t.envoy.check({ headers: { cookie: `session_jwt=${token}` } }));
    expect(only.headers_to_remove).toEqual(['cookie']);
    expect(header(only.headers, 'cookie')).toBeUndefined();
  });

  it('passthrough: nothing is stripped (header, query and cookie)', async () => {
    const h = await symmetric('pt-header', { token: { in: 'header', name: 'x-pt-token', passthrough: true } });
    const q = await symmetric('pt-query', { token: { in: 'query', name: 'pt', passthrough: true } });
    const c = await symmetric('pt-cookie', { token: { in: 'cookie', name: 'pt', passthrough: true } });
    const rh = ok(await t.envoy.check({ headers: { 'x-pt-token': await hs('pt-header', h.secret) } }));
    const rq = ok(await t.envoy.check({ path: `/?pt=${await hs('pt-query', q.secret)}` }));
    const rc = ok(await t.envoy.check({ headers: { cookie: `a=1; pt=${await hs('pt-cookie', c.secret)}` } }));
    for (const [r, name] of [[rh, 'pt-header'], [rq, 'pt-query'], [rc, 'pt-cookie']] as const) {
      expect(header(r.headers, 'x-consumer-name')).toBe(name);
      expect(r.headers_to_remove).toEqual([]);
      expect(r.query_parameters_to_remove).toEqual([]);
      expect(header(r.headers, 'cookie')).toBeUndefined();
    }
  });

  it('API-key and JWT consumers share Authorization: Bearer', async () => {
    const a = await create({ name: 'shared-apikey', auth: { type: 'api-key' } });
    const s = await symmetric('shared-jwt');
    const byKey = ok(await t.envoy.check({ headers: { authorization: `Bearer ${a.apiKey}` } }));
    expect(header(byKey.headers, 'x-consumer-name')).toBe('shared-apikey');
    const byJwt = ok(await t.envoy.check({ headers: { authorization: `Bearer ${await hs('shared-jwt', s.secret)}` } }));
    expect(header(byJwt.headers, 'x-consumer-name')).toBe('shared-jwt');
    expect(denyCode(await t.envoy.check({ headers: { authorization: 'Bearer eyJnot.a.token' } }))).toBe('invalid_credential');
    expect(denyCode(await t.envoy.check({ headers: { authorization: 'Bearer not-a-key-or-token' } }))).toBe('invalid_credential');
  });

  it('no token at all → 401 missing_credential', async () => {
    const res = await t.envoy.check({ path: '/v1/chat', headers: { cookie: 'theme=dark' } });
    expect(httpStatus(res)).toBe(401);
    expect(denyCode(res)).toBe('missing_credential');
  });
});

describe('authorization', () => {
  it('disabled consumer → 403 consumer_disabled, then back', async () => {
    const s = await symmetric('jwt-disabled');
    const token = await hs('jwt-disabled', s.secret);
    const send = () => t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
    expect(httpStatus(await send())).toBe(200);
    await t.admin('PATCH', '/v1/consumers/jwt-disabled', { enabled: false });
    const res = await send();
    expect(httpStatus(res)).toBe(403);
    expect(denyCode(res)).toBe('consumer_disabled');
    await t.admin('PATCH', '/v1/consumers/jwt-disabled', { enabled: true });
    expect(httpStatus(await send())).toBe(200);
  });

  it('route grants → 403 route_forbidden for others', async () => {
    const a = await symmetric('jwt-granted');
    const b = await symmetric('jwt-other');
    expect((await t.admin('PUT', '/v1/routes/jwt-route', { consumers: ['jwt-granted'] })).status).toBe(200);
    const asA = await t.envoy.check({ route: 'jwt-route', headers: { authorization: `Bearer ${await hs('jwt-granted', a.secret)}` } });
    const asB = await t.envoy.check({ route: 'jwt-route', headers: { authorization: `Bearer ${await hs('jwt-other', b.secret)}` } });
    expect(httpStatus(asA)).toBe(200);
    expect(httpStatus(asB)).toBe(403);
    expect(denyCode(asB)).toBe('route_forbidden');
  });

  it('expired token → 401 expired_credential with error="invalid_token"', async () => {
    const s = await symmetric('jwt-expired');
    const token = await hs('jwt-expired', s.secret, s.kid, { exp: Math.floor(Date.now() / 1000) - 3600 });
    const res = await t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
    expect(httpStatus(res)).toBe(401);
    expect(denyCode(res)).toBe('expired_credential');
    expect(header(res.denied_response!.headers, 'www-authenticate')).toContain('error="invalid_token"');
  });
});

describe('claims to headers', () => {
  it('copies sanitized claim values, overwriting client copies; unusable values remove the header', async () => {
    const s = await symmetric('c2h', {
      claimsToHeaders: [
        { claim: 'email', header: 'X-User-Email' },
        { claim: 'tier', header: 'x-user-tier' },
        { claim: 'admin', header: 'x-user-admin' },
        { claim: 'evil', header: 'x-user-evil' },
        { claim: 'obj', header: 'x-user-obj' },
        { claim: 'absent', header: 'x-user-absent' },
        { claim: 'long', header: 'x-user-long' },
      ],
    });
    const token = await hs('c2h', s.secret, s.kid, {
      email: 'ann@example.com',
      tier: 3,
      admin: false,
      evil: 'a\r\nx-injected: 1',
      obj: { a: 1 },
      long: 'x'.repeat(300),
    });
    const okr = ok(
      await t.envoy.check({
        headers: { authorization: `Bearer ${token}`, 'x-user-email': 'forged@example.com', 'x-user-evil': 'forged', 'x-user-absent': 'forged' },
      }),
    );
    expect(header(okr.headers, 'x-user-email')).toBe('ann@example.com');
    expect(header(okr.headers, 'x-user-tier')).toBe('3');
    expect(header(okr.headers, 'x-user-admin')).toBe('false');
    for (const h of okr.headers) expect(h.append).toEqual({ value: false });
    for (const name of ['x-user-evil', 'x-user-obj', 'x-user-absent', 'x-user-long']) {
      expect(header(okr.headers, name)).toBeUndefined();
      expect(okr.headers_to_remove).toContain(name);
    }
    expect(okr.headers.some((h) => /[\r\n]/.test(h.header.value))).toBe(false);
    // The second request comes from the token cache and carries the same headers.
    const again = ok(await t.envoy.check({ headers: { authorization: `Bearer ${token}` } }));
    expect(header(again.headers, 'x-user-email')).toBe('ann@example.com');
    expect(again.headers_to_remove).toContain('x-user-evil');
  });
});

describe('rotation without downtime', () => {
  it('symmetric: add a key, both work during the overlap, the old one stops once removed', async () => {
    const s = await symmetric('rot-sym');
    const oldToken = await hs('rot-sym', s.secret, s.kid);
    const added = await t.admin('POST', '/v1/consumers/rot-sym/keys', {});
    expect(added.status).toBe(201);
    expect(added.body.key.kid).toBe(added.body.jwks.keys[0].kid);
    expect(added.body.key.k).toBeUndefined();
    const newToken = await hs('rot-sym', hs256Secret(added.body.jwks), added.body.key.kid);
    const send = (token: string) => t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
    await until(async () => httpStatus(await send(newToken)) === 200, 1000);
    expect(httpStatus(await send(oldToken))).toBe(200);
    expect((await t.admin('DELETE', `/v1/consumers/rot-sym/keys/${encodeURIComponent(s.kid)}`)).status).toBe(204);
    const ms = await until(async () => denyCode(await send(oldToken)) === 'invalid_credential', 1000);
    expect(ms).toBeLessThan(1000);
    expect(httpStatus(await send(newToken))).toBe(200);
    // The last key cannot be removed.
    const last = await t.admin('DELETE', `/v1/consumers/rot-sym/keys/${encodeURIComponent(added.body.key.kid)}`);
    expect(last.status).toBe(400);
  });

  it('asymmetric: add a public JWK, overlap, remove the old key', async () => {
    const k1 = await keyPair('ES256');
    const k2 = await keyPair('EdDSA');
    await create({ name: 'rot-asym', auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [k1.publicJwk] }, identity: { value: 'rot-asym-uid' } } });
    const t1 = await sign({ uid: 'rot-asym-uid', exp: exp() }, k1.privateKey, { alg: 'ES256', kid: k1.kid });
    const t2 = await sign({ uid: 'rot-asym-uid', exp: exp() }, k2.privateKey, { alg: 'EdDSA', kid: k2.kid });
    const send = (token: string) => t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
    expect(httpStatus(await send(t1))).toBe(200);
    expect(denyCode(await send(t2))).toBe('invalid_credential');
    const added = await t.admin('POST', '/v1/consumers/rot-asym/keys', { jwk: k2.publicJwk });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ key: { kid: k2.kid, kty: 'OKP', alg: 'EdDSA', crv: 'Ed25519', createdAt: expect.any(String) } });
    await until(async () => httpStatus(await send(t2)) === 200, 1000);
    expect(httpStatus(await send(t1))).toBe(200);
    expect((await t.admin('DELETE', `/v1/consumers/rot-asym/keys/${k1.kid}`)).status).toBe(204);
    await until(async () => denyCode(await send(t1)) === 'invalid_credential', 1000);
    expect(httpStatus(await send(t2))).toBe(200);
  });
});
