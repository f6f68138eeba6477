/**
 * The admin API over HTTP against the real App (embedded file store): every
 * endpoint's happy path and status codes, the admin token, every invalid
 * field refused with a 400 naming it (and nothing changed), secrets never
 * shown again, key rotation end to end with Check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/consumers/api-keys.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus } from '../helpers/envoy.js';

let t: TestApp;
let aliceKey: string;
const BOB_KEY = 'bob-custom-key-0001';

beforeAll(async () => {
  t = await startApp();
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', description: 'first', auth: { type: 'api-key' } });
  expect(a.status).toBe(201);
  aliceKey = a.body.apiKey;
  const b = await t.admin('POST', '/v1/consumers', {
    name: 'bob',
    auth: { type: 'api-key', generation: 'custom', key: BOB_KEY, source: { in: 'header', name: 'x-api-key' } },
  });
  expect(b.status).toBe(201);
  expect((await t.admin('PUT', '/v1/routes/chat', { consumers: ['alice'] })).status).toBe(200);
});

afterAll(async () => {
  await t.stop();
});

/** Sends a raw request (any content-type, any body). */
async function raw(method: string, path: string, body: string | undefined, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${t.adminPort}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Everything the API shows: consumers (each fetched), routes. */
async function snapshot(): Promise<unknown> {
  const list = await t.admin('GET', '/v1/consumers?limit=1000');
  const routes = await t.admin('GET', '/v1/routes?limit=1000');
  const each = await Promise.all(list.body.items.map((c: { name: string }) => t.admin('GET', `/v1/consumers/${c.name}`)));
  return { list: list.body, routes: routes.body, each: each.map((r) => r.body), rev: t.app.replicator.revision };
}

function expectInvalid(res: { status: number; body: any }, field: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error.code).toBe('invalid_request');
  expect(res.body.error.message.startsWith(`${field}: `), res.body.error.message).toBe(true);
  expect(res.body.error.field).toBe(field);
}

const apiKey = (extra: Record<string, unknown> = {}) => ({ type: 'api-key', ...extra });
const custom = (key: unknown, extra: Record<string, unknown> = {}) => apiKey({ generation: 'custom', key, ...extra });

