/**
 * Issue 16 (1): expiring grants. A grant of a consumer on a route may carry an
 * expiry; past it the consumer gets 403 grant_expired on that route, by each
 * instance's own clock (no sweep). Boundaries just before / at the expiry, two
 * instances on one real Redis whose clocks disagree, renewal, the API's view
 * (expired list) and its input errors; the file store keeps expiries across a
 * restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus } from '../helpers/envoy.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

async function createKeyConsumer(t: TestApp, name: string, key: string): Promise<void> {
  const res = await t.admin('POST', '/v1/consumers', {
    name,
    auth: { type: 'api-key', generation: 'custom', key, source: { in: 'header', name: 'x-api-key' } },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

async function decision(t: TestApp, route: string, key: string): Promise<string> {
  const res = await t.envoy.check({ route, headers: { 'x-api-key': key } });
  return httpStatus(res) === 200 ? 'allow' : `${httpStatus(res)} ${denyCode(res) ?? ''}`.trim();
}

/** A wall clock the test moves: `base` + `offset`. */
function clock(): { now: () => number; set: (ms: number) => void } {
  let at = Date.parse('2030-06-01T12:00:00.000Z');
  return { now: () => at, set: (ms) => { at = ms; } };
}

const EXPIRY = '2030-06-01T12:00:10Z';
const EXPIRY_MS = Date.parse(EXPIRY);

describe('expiring grants: Redis, two instances with skewed clocks', () => {
  let redis: TestRedis;
  let a: TestApp;
  let b: TestApp;
  const ca = clock();
  const cb = clock();
  beforeAll(async () => {
    redis = await startRedis({ persist: false });
    a = await startApp({ redisUrl: redis.url, now: ca.now });
    b = await startApp({ redisUrl: redis.url, now: cb.now });
    await createKeyConsumer(a, 'alice', 'alice-key-000000001');
    await createKeyConsumer(a, 'bob', 'bob-key-00000000001');
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.close();
  });

  it('admits until the expiry and answers 403 grant_expired from it, each instance by its own clock', async () => {
    const put = await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice', 'bob'], expires: { alice: EXPIRY } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ consumers: ['alice', 'bob'], expires: { alice: '2030-06-01T12:00:10.000Z' }, expired: [] });
    await until(async () => (await decision(b, 'chat', 'alice-key-000000001')) === 'allow');

    ca.set(EXPIRY_MS - 1); // just before, on a
    cb.set(EXPIRY_MS); // b's clock runs 1 ms ahead: at the expiry, expired
    expect(await decision(a, 'chat', 'alice-key-000000001')).toBe('allow');
    expect(await decision(b, 'chat', 'alice-key-000000001')).toBe('403 grant_expired');
    // the long-term grantee and other routes are untouched
    expect(await decision(b, 'chat', 'bob-key-00000000001')).toBe('allow');
    expect(await decision(b, 'other', 'alice-key-000000001')).toBe('allow');

    ca.set(EXPIRY_MS + 5_000);
    expect(await decision(a, 'chat', 'alice-key-000000001')).toBe('403 grant_expired');
    const shown = await a.admin('GET', '/v1/routes/chat');
    expect(shown.body.expired).toEqual(['alice']);
    const list = await a.admin('GET', '/v1/routes');
    expect(list.body.items.find((r: { route: string }) => r.route === 'chat').expired).toEqual(['alice']);
    // b's clock is behind a's: to b the grant is still expired (it is at the expiry), nothing is swept
    expect((await b.admin('GET', '/v1/routes/chat')).body.expired).toEqual(['alice']);
  });

  it('writing the list back with the expired grant unchanged is accepted; renewal and long-term restore access', async () => {
    const back = await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice', 'bob'], expires: { alice: EXPIRY } });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body.expired).toEqual(['alice']);

    const renewed = await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice', 'bob'], expires: { alice: '2030-06-01T13:00:00Z' } });
    expect(renewed.status).toBe(200);
    expect(renewed.body.expired).toEqual([]);
    await until(async () => (await decision(b, 'chat', 'alice-key-000000001')) === 'allow');

    const longTerm = await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice', 'bob'] });
    expect(longTerm.body.expires).toBeUndefined();
    cb.set(Date.parse('2031-01-01T00:00:00Z'));
    await until(async () => (await decision(b, 'chat', 'alice-key-000000001')) === 'allow');
  });

  it('bad expiries get a clear error and change nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ alice: '2030-06-01T11:00:00Z' }, 'expires.alice'], // in the past, and not the stored one
      [{ alice: 'tomorrow' }, 'expires.alice'],
      [{ carol: EXPIRY }, 'expires.carol'], // not among consumers
      [['alice'], 'expires'],
    ];
    for (const [expires, field] of cases) {
      const res = await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice', 'bob'], expires });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
    expect((await a.admin('GET', '/v1/routes/chat')).body.expires).toBeUndefined();
  });

  it('a deleted consumer takes its expiry with it', async () => {
    expect((await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice', 'bob'], expires: { alice: '2031-06-01T13:00:00Z', bob: '2031-06-01T13:00:00Z' } })).status).toBe(200);
    expect((await a.admin('DELETE', '/v1/consumers/bob')).status).toBe(204);
    const after = (await a.admin('GET', '/v1/routes/chat')).body;
    expect(after.consumers).toEqual(['alice']);
    expect(after.expires).toEqual({ alice: '2031-06-01T13:00:00.000Z' });
  });
});

describe('expiring grants: file store, across a restart', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'grant-expiry-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('the expiry is kept in DATA_FILE and enforced after a restart', async () => {
    const c = clock();
    const env = { DATA_FILE: join(dir, 'data.json') };
    const first = await startApp({ env, now: c.now });
    await createKeyConsumer(first, 'alice', 'alice-key-000000001');
    expect((await first.admin('PUT', '/v1/routes/chat', { consumers: ['alice'], expires: { alice: EXPIRY } })).status).toBe(200);
    await first.stop();
    const second = await startApp({ env, now: c.now });
    try {
      await until(async () => (await decision(second, 'chat', 'alice-key-000000001')) === 'allow');
      c.set(EXPIRY_MS);
      expect(await decision(second, 'chat', 'alice-key-000000001')).toBe('403 grant_expired');
    } finally {
      await second.stop();
    }
  });
});
