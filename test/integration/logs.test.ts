/**
 * Logs: one JSON line per decision at debug, denials at info with request id,
 * route, consumer, reason and latency; nothing for allowed requests at info;
 * and no credential, token, key or cookie in any line at any level.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus, type EnvoyRequest } from '../helpers/envoy.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { logger: createLogger(level, stream), lines, raw };
}

const ADMIN_TOKEN = 'admin-secret-token-0123456789';

describe('decision logs', () => {
  it('at debug: every decision, with request id, route, consumer, reason and latency; and never a secret at any level', async () => {
    const log = capture('trace');
    t = await startApp({ logger: log.logger, adminToken: ADMIN_TOKEN });
    const alice = (await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } })).body.apiKey as string;
    const bobKey = 'bob-custom-secret-key-0001';
    expect((await t.admin('POST', '/v1/consumers', { name: 'bob', enabled: false, auth: { type: 'api-key', generation: 'custom', key: bobKey, source: { in: 'header', name: 'x-api-key' } } })).status).toBe(201);
    const carol = (await t.admin('POST', '/v1/consumers', { name: 'carol', auth: { type: 'api-key', source: { in: 'query', name: 'api_key' } } })).body.apiKey as string;
    const rotated = (await t.admin('POST', '/v1/consumers/alice/keys', { generation: 'custom', key: 'alice-rotated-secret-0001' })).body.apiKey as string;
    await t.admin('GET', '/v1/consumers', undefined, 'wrong-admin-secret-000000');
    await until(async () => httpStatus(await t!.envoy.check({ headers: { authorization: `Bearer ${alice}` } })) === 200);

    const cookie = 'session=cookie-secret-value-0001; theme=dark';
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJ4In0.jwt-secret-signature-0001';
    const secrets = [ADMIN_TOKEN, 'wrong-admin-secret-000000', alice, bobKey, carol, rotated, 'cookie-secret-value-0001', 'jwt-secret-signature-0001', 'basic-secret-0001', 'unknown-secret-key-0001'];
    const requests: EnvoyRequest[] = [
      { headers: { authorization: `Bearer ${alice}`, cookie }, route: 'chat' },
      { headers: { authorization: `Bearer ${rotated}` }, path: `/v1/chat?x=1&api_key=${carol}` },
      { headers: { 'x-api-key': bobKey, cookie }, route: 'orders' },
      { path: `/search?api_key=${carol}` },
      { headers: { authorization: `Bearer ${jwt}` } },
      { headers: { authorization: 'Basic basic-secret-0001' } },
      { headers: { authorization: 'Bearer unknown-secret-key-0001' }, route: 'chat' },
      {},
    ];
    const codes: Array<string | undefined> = [];
    for (const r of requests) codes.push(denyCode(await t.envoy.check(r)));
    expect(codes).toEqual([undefined, 'invalid_credential', 'consumer_disabled', undefined, 'invalid_credential', 'invalid_credential', 'invalid_credential', 'missing_credential']);
    await t.stop();
    t = undefined;

    for (const line of log.raw) for (const s of secrets) expect(line, `a log line holds ${s}`).not.toContain(s);
    const decisions = log.lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('check '));
    const allowed = decisions.filter((l) => l.msg === 'check allowed');
    expect(allowed.length).toBeGreaterThanOrEqual(2);
    expect(allowed.every((l) => l.level === 20 && typeof l.ms === 'number' && typeof l.requestId === 'string')).toBe(true);
    const denied = decisions.filter((l) => l.msg === 'check denied');
    expect(denied.find((l) => l.reason === 'consumer_disabled')).toMatchObject({ level: 30, consumer: 'bob', authType: 'api-key', route: 'orders' });
    // Envoy's request id (attributes.request.http.id, i.e. x-request-id) names each line.
    expect(denied.find((l) => l.reason === 'invalid_credential' && l.route === 'chat')).toMatchObject({ level: 30, requestId: expect.stringMatching(/^req-\d+$/) });
    expect(allowed.find((l) => l.consumer === 'carol')).toMatchObject({ route: '', authType: 'api-key', requestId: expect.stringMatching(/^req-\d+$/) });
    for (const l of decisions) expect(Object.keys(l)).not.toContain('path');
  });

  it('a route named by match rules (no context_extensions) is the route the allow and the refusal log', async () => {
    const log = capture('debug');
    t = await startApp({ logger: log.logger, adminToken: ADMIN_TOKEN });
    const alice = (await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } })).body.apiKey as string;
    const bob = (await t.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key' } })).body.apiKey as string;
    const put = await t.admin('PUT', '/v1/routes/orders', { consumers: ['alice'], match: [{ hosts: ['api.example.com'], path: { prefix: '/v1/orders' } }] });
    expect(put.status).toBe(200);
    await until(async () => httpStatus(await t!.envoy.check({ headers: { authorization: `Bearer ${alice}` }, path: '/v1/orders/1' })) === 200);
    expect(denyCode(await t.envoy.check({ headers: { authorization: `Bearer ${bob}` }, path: '/v1/orders/2' }))).toBe('route_forbidden');
    await t.stop();
    t = undefined;
    const allowed = log.lines.filter((l) => l.msg === 'check allowed' && l.consumer === 'alice');
    expect(allowed.length).toBeGreaterThanOrEqual(1);
    expect(allowed.every((l) => l.route === 'orders')).toBe(true);
    expect(log.lines.find((l) => l.msg === 'check denied' && l.reason === 'route_forbidden')).toMatchObject({ consumer: 'bob', route: 'orders' });
  });

  it('at info: denials only, nothing per allowed request', async () => {
    const log = capture('info');
    t = await startApp({ logger: log.logger });
    const alice = (await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } })).body.apiKey as string;
    await until(async () => httpStatus(await t!.envoy.check({ headers: { authorization: `Bearer ${alice}` } })) === 200);
    const before = log.lines.length;
    for (let i = 0; i < 20; i++) await t.envoy.check({ headers: { authorization: `Bearer ${alice}` } });
    expect(log.lines.length).toBe(before);
    await t.envoy.check({});
    expect(log.lines.slice(before).map((l) => [l.level, l.msg, l.reason])).toEqual([[30, 'check denied', 'missing_credential']]);
  });

  it('the logger redacts secret-bearing fields wherever they are logged', () => {
    const log = capture('debug');
    log.logger.info({ apiKey: 'k1-secret', token: 't1-secret', req: { headers: { authorization: 'Bearer a1-secret', cookie: 'c1-secret' } }, headers: { authorization: 'a2-secret', cookie: 'c2-secret' }, body: { key: 'k2-secret', jwks: { keys: ['j1-secret'] } } }, 'x');
    expect(log.raw).toHaveLength(1);
    expect(log.raw[0]).not.toMatch(/-secret/);
  });
});