describe('every invalid field → 400 invalid_request naming it, and nothing changes', () => {
  const cases: Array<[string, string, string, unknown, string]> = [
    // POST /v1/consumers: name
    ['name missing', 'POST', '/v1/consumers', { auth: apiKey() }, 'name'],
    ['name a number', 'POST', '/v1/consumers', { name: 42, auth: apiKey() }, 'name'],
    ['name empty', 'POST', '/v1/consumers', { name: '', auth: apiKey() }, 'name'],
    ['name 65 chars', 'POST', '/v1/consumers', { name: 'n'.repeat(65), auth: apiKey() }, 'name'],
    ['name leading dot', 'POST', '/v1/consumers', { name: '.alice2', auth: apiKey() }, 'name'],
    ['name with a space', 'POST', '/v1/consumers', { name: 'ali ce', auth: apiKey() }, 'name'],
    ['name unicode', 'POST', '/v1/consumers', { name: 'ålice', auth: apiKey() }, 'name'],
    ['name with a slash', 'POST', '/v1/consumers', { name: 'a/b', auth: apiKey() }, 'name'],
    // description, enabled
    ['description 257 chars', 'POST', '/v1/consumers', { name: 'x1', description: 'd'.repeat(257), auth: apiKey() }, 'description'],
    ['description control char', 'POST', '/v1/consumers', { name: 'x1', description: 'a\u0007b', auth: apiKey() }, 'description'],
    ['description newline', 'POST', '/v1/consumers', { name: 'x1', description: 'a\nb', auth: apiKey() }, 'description'],
    ['description a number', 'POST', '/v1/consumers', { name: 'x1', description: 5, auth: apiKey() }, 'description'],
    ['enabled "yes"', 'POST', '/v1/consumers', { name: 'x1', enabled: 'yes', auth: apiKey() }, 'enabled'],
    // auth
    ['auth missing', 'POST', '/v1/consumers', { name: 'x1' }, 'auth'],
    ['auth a string', 'POST', '/v1/consumers', { name: 'x1', auth: 'api-key' }, 'auth'],
    ['auth an array', 'POST', '/v1/consumers', { name: 'x1', auth: [] }, 'auth'],
    ['auth.type unknown', 'POST', '/v1/consumers', { name: 'x1', auth: { type: 'oauth' } }, 'auth.type'],
    ['auth.type missing', 'POST', '/v1/consumers', { name: 'x1', auth: {} }, 'auth.type'],
    ['auth unknown field', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ secret: 'x' }) }, 'auth.secret'],
    ['auth.generation bad', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ generation: 'random' }) }, 'auth.generation'],
    ['custom key missing', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ generation: 'custom' }) }, 'auth.key'],
    ['custom key 15 chars', 'POST', '/v1/consumers', { name: 'x1', auth: custom('k'.repeat(15)) }, 'auth.key'],
    ['custom key with a space', 'POST', '/v1/consumers', { name: 'x1', auth: custom('abcdefgh ijklmnopq') }, 'auth.key'],
    ['custom key with a comma', 'POST', '/v1/consumers', { name: 'x1', auth: custom('abcdefgh,ijklmnopq') }, 'auth.key'],
    ['custom key with the system prefix', 'POST', '/v1/consumers', { name: 'x1', auth: custom('cak_abcdefghijklmnop') }, 'auth.key'],
    ['custom key 513 chars', 'POST', '/v1/consumers', { name: 'x1', auth: custom('k'.repeat(513)) }, 'auth.key'],
    ['custom key a number', 'POST', '/v1/consumers', { name: 'x1', auth: custom(1234567890123456) }, 'auth.key'],
    ['key with a system generation', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ key: 'abcdefghijklmnopq' }) }, 'auth.key'],
    // source
    ['source a string', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: 'bearer' }) }, 'auth.source'],
    ['source.in bad', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'cookie', name: 'k' } }) }, 'auth.source.in'],
    ['source unknown field', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'bearer', x: 1 } }) }, 'auth.source.x'],
    ['bearer with a name', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'bearer', name: 'x' } }) }, 'auth.source.name'],
    ['header name missing', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header' } }) }, 'auth.source.name'],
    ['header authorization', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header', name: 'Authorization' } }) }, 'auth.source.name'],
    ['header x-consumer-name', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header', name: 'x-consumer-name' } }) }, 'auth.source.name'],
    ['header :path', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header', name: ':path' } }) }, 'auth.source.name'],
    ['header x-envoy-*', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header', name: 'x-envoy-foo' } }) }, 'auth.source.name'],
    ['header with a space', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header', name: 'x api key' } }) }, 'auth.source.name'],
    ['header with a colon', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header', name: 'x-api:key' } }) }, 'auth.source.name'],
    ['header 65 chars', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'header', name: 'h'.repeat(65) } }) }, 'auth.source.name'],
    ['query name missing', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'query' } }) }, 'auth.source.name'],
    ['query name with a space', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'query', name: 'api key' } }) }, 'auth.source.name'],
    ['query name with &', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'query', name: 'a&b' } }) }, 'auth.source.name'],
    ['query name empty', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ source: { in: 'query', name: '' } }) }, 'auth.source.name'],
    // expiresAt
    ['expiresAt not ISO', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ expiresAt: 'tomorrow' }) }, 'auth.expiresAt'],
    ['expiresAt without a zone', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ expiresAt: '2030-01-01T00:00:00' }) }, 'auth.expiresAt'],
    ['expiresAt a number', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ expiresAt: 1893456000000 }) }, 'auth.expiresAt'],
    ['expiresAt in the past', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey({ expiresAt: '2020-01-01T00:00:00Z' }) }, 'auth.expiresAt'],
    // body
    ['unknown top-level field', 'POST', '/v1/consumers', { name: 'x1', auth: apiKey(), color: 'red' }, 'color'],
    ['body an array', 'POST', '/v1/consumers', [], 'body'],
    ['body null', 'POST', '/v1/consumers', 'null', 'body'],
    ['body not JSON', 'POST', '/v1/consumers', '{"name":', 'body'],
    // PATCH
    ['patch enabled "yes"', 'PATCH', '/v1/consumers/alice', { enabled: 'yes' }, 'enabled'],
    ['patch enabled null', 'PATCH', '/v1/consumers/alice', { enabled: null }, 'enabled'],
    ['patch description 257', 'PATCH', '/v1/consumers/alice', { description: 'd'.repeat(257) }, 'description'],
    ['patch rename', 'PATCH', '/v1/consumers/alice', { name: 'alice2' }, 'name'],
    ['patch auth', 'PATCH', '/v1/consumers/alice', { auth: apiKey() }, 'auth'],
    ['patch not JSON', 'PATCH', '/v1/consumers/alice', 'nope', 'body'],
    ['patch empty body', 'PATCH', '/v1/consumers/alice', undefined, 'body'],
    // keys add
    ['key generation bad', 'POST', '/v1/consumers/alice/keys', { generation: 'random' }, 'generation'],
    ['key custom missing', 'POST', '/v1/consumers/alice/keys', { generation: 'custom' }, 'key'],
    ['key custom 15 chars', 'POST', '/v1/consumers/alice/keys', { generation: 'custom', key: 'k'.repeat(15) }, 'key'],
    ['key custom with a comma', 'POST', '/v1/consumers/alice/keys', { generation: 'custom', key: 'abcdefgh,ijklmnop' }, 'key'],
    ['key with system generation', 'POST', '/v1/consumers/alice/keys', { key: 'abcdefghijklmnopq' }, 'key'],
    ['key expiresAt past', 'POST', '/v1/consumers/alice/keys', { expiresAt: '2001-01-01T00:00:00Z' }, 'expiresAt'],
    ['key unknown field', 'POST', '/v1/consumers/alice/keys', { source: { in: 'bearer' } }, 'source'],
    ['key body an array', 'POST', '/v1/consumers/alice/keys', [], 'body'],
    // list parameters
    ['limit 0', 'GET', '/v1/consumers?limit=0', undefined, 'limit'],
    ['limit 1001', 'GET', '/v1/consumers?limit=1001', undefined, 'limit'],
    ['limit abc', 'GET', '/v1/consumers?limit=abc', undefined, 'limit'],
    ['limit -1', 'GET', '/v1/consumers?limit=-1', undefined, 'limit'],
    ['limit 1.5', 'GET', '/v1/consumers?limit=1.5', undefined, 'limit'],
    ['cursor garbage', 'GET', '/v1/consumers?cursor=!!!', undefined, 'cursor'],
    ['cursor decoding to a non-name', 'GET', `/v1/consumers?cursor=${Buffer.from('../x').toString('base64url')}`, undefined, 'cursor'],
    ['routes limit 0', 'GET', '/v1/routes?limit=0', undefined, 'limit'],
    ['routes cursor garbage', 'GET', '/v1/routes?cursor=%25%25', undefined, 'cursor'],
    // names in the path
    ['consumer name in path', 'GET', '/v1/consumers/.hidden', undefined, 'name'],
    ['consumer name in path (patch)', 'PATCH', '/v1/consumers/a%20b', { enabled: false }, 'name'],
    ['consumer name in path (delete)', 'DELETE', `/v1/consumers/${'n'.repeat(65)}`, undefined, 'name'],
    ['bad percent-encoding in path', 'GET', '/v1/consumers/%E0%A4%A', undefined, 'path'],
    // routes
    ['route name leading dot', 'PUT', '/v1/routes/.chat', { consumers: ['alice'] }, 'route'],
    ['route name with a slash', 'PUT', '/v1/routes/a%2Fb', { consumers: ['alice'] }, 'route'],
    ['route name 129 chars', 'PUT', `/v1/routes/${'r'.repeat(129)}`, { consumers: ['alice'] }, 'route'],
    ['route name (get)', 'GET', '/v1/routes/-x', undefined, 'route'],
    ['route name (delete)', 'DELETE', '/v1/routes/a%20b', undefined, 'route'],
    ['grants missing', 'PUT', '/v1/routes/chat', {}, 'consumers'],
    ['grants not an array', 'PUT', '/v1/routes/chat', { consumers: 'alice' }, 'consumers'],
    ['grants with a number', 'PUT', '/v1/routes/chat', { consumers: ['alice', 42] }, 'consumers[1]'],
    ['grants unknown field', 'PUT', '/v1/routes/chat', { consumers: ['alice'], mode: 'all' }, 'mode'],
  ];

  it.each(cases)('%s', async (_label, method, path, body, field) => {
    const before = await snapshot();
    const res = typeof body === 'string' ? await raw(method, path, body, { 'content-type': 'application/json' }) : await t.admin(method, path, body);
    expectInvalid(res, field);
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['grants naming an unknown consumer', '/v1/routes/chat', ['alice', 'nobody']],
    ['grants on a new route naming an unknown consumer', '/v1/routes/newroute', ['nobody']],
  ])('%s → 404 consumer_not_found naming it, and nothing changes', async (_label, path, consumers) => {
    const before = await snapshot();
    const res = await t.admin('PUT', path, { consumers });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('consumer_not_found');
    expect(res.body.error.field).toBe('consumers');
    expect(res.body.error.message).toContain('"nobody"');
    expect(await snapshot()).toEqual(before);
  });

  it('a refused create leaves the name free (the same name then succeeds)', async () => {
    expectInvalid(await t.admin('POST', '/v1/consumers', { name: 'later', auth: apiKey({ generation: 'bogus' }) }), 'auth.generation');
    expect((await t.admin('GET', '/v1/consumers/later')).status).toBe(404);
    const ok = await t.admin('POST', '/v1/consumers', { name: 'later', auth: apiKey() });
    expect(ok.status).toBe(201);
    expect((await t.admin('DELETE', '/v1/consumers/later')).status).toBe(204);
  });
});

