/**
 * Wire conformance: CheckRequests encoded with the official Envoy protos, sent
 * to the real gRPC server, answers decoded with the official CheckResponse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { denyCode, header, httpStatus, type OfficialCheckResponse } from '../helpers/envoy.js';
import { startApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let aliceKey: string;
let bobKey: string;
let carolKey: string;

beforeAll(async () => {
  t = await startApp();
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  aliceKey = a.body.apiKey;
  const b = await t.admin('POST', '/v1/consumers', {
    name: 'bob',
    auth: { type: 'api-key', generation: 'custom', key: 'bob-custom-key-0001', source: { in: 'header', name: 'X-API-Key' } },
  });
  bobKey = b.body.apiKey;
  const c = await t.admin('POST', '/v1/consumers', {
    name: 'carol',
    auth: { type: 'api-key', source: { in: 'query', name: 'api_key' } },
  });
  carolKey = c.body.apiKey;
  expect([a.status, b.status, c.status]).toEqual([201, 201, 201]);
});

afterAll(async () => {
  await t.stop();
});

function okHeaders(res: OfficialCheckResponse) {
  expect(res.http_response).toBe('ok_response');
  return res.ok_response!.headers;
}

describe('allow answers, decoded with the official CheckResponse', () => {
  it('bearer key: identity headers overwrite (append=false, append_action unset), credential header removed, metadata set', async () => {
    const res = await t.envoy.check({ path: '/v1/chat', headers: { authorization: `Bearer ${aliceKey}` } });
    expect(res.status?.code).toBe(0);
    const hs = okHeaders(res);
    const alice = (await t.admin('GET', '/v1/consumers/alice')).body;
    expect(header(hs, 'x-consumer-name')).toBe('alice');
    expect(header(hs, 'x-mse-consumer')).toBe('alice');
    expect(header(hs, 'x-consumer-id')).toBe(alice.id);
    expect(header(hs, 'x-credential-id')).toBe(alice.auth.keys[0].id);
    for (const h of hs) {
      expect(h.append).toEqual({ value: false });
      expect(h.append_action).toBe('APPEND_IF_EXISTS_OR_ADD'); // enum default: field not sent
    }
    expect(res.ok_response!.headers_to_remove).toEqual(['authorization']);
    expect(res.ok_response!.query_parameters_to_remove).toEqual([]);
    const md = res.dynamic_metadata!.fields;
    expect(md.consumer_name?.stringValue).toBe('alice');
    expect(md.consumer_id?.stringValue).toBe(alice.id);
    expect(md.auth_type?.stringValue).toBe('api-key');
  });

  it('custom header key (header name configured in mixed case, sent lower-case by Envoy)', async () => {
    const res = await t.envoy.check({ headers: { 'x-api-key': bobKey } });
    expect(header(okHeaders(res), 'x-consumer-name')).toBe('bob');
    expect(res.ok_response!.headers_to_remove).toEqual(['x-api-key']);
  });

  it('query parameter key: removed with query_parameters_to_remove, other parameters untouched', async () => {
    const res = await t.envoy.check({ path: `/v1/models?limit=5&api_key=${carolKey}&x=1` });
    expect(header(okHeaders(res), 'x-consumer-name')).toBe('carol');
    expect(res.ok_response!.query_parameters_to_remove).toEqual(['api_key']);
    expect(res.ok_response!.headers_to_remove).toEqual([]);
  });

  it('header_map (encode_raw_headers) is read like the headers map', async () => {
    const res = await t.envoy.check({ rawHeaders: true, headers: { authorization: `Bearer ${aliceKey}` } });
    expect(header(okHeaders(res), 'x-consumer-name')).toBe('alice');
  });

  it('client-sent identity headers are overwritten with the real identity', async () => {
    const res = await t.envoy.check({
      headers: {
        authorization: `Bearer ${aliceKey}`,
        'x-consumer-name': 'admin',
        'x-mse-consumer': 'admin',
        'x-consumer-id': 'csm_forged',
        'x-credential-id': 'key_forged',
      },
    });
    const hs = okHeaders(res);
    expect(header(hs, 'x-consumer-name')).toBe('alice');
    expect(header(hs, 'x-mse-consumer')).toBe('alice');
    expect(header(hs, 'x-consumer-id')).not.toBe('csm_forged');
    expect(header(hs, 'x-credential-id')).not.toBe('key_forged');
    expect(hs.every((h) => h.append?.value === false)).toBe(true);
  });
});

describe('deny answers', () => {
  it('missing credential: 401, JSON body, content-type, www-authenticate, UNAUTHENTICATED', async () => {
    const res = await t.envoy.check({ path: '/v1/chat' });
    expect(res.http_response).toBe('denied_response');
    expect(res.status?.code).toBe(16);
    expect(httpStatus(res)).toBe(401);
    expect(res.denied_response!.status.code).toBe('Unauthorized');
    expect(header(res.denied_response!.headers, 'content-type')).toBe('application/json');
    expect(header(res.denied_response!.headers, 'www-authenticate')).toBe('Bearer realm="consumer-authz"');
    expect(JSON.parse(res.denied_response!.body)).toEqual({
      error: { code: 'missing_credential', message: 'No credential was found in the request.' },
    });
  });

  it('unknown key: 401 invalid_credential with error="invalid_token"', async () => {
    const res = await t.envoy.check({ headers: { authorization: 'Bearer cak_notarealkeynotarealkeynotarealk000000' } });
    expect(httpStatus(res)).toBe(401);
    expect(denyCode(res)).toBe('invalid_credential');
    expect(header(res.denied_response!.headers, 'www-authenticate')).toContain('error="invalid_token"');
  });

  it('disabled consumer: 403 consumer_disabled, PERMISSION_DENIED, no www-authenticate', async () => {
    await t.admin('PATCH', '/v1/consumers/bob', { enabled: false });
    const res = await t.envoy.check({ headers: { 'x-api-key': bobKey } });
    expect(httpStatus(res)).toBe(403);
    expect(res.status?.code).toBe(7);
    expect(denyCode(res)).toBe('consumer_disabled');
    expect(header(res.denied_response!.headers, 'www-authenticate')).toBeUndefined();
    await t.admin('PATCH', '/v1/consumers/bob', { enabled: true });
    expect(httpStatus(await t.envoy.check({ headers: { 'x-api-key': bobKey } }))).toBe(200);
  });

  it('route grants: a granted route admits only its consumers; other routes admit everyone', async () => {
    expect((await t.admin('PUT', '/v1/routes/chat', { consumers: ['alice'] })).status).toBe(200);
    const asAlice = await t.envoy.check({ route: 'chat', headers: { authorization: `Bearer ${aliceKey}` } });
    const asBob = await t.envoy.check({ route: 'chat', headers: { 'x-api-key': bobKey } });
    const bobElsewhere = await t.envoy.check({ route: 'models', headers: { 'x-api-key': bobKey } });
    expect(httpStatus(asAlice)).toBe(200);
    expect(httpStatus(asBob)).toBe(403);
    expect(denyCode(asBob)).toBe('route_forbidden');
    expect(httpStatus(bobElsewhere)).toBe(200);
  });
});

describe('grpc health', () => {
  it('reports SERVING for "" and the Authorization service once warm', async () => {
    const grpc = await import('@grpc/grpc-js');
    const { loadSync } = await import('@grpc/proto-loader');
    const { protoPath } = await import('grpc-health-check');
    const def = grpc.loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String })) as any;
    const client = new def.grpc.health.v1.Health(`127.0.0.1:${t.grpcPort}`, grpc.credentials.createInsecure());
    const ask = (service: string) =>
      new Promise<string>((resolve, reject) =>
        client.Check({ service }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))),
      );
    expect(await ask('')).toBe('SERVING');
    expect(await ask('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    await expect(ask('no.such.Service')).rejects.toThrow(/NOT_FOUND/);
    client.close();
  });
});
