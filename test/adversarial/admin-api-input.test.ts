/**
 * Attack class: admin API input, through the real admin HTTP server. Bodies
 * that readers disagree on — duplicate members at any depth (JSON.parse keeps
 * the last), bytes that are not UTF-8 — and timestamps that Date.parse
 * "repairs" (2030-02-30 becomes March 2): each is a 400 invalid_request that
 * names the member or field, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await startApp();
  expect((await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } })).status).toBe(201);
});
afterAll(async () => {
  await t?.stop();
});

/** Sends raw body bytes as JSON; answers status and parsed body. */
async function raw(method: string, path: string, body: string | Buffer): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${t.adminPort}${path}`, { method, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const refused = (r: { status: number; body: any }) => [r.status, r.body?.error?.code, r.body?.error?.field];

describe('duplicate members → 400 naming the member, nothing changed', () => {
  it('PATCH {"enabled":false,"enabled":true}: 400 enabled; alice stays enabled', async () => {
    expect(refused(await raw('PATCH', '/v1/consumers/alice', '{"enabled":false,"enabled":true}'))).toEqual([400, 'invalid_request', 'enabled']);
    expect(refused(await raw('PATCH', '/v1/consumers/alice', '{"enabled":true,"enabled":false}'))).toEqual([400, 'invalid_request', 'enabled']);
    expect((await t.admin('GET', '/v1/consumers/alice')).body.enabled).toBe(true);
  });

  const cases: Array<[string, string, string, string]> = [
    ['top level, escaped spelling', 'POST', '/v1/consumers', '{"name":"d1","n\\u0061me":"d2","auth":{"type":"api-key"}}'],
    ['nested in auth', 'POST', '/v1/consumers', '{"name":"d3","auth":{"type":"api-key","type":"jwt"}}'],
    ['two levels down', 'POST', '/v1/consumers', '{"name":"d4","auth":{"type":"api-key","source":{"in":"header","in":"query","name":"x-k"}}}'],
    ['inside an array element', 'POST', '/v1/consumers', '{"name":"d5","auth":{"type":"jwt","keyType":"asymmetric","jwks":{"keys":[{"kty":"OKP"},{"kty":"OKP","crv":"Ed25519","crv":"Ed25519","x":"AA"}]}}}'],
    ['with whitespace before the colon', 'POST', '/v1/consumers', '{"name" : "d6", "name"\n:\t"d6", "auth":{"type":"api-key"}}'],
    ['route grants', 'PUT', '/v1/routes/r1', '{"consumers":["alice"],"consumers":[]}'],
    ['a new key', 'POST', '/v1/consumers/alice/keys', '{"generation":"system","generation":"custom"}'],
  ];
  const fields = ['name', 'auth.type', 'auth.source.in', 'auth.jwks.keys[1].crv', 'name', 'consumers', 'generation'];
  it.each(cases.map((c, i) => [...c, fields[i]] as const))('%s → 400 %s', async (_label, method, path, body, field) => {
    expect(refused(await raw(method, path, body))).toEqual([400, 'invalid_request', field]);
  });

  it('nothing was created or changed by the refused bodies', async () => {
    for (const n of ['d1', 'd2', 'd3', 'd4', 'd5', 'd6']) expect((await t.admin('GET', `/v1/consumers/${n}`)).status).toBe(404);
    expect((await t.admin('GET', '/v1/routes/r1')).status).toBe(404);
    expect((await t.admin('GET', '/v1/consumers/alice')).body.auth.keys).toHaveLength(1);
  });

  it('the same name in different objects, or as a string value, is not a duplicate', async () => {
    const ok = await raw('POST', '/v1/consumers', '{"name":"nd","description":"name","auth":{"type":"api-key","source":{"in":"header","name":"x-name"}}}');
    expect(ok.status).toBe(201);
  });
});

describe('bodies that are not UTF-8 → 400 body', () => {
  it.each([
    ['a lone 0xFF in a string', Buffer.concat([Buffer.from('{"enabled":true,"description":"'), Buffer.from([0xff]), Buffer.from('"}')])],
    ['an overlong "/"', Buffer.concat([Buffer.from('{"description":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])],
    ['a surrogate', Buffer.concat([Buffer.from('{"description":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
  ])('%s', async (_label, body) => {
    expect(refused(await raw('PATCH', '/v1/consumers/alice', body))).toEqual([400, 'invalid_request', 'body']);
    expect((await t.admin('GET', '/v1/consumers/alice')).body.description).toBe('');
  });
});

describe('expiresAt: RFC 3339 instants that exist, or 400 naming the field', () => {
  const bad = [
    '2030-02-30T00:00:00Z', // Feb 30
    '2030-02-29T00:00:00Z', // not a leap year
    '2100-02-29T00:00:00Z', // divisible by 100, not by 400
    '2030-04-31T00:00:00Z', // April has 30 days
    '2030-13-01T00:00:00Z',
    '2030-00-10T00:00:00Z',
    '2030-01-00T00:00:00Z',
    '2030-01-32T00:00:00Z',
    '2030-01-01T24:00:00Z', // hour 24
    '2030-01-01T23:60:00Z',
    '2030-12-31T23:59:60Z', // leap second
    '2030-01-01T00:00:00+24:00',
    '2030-01-01T00:00:00+23:60',
    '2030-01-01T00:00:00-99:00',
    '2030-01-01T00:00Z', // no seconds
    '2030-01-01 00:00:00Z', // space separator
    '2030-01-01t00:00:00z',
    '2030-01-01T00:00:00', // no zone
    '2030-01-01T00:00:00+0100',
    '2030-01-01T00:00:00.1234567890Z', // 10 fraction digits
    '+02030-01-01T00:00:00Z',
    '2030-1-1T00:00:00Z',
    '2030-01-01T00:00:00Z ',
    '\u0662\u0660\u0663\u0660-01-01T00:00:00Z', // Arabic-Indic digits
  ];
  it.each(bad)('%s → 400 auth.expiresAt (create) and expiresAt (key add)', async (v) => {
    const c = await t.admin('POST', '/v1/consumers', { name: 'exp1', auth: { type: 'api-key', expiresAt: v } });
    expect(refused(c)).toEqual([400, 'invalid_request', 'auth.expiresAt']);
    const k = await t.admin('POST', '/v1/consumers/alice/keys', { expiresAt: v });
    expect(refused(k)).toEqual([400, 'invalid_request', 'expiresAt']);
  });

  it.each([
    ['2028-02-29T00:00:00Z', '2028-02-29T00:00:00.000Z'], // leap year
    ['2400-02-29T12:00:00Z', '2400-02-29T12:00:00.000Z'], // divisible by 400
    ['2099-01-01T01:00:00+01:00', '2099-01-01T00:00:00.000Z'],
    ['2099-01-01T00:00:00-23:59', '2099-01-01T23:59:00.000Z'],
    ['2099-12-31T23:59:59.999999999Z', '2099-12-31T23:59:59.999Z'],
    ['2099-06-30T10:20:30.5Z', '2099-06-30T10:20:30.500Z'],
  ])('%s is stored as %s', async (v, stored) => {
    const res = await t.admin('POST', '/v1/consumers/alice/keys', { expiresAt: v });
    expect(res.status).toBe(201);
    expect(res.body.key.expiresAt).toBe(stored);
    expect((await t.admin('DELETE', `/v1/consumers/alice/keys/${res.body.key.id}`)).status).toBe(204);
  });
});

describe('route match rules one step past what is allowed → 400 naming the field, nothing saved', () => {
  const rule = (r: object) => ({ consumers: null, match: [r] });
  const cases: Array<[string, object]> = [
    ['an unknown member in a rule', { hosts: ['api.example.com'], paths: { exact: '/a' } }],
    ['two path kinds at once', { path: { exact: '/a', prefix: '/b' } }],
    ['a path that does not start with /', { path: { exact: 'a/b' } }],
    ['a prefix with a .. segment', { path: { prefix: '/a/..' } }],
    ['a percent-encoded slash in an exact path', { path: { exact: '/a%2Fb' } }],
    ['a template with an unclosed placeholder', { path: { template: '/v1/{id' } }],
    ['a wildcard that is not a leading *.', { hosts: ['api.*.example.com'] }],
    ['a bare * host', { hosts: ['*'] }],
    ['a method with a space', { methods: ['GET '] }],
  ];
  it.each(cases)('%s', async (_label, r) => {
    const res = await t.admin('PUT', '/v1/routes/m1', rule(r));
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.field).toMatch(/^match/);
  });

  it('none of them was saved', async () => {
    expect((await t.admin('GET', '/v1/routes/m1')).status).toBe(404);
  });
});