describe('other refusals (not 400), nothing changed', () => {
  it('wrong content-type → 415 unsupported_media_type', async () => {
    const before = await snapshot();
    const body = JSON.stringify({ name: 'ct', auth: apiKey() });
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', '']) {
      const res = await raw('POST', '/v1/consumers', body, ct ? { 'content-type': ct } : {});
      expect(res.status, ct).toBe(415);
      expect(res.body.error.code).toBe('unsupported_media_type');
    }
    expect(await snapshot()).toEqual(before);
    // a charset parameter is fine
    const ok = await raw('POST', '/v1/consumers', body, { 'content-type': 'application/json; charset=utf-8' });
    expect(ok.status).toBe(201);
    expect((await t.admin('DELETE', '/v1/consumers/ct')).status).toBe(204);
  });

  it('body over 64 KiB → 413 payload_too_large (by content-length and by streaming)', async () => {
    const before = await snapshot();
    const big = JSON.stringify({ name: 'big', description: 'x'.repeat(70 * 1024), auth: apiKey() });
    const res = await raw('POST', '/v1/consumers', big, { 'content-type': 'application/json' });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    // chunked, no content-length
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(8 * 1024)));
        c.close();
      },
    });
    const res2 = await fetch(`http://127.0.0.1:${t.adminPort}/v1/consumers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res2.status).toBe(413);
    expect(((await res2.json()) as any).error.code).toBe('payload_too_large');
    expect(await snapshot()).toEqual(before);
  });

  it('404 for an unknown consumer, key, route and endpoint', async () => {
    const before = await snapshot();
    const cases: Array<[string, string, unknown, string]> = [
      ['GET', '/v1/consumers/nobody', undefined, 'consumer_not_found'],
      ['PATCH', '/v1/consumers/nobody', { enabled: false }, 'consumer_not_found'],
      ['DELETE', '/v1/consumers/nobody', undefined, 'consumer_not_found'],
      ['POST', '/v1/consumers/nobody/keys', {}, 'consumer_not_found'],
      ['DELETE', '/v1/consumers/nobody/keys/key_0000000000000000', undefined, 'consumer_not_found'],
      ['DELETE', '/v1/consumers/alice/keys/key_0000000000000000', undefined, 'key_not_found'],
      ['GET', '/v1/routes/nowhere', undefined, 'route_not_found'],
      ['DELETE', '/v1/routes/nowhere', undefined, 'route_not_found'],
      ['GET', '/v2/consumers', undefined, 'not_found'],
      ['GET', '/v1/consumers/alice/keys/x/y', undefined, 'not_found'],
      ['GET', '/v1', undefined, 'not_found'], // `/` is the web console
    ];
    for (const [method, path, body, code] of cases) {
      const res = await t.admin(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code, `${method} ${path}`).toBe(code);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('405 for a method an endpoint does not support', async () => {
    const before = await snapshot();
    for (const [method, path] of [
      ['PUT', '/v1/consumers'],
      ['DELETE', '/v1/consumers'],
      ['POST', '/v1/consumers/alice'],
      ['PUT', '/v1/consumers/alice'],
      ['GET', '/v1/consumers/alice/keys'],
      ['GET', '/v1/consumers/alice/keys/key_x'],
      ['POST', '/v1/routes/chat'],
      ['PATCH', '/v1/routes/chat'],
      ['POST', '/v1/routes'],
    ] as const) {
      const res = await t.admin(method, path, method === 'GET' || method === 'DELETE' ? undefined : {});
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.body.error.code).toBe('method_not_allowed');
    }
    expect(await snapshot()).toEqual(before);
  });

  it('409 for a duplicate name and for a custom key another consumer holds', async () => {
    const before = await snapshot();
    const dup = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: apiKey() });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('consumer_exists');
    const sameKey = await t.admin('POST', '/v1/consumers', { name: 'mallory', auth: custom(BOB_KEY) });
    expect(sameKey.status).toBe(409);
    expect(sameKey.body.error.code).toBe('credential_conflict');
    expect(sameKey.body.error.message).not.toContain(BOB_KEY);
    const addSame = await t.admin('POST', '/v1/consumers/alice/keys', { generation: 'custom', key: BOB_KEY });
    expect(addSame.status).toBe(409);
    expect(addSame.body.error.code).toBe('credential_conflict');
    // the consumer's own key a second time is a conflict too (one key, one credential id)
    const addOwn = await t.admin('POST', '/v1/consumers/bob/keys', { generation: 'custom', key: BOB_KEY });
    expect(addOwn.status).toBe(409);
    expect(addOwn.body.error.code).toBe('credential_conflict');
    expect(await snapshot()).toEqual(before);
  });

  it("removing a consumer's last key → 400, the key still works", async () => {
    const alice = (await t.admin('GET', '/v1/consumers/alice')).body;
    expect(alice.auth.keys).toHaveLength(1);
    const before = await snapshot();
    const res = await t.admin('DELETE', `/v1/consumers/alice/keys/${alice.auth.keys[0].id}`);
    expectInvalid(res, 'keyId');
    expect(await snapshot()).toEqual(before);
    expect(httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${aliceKey}` } }))).toBe(200);
  });
});

describe('happy paths', () => {
  it('POST /v1/consumers → 201 {consumer, apiKey}; defaults; GET shows the same consumer', async () => {
    const res = await t.admin('POST', '/v1/consumers', { name: 'dora', auth: apiKey() });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['apiKey', 'consumer']);
    const c = res.body.consumer;
    expect(c).toMatchObject({ name: 'dora', description: '', enabled: true, auth: { type: 'api-key', source: { in: 'bearer' } } });
    expect(c.id).toMatch(/^csm_[0-9a-f]{16}$/);
    expect(c.auth.keys).toHaveLength(1);
    expect(c.auth.keys[0]).toMatchObject({ generation: 'system', expiresAt: null });
    expect(c.auth.keys[0].hint).toBe(`cak_…${res.body.apiKey.slice(-4)}`);
    expect(res.body.apiKey).toMatch(/^cak_[0-9A-Za-z]{38}$/);
    const got = await t.admin('GET', '/v1/consumers/dora');
    expect(got.status).toBe(200);
    expect(got.body).toEqual(c);
    expect(httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${res.body.apiKey}` } }))).toBe(200);
    expect((await t.admin('DELETE', '/v1/consumers/dora')).status).toBe(204);
  });

  it('create with every field: custom key, query source, expiry, disabled, description', async () => {
    const res = await t.admin('POST', '/v1/consumers', {
      name: 'Eve.Test_1-a',
      description: 'ünïcode is fine here',
      enabled: false,
      auth: custom('eve-custom-key-0001', { source: { in: 'query', name: 'api_key' }, expiresAt: '2099-01-01T01:00:00+01:00' }),
    });
    expect(res.status).toBe(201);
    expect(res.body.apiKey).toBe('eve-custom-key-0001');
    expect(res.body.consumer).toMatchObject({
      name: 'Eve.Test_1-a',
      description: 'ünïcode is fine here',
      enabled: false,
      auth: { source: { in: 'query', name: 'api_key' }, keys: [{ generation: 'custom', hint: '…0001', expiresAt: '2099-01-01T00:00:00.000Z' }] },
    });
    const denied = await t.envoy.check({ path: '/x?api_key=eve-custom-key-0001' });
    expect(denyCode(denied)).toBe('consumer_disabled');
    expect((await t.admin('DELETE', '/v1/consumers/Eve.Test_1-a')).status).toBe(204);
  });

  it('header names are stored lower-case', async () => {
    const res = await t.admin('POST', '/v1/consumers', { name: 'hdr', auth: apiKey({ source: { in: 'header', name: 'X-My-Key' } }) });
    expect(res.status).toBe(201);
    expect(res.body.consumer.auth.source).toEqual({ in: 'header', name: 'x-my-key' });
    expect((await t.admin('DELETE', '/v1/consumers/hdr')).status).toBe(204);
  });

  it('PATCH enables/disables and edits the description; Check follows', async () => {
    const off = await t.admin('PATCH', '/v1/consumers/bob', { enabled: false, description: 'paused' });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ name: 'bob', enabled: false, description: 'paused' });
    expect(denyCode(await t.envoy.check({ headers: { 'x-api-key': BOB_KEY } }))).toBe('consumer_disabled');
    const on = await t.admin('PATCH', '/v1/consumers/bob', { enabled: true });
    expect(on.body).toMatchObject({ enabled: true, description: 'paused' });
    expect(httpStatus(await t.envoy.check({ headers: { 'x-api-key': BOB_KEY } }))).toBe(200);
    expect((await t.admin('PATCH', '/v1/consumers/bob', { description: '' })).body.description).toBe('');
  });

  it('DELETE → 204 with no body; the key stops working; the name and key are free again', async () => {
    const res = await t.admin('POST', '/v1/consumers', { name: 'gone', auth: custom('gone-custom-key-0001', { source: { in: 'header', name: 'x-api-key' } }) });
    expect(res.status).toBe(201);
    expect(httpStatus(await t.envoy.check({ headers: { 'x-api-key': 'gone-custom-key-0001' } }))).toBe(200);
    const del = await raw('DELETE', '/v1/consumers/gone', undefined);
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();
    expect((await t.admin('GET', '/v1/consumers/gone')).status).toBe(404);
    expect(denyCode(await t.envoy.check({ headers: { 'x-api-key': 'gone-custom-key-0001' } }))).toBe('invalid_credential');
    const again = await t.admin('POST', '/v1/consumers', { name: 'gone2', auth: custom('gone-custom-key-0001') });
    expect(again.status).toBe(201);
    expect((await t.admin('DELETE', '/v1/consumers/gone2')).status).toBe(204);
  });

  it('deleting a granted consumer keeps the route, which then admits nobody else', async () => {
    const r = await t.admin('POST', '/v1/consumers', { name: 'solo', auth: apiKey() });
    expect((await t.admin('PUT', '/v1/routes/solo-route', { consumers: ['solo'] })).status).toBe(200);
    expect((await t.admin('DELETE', '/v1/consumers/solo')).status).toBe(204);
    expect(denyCode(await t.envoy.check({ route: 'solo-route', headers: { authorization: `Bearer ${aliceKey}` } }))).toBe('route_forbidden');
    expect(denyCode(await t.envoy.check({ route: 'solo-route', headers: { authorization: `Bearer ${r.body.apiKey}` } }))).toBe('invalid_credential');
    expect((await t.admin('DELETE', '/v1/routes/solo-route')).status).toBe(204);
  });

  it('list paginates with nextCursor', async () => {
    for (const n of ['p1', 'p2', 'p3']) expect((await t.admin('POST', '/v1/consumers', { name: n, auth: apiKey() })).status).toBe(201);
    const all = (await t.admin('GET', '/v1/consumers')).body;
    expect(all.nextCursor).toBeNull();
    const names = all.items.map((c: { name: string }) => c.name);
    expect(names).toEqual([...names].sort());
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const page = await t.admin('GET', `/v1/consumers${q}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((c: { name: string }) => c.name));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(names);
    expect(pages).toBe(Math.ceil(names.length / 2));
    for (const n of ['p1', 'p2', 'p3']) expect((await t.admin('DELETE', `/v1/consumers/${n}`)).status).toBe(204);
  });

  it('routes: PUT (deduplicated, sorted) / GET / list / DELETE', async () => {
    const put = await t.admin('PUT', '/v1/routes/llm:chat.v2', { consumers: ['bob', 'alice', 'bob'] });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ route: 'llm:chat.v2', consumers: ['alice', 'bob'] });
    expect((await t.admin('GET', '/v1/routes/llm:chat.v2')).body).toEqual(put.body);
    const list = await t.admin('GET', '/v1/routes');
    expect(list.status).toBe(200);
    expect(list.body.items.map((r: { route: string }) => r.route)).toEqual(['chat', 'llm:chat.v2']);
    expect(list.body.nextCursor).toBeNull();
    const page = await t.admin('GET', '/v1/routes?limit=1');
    expect(page.body.items.map((r: { route: string }) => r.route)).toEqual(['chat']);
    const page2 = await t.admin('GET', `/v1/routes?limit=1&cursor=${page.body.nextCursor}`);
    expect(page2.body.items.map((r: { route: string }) => r.route)).toEqual(['llm:chat.v2']);
    const shrink = await t.admin('PUT', '/v1/routes/llm:chat.v2', { consumers: ['bob'] });
    expect(shrink.body.consumers).toEqual(['bob']);
    expect(denyCode(await t.envoy.check({ route: 'llm:chat.v2', headers: { authorization: `Bearer ${aliceKey}` } }))).toBe('route_forbidden');
    expect((await t.admin('DELETE', '/v1/routes/llm:chat.v2')).status).toBe(204);
    expect((await t.admin('GET', '/v1/routes/llm:chat.v2')).status).toBe(404);
    expect(httpStatus(await t.envoy.check({ route: 'llm:chat.v2', headers: { authorization: `Bearer ${aliceKey}` } }))).toBe(200);
  });

  it('PUT a route with an empty grant list admits nobody; DELETE opens it to every consumer', async () => {
    expect((await t.admin('PUT', '/v1/routes/empty', { consumers: [] })).status).toBe(200);
    expect(denyCode(await t.envoy.check({ route: 'empty', headers: { 'x-api-key': BOB_KEY } }))).toBe('route_forbidden');
    expect((await t.admin('DELETE', '/v1/routes/empty')).status).toBe(204);
    expect(httpStatus(await t.envoy.check({ route: 'empty', headers: { 'x-api-key': BOB_KEY } }))).toBe(200);
  });

  it('/healthz and /readyz answer 200 with JSON', async () => {
    const h = await t.admin('GET', '/healthz');
    expect(h).toEqual({ status: 200, body: { status: 'ok' } });
    const r = await t.admin('GET', '/readyz');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ready: true, warm: true, storeConnected: true, draining: false });
  });
});

describe('secrets never come back', () => {
  it('GET and list answers hold no apiKey, no hash, no key', async () => {
    const created = await t.admin('POST', '/v1/consumers', { name: 'secretive', auth: apiKey() });
    const added = await t.admin('POST', '/v1/consumers/secretive/keys', {});
    expect(added.status).toBe(201);
    const plain = [created.body.apiKey as string, added.body.apiKey as string, aliceKey, BOB_KEY];
    const answers = [
      (await t.admin('GET', '/v1/consumers/secretive')).body,
      (await t.admin('GET', '/v1/consumers/alice')).body,
      (await t.admin('GET', '/v1/consumers/bob')).body,
      (await t.admin('GET', '/v1/consumers?limit=1000')).body,
      (await t.admin('PATCH', '/v1/consumers/secretive', { description: 'x' })).body,
      (await t.admin('GET', '/v1/routes')).body,
    ];
    for (const a of answers) {
      const json = JSON.stringify(a);
      expect(json).not.toMatch(/"apiKey"/);
      expect(json).not.toMatch(/"hash"/);
      for (const k of plain) {
        expect(json).not.toContain(k);
        expect(json).not.toContain(hashKey(k));
      }
    }
    // the keys-add answer shows the new key once, and no hash
    expect(Object.keys(added.body).sort()).toEqual(['apiKey', 'key']);
    expect(JSON.stringify(added.body.key)).not.toContain(added.body.apiKey);
    expect(JSON.stringify(added.body)).not.toMatch(/"hash"/);
    expect((await t.admin('DELETE', '/v1/consumers/secretive')).status).toBe(204);
  });
});

describe('key rotation end to end with Check', () => {
  it('add a key, both work, remove the old one: old denied, new allowed', async () => {
    const created = await t.admin('POST', '/v1/consumers', { name: 'rotor', auth: apiKey({ source: { in: 'header', name: 'x-rotor-key' } }) });
    const oldKey = created.body.apiKey as string;
    const oldId = created.body.consumer.auth.keys[0].id as string;
    const check = (k: string) => t.envoy.check({ headers: { 'x-rotor-key': k } });
    expect(httpStatus(await check(oldKey))).toBe(200);

    const added = await t.admin('POST', '/v1/consumers/rotor/keys', { expiresAt: '2099-12-31T00:00:00Z' });
    expect(added.status).toBe(201);
    expect(added.body.key).toMatchObject({ generation: 'system', expiresAt: '2099-12-31T00:00:00.000Z' });
    const newKey = added.body.apiKey as string;
    const newId = added.body.key.id as string;
    expect(newId).not.toBe(oldId);
    expect((await t.admin('GET', '/v1/consumers/rotor')).body.auth.keys.map((k: { id: string }) => k.id)).toEqual([oldId, newId]);

    const both = await Promise.all([check(oldKey), check(newKey)]);
    expect(both.map(httpStatus)).toEqual([200, 200]);

    expect((await t.admin('DELETE', `/v1/consumers/rotor/keys/${oldId}`)).status).toBe(204);
    expect(denyCode(await check(oldKey))).toBe('invalid_credential');
    const ok = await check(newKey);
    expect(httpStatus(ok)).toBe(200);
    expect(ok.ok_response!.headers.find((h) => h.header.key === 'x-credential-id')?.header.value).toBe(newId);
    expect((await t.admin('GET', '/v1/consumers/rotor')).body.auth.keys.map((k: { id: string }) => k.id)).toEqual([newId]);
    // the removed key is free for another consumer; a custom key can rotate in too
    const custom2 = await t.admin('POST', '/v1/consumers/rotor/keys', { generation: 'custom', key: 'rotor-custom-key-0001' });
    expect(custom2.status).toBe(201);
    expect(custom2.body.apiKey).toBe('rotor-custom-key-0001');
    expect(httpStatus(await check('rotor-custom-key-0001'))).toBe(200);
    expect((await t.admin('DELETE', '/v1/consumers/rotor')).status).toBe(204);
  });

  it('at most 16 keys per consumer', async () => {
    expect((await t.admin('POST', '/v1/consumers', { name: 'many', auth: apiKey() })).status).toBe(201);
    for (let i = 1; i < 16; i++) expect((await t.admin('POST', '/v1/consumers/many/keys', {})).status).toBe(201);
    const before = await snapshot();
    const res = await t.admin('POST', '/v1/consumers/many/keys', {});
    expectInvalid(res, 'key');
    expect(await snapshot()).toEqual(before);
    expect((await t.admin('DELETE', '/v1/consumers/many')).status).toBe(204);
  });
});

describe('admin token', () => {
  const TOKEN = 'admin-token-0123456789abcdef';
  let s: TestApp;
  beforeAll(async () => {
    s = await startApp({ adminToken: TOKEN });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('missing or wrong → 401 unauthorized; right → 200', async () => {
    for (const token of ['', 'wrong-token-0123456789abcdef', TOKEN.slice(0, -1), `${TOKEN}x`]) {
      const res = await s.admin('GET', '/v1/consumers', undefined, token);
      expect(res.status, token).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    expect((await s.admin('GET', '/v1/consumers', undefined, TOKEN)).status).toBe(200);
  });

  it('the scheme must be Bearer (any case); other forms are refused', async () => {
    const get = (authorization: string) =>
      fetch(`http://127.0.0.1:${s.adminPort}/v1/consumers`, { headers: { authorization } }).then((r) => r.status);
    expect(await get(`bearer ${TOKEN}`)).toBe(200);
    expect(await get(`Basic ${TOKEN}`)).toBe(401);
    expect(await get(TOKEN)).toBe(401);
    expect(await get(`Bearer ${TOKEN} extra`)).toBe(401);
  });

  it('a write without the token changes nothing', async () => {
    const res = await s.admin('POST', '/v1/consumers', { name: 'sneaky', auth: apiKey() }, '');
    expect(res.status).toBe(401);
    expect((await s.admin('GET', '/v1/consumers/sneaky', undefined, TOKEN)).status).toBe(404);
    expect((await s.admin('POST', '/v1/consumers', { name: 'ok', auth: apiKey() }, TOKEN)).status).toBe(201);
  });

  it('/healthz and /readyz need no token', async () => {
    expect((await s.admin('GET', '/healthz', undefined, '')).status).toBe(200);
    expect((await s.admin('GET', '/readyz', undefined, '')).status).toBe(200);
  });
});
