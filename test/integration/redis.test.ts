/**
 * Many instances on one real Redis: propagation between instances, no Redis
 * call on the Check hot path, fail-closed behaviour while Redis is down and
 * recovery when it returns, atomic creates racing across instances.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { denyCode, httpStatus } from '../helpers/envoy.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let a: TestApp;
let b: TestApp;
let prefixSeq = 0;

async function pair(env: Record<string, string> = {}): Promise<void> {
  const common = { REDIS_KEY_PREFIX: `t${++prefixSeq}:`, ...env };
  a = await startApp({ redisUrl: redis.url, env: common });
  b = await startApp({ redisUrl: redis.url, env: common });
}

async function create(app: TestApp, name: string, extra: object = {}): Promise<string> {
  const res = await app.admin('POST', '/v1/consumers', { name, auth: { type: 'api-key', ...extra } });
  expect(res.status).toBe(201);
  return res.body.apiKey as string;
}

const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis.close();
});

afterEach(async () => {
  await a?.stop();
  await b?.stop();
});

describe('two instances sharing one Redis', () => {
  it('a consumer created, disabled and deleted on A is allowed, then refused, on B within 1 s', async () => {
    await pair();
    const key = await create(a, 'alice');
    const created = await until(async () => httpStatus(await b.envoy.check(bearer(key))) === 200, 1000);
    await a.admin('PATCH', '/v1/consumers/alice', { enabled: false });
    const disabled = await until(async () => denyCode(await b.envoy.check(bearer(key))) === 'consumer_disabled', 1000);
    await a.admin('PATCH', '/v1/consumers/alice', { enabled: true });
    await until(async () => httpStatus(await b.envoy.check(bearer(key))) === 200, 1000);
    expect((await a.admin('DELETE', '/v1/consumers/alice')).status).toBe(204);
    const deleted = await until(async () => denyCode(await b.envoy.check(bearer(key))) === 'invalid_credential', 1000);
    // Each bound is asserted by until(); the numbers are kept for the report.
    expect(Math.max(created, disabled, deleted)).toBeLessThan(1000);
  });

  it('route grants made on A apply on B', async () => {
    await pair();
    const alice = await create(a, 'alice');
    const bob = await create(a, 'bob');
    await until(async () => httpStatus(await b.envoy.check(bearer(bob))) === 200, 1000);
    expect((await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice'] })).status).toBe(200);
    await until(async () => denyCode(await b.envoy.check({ ...bearer(bob), route: 'chat' })) === 'route_forbidden', 1000);
    expect(httpStatus(await b.envoy.check({ ...bearer(alice), route: 'chat' }))).toBe(200);
    await a.admin('DELETE', '/v1/routes/chat');
    await until(async () => httpStatus(await b.envoy.check({ ...bearer(bob), route: 'chat' })) === 200, 1000);
  });

  it('a removed key stops working on B; the new key of a rotation works there', async () => {
    await pair();
    const oldKey = await create(a, 'alice');
    const added = await a.admin('POST', '/v1/consumers/alice/keys', {});
    expect(added.status).toBe(201);
    await until(async () => httpStatus(await b.envoy.check(bearer(added.body.apiKey))) === 200, 1000);
    const oldId = (await a.admin('GET', '/v1/consumers/alice')).body.auth.keys[0].id;
    expect((await a.admin('DELETE', `/v1/consumers/alice/keys/${oldId}`)).status).toBe(204);
    await until(async () => denyCode(await b.envoy.check(bearer(oldKey))) === 'invalid_credential', 1000);
    expect(httpStatus(await b.envoy.check(bearer(added.body.apiKey)))).toBe(200);
  });

  it('twenty creates of one name racing on two instances: exactly one wins', async () => {
    await pair();
    const attempts = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).admin('POST', '/v1/consumers', { name: 'contested', auth: { type: 'api-key' } }),
    );
    const statuses = (await Promise.all(attempts)).map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
  });

  it('twenty creates of one custom key under different names: exactly one wins', async () => {
    await pair();
    const attempts = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).admin('POST', '/v1/consumers', {
        name: `racer-${i}`,
        auth: { type: 'api-key', generation: 'custom', key: 'the-one-shared-key-123' },
      }),
    );
    const res = await Promise.all(attempts);
    expect(res.filter((r) => r.status === 201)).toHaveLength(1);
    const losers = res.filter((r) => r.status === 409);
    expect(losers).toHaveLength(19);
    expect(losers.every((r) => r.body.error.code === 'credential_conflict')).toBe(true);
  });
});

describe('the hot path', () => {
  it('after warm-up, Checks (hits and misses) make no Redis call', async () => {
    // A long poll interval so background sync cannot hide in the count.
    await pair({ SYNC_INTERVAL_MS: '60000', MAX_STALENESS_MS: '600000' });
    const key = await create(a, 'alice');
    await until(async () => httpStatus(await b.envoy.check(bearer(key))) === 200, 1000);
    const probe = redis.client();
    const commands = async () => {
      const info = await probe.info('commandstats');
      let total = 0;
      for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (m[1] !== 'info') total += Number(m[2]);
      return total;
    };
    const before = await commands();
    for (let i = 0; i < 200; i++) {
      expect(httpStatus(await b.envoy.check(bearer(key)))).toBe(200);
      expect(httpStatus(await b.envoy.check(bearer(`cak_unknown${i}`)))).toBe(401);
    }
    expect(await commands()).toBe(before);
  });
});

describe('Redis down', () => {
  it('serves cached consumers, refuses unknown keys with 503, refuses writes, and recovers by itself', async () => {
    await pair();
    const key = await create(a, 'alice');
    await until(async () => httpStatus(await b.envoy.check(bearer(key))) === 200, 1000);
    expect((await b.admin('GET', '/readyz')).status).toBe(200);

    await redis.kill();
    await until(() => !b.app.replica.authoritative, 2000);
    expect(httpStatus(await b.envoy.check(bearer(key)))).toBe(200);
    const unknown = await b.envoy.check(bearer('somebody-elses-key-0001'));
    expect(httpStatus(unknown)).toBe(503);
    expect(denyCode(unknown)).toBe('authz_unavailable');
    expect(unknown.status?.code).toBe(14);
    const write = await a.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key' } });
    expect(write.status).toBe(503);
    expect(write.body.error.code).toBe('store_unavailable');
    expect((await b.admin('GET', '/readyz')).status).toBe(503);

    await redis.start();
    // Both recover by themselves: b to answer, a (the writer here) to accept writes.
    await until(() => a.app.replica.authoritative && b.app.replica.authoritative, 5000);
    expect(httpStatus(await b.envoy.check(bearer('somebody-elses-key-0001')))).toBe(401);
    const bob = await create(a, 'bob');
    await until(async () => httpStatus(await b.envoy.check(bearer(bob))) === 200, 1000);
    expect(httpStatus(await b.envoy.check(bearer(key)))).toBe(200);
    expect((await b.admin('GET', '/readyz')).status).toBe(200);
  });

  it('a lost pub/sub notification is made up by the poll', async () => {
    await pair({ SYNC_INTERVAL_MS: '300' });
    const key = await create(a, 'alice');
    await until(async () => httpStatus(await b.envoy.check(bearer(key))) === 200, 1000);
    // Kill every subscriber connection, then change something at once: the
    // notification goes nowhere, the poll still brings the change.
    const probe = redis.client();
    const killed = await probe.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(Number(killed)).toBeGreaterThanOrEqual(2);
    await a.admin('PATCH', '/v1/consumers/alice', { enabled: false });
    await until(async () => denyCode(await b.envoy.check(bearer(key))) === 'consumer_disabled', 1300);
  });
});

describe('Redis restarted without its data', () => {
  it('instances notice the new data set and drop consumers that no longer exist', async () => {
    const volatile = await startRedis({ persist: false });
    try {
      a = await startApp({ redisUrl: volatile.url });
      b = await startApp({ redisUrl: volatile.url });
      const key = await create(a, 'alice');
      await until(async () => httpStatus(await b.envoy.check(bearer(key))) === 200, 1000);
      await volatile.kill();
      await volatile.start(); // empty: revisions start over
      await until(() => b.app.replica.authoritative && b.app.replica.size === 0, 5000);
      expect(denyCode(await b.envoy.check(bearer(key)))).toBe('invalid_credential');
      // New writes in the new data set still propagate.
      const bob = await create(a, 'bob');
      await until(async () => httpStatus(await b.envoy.check(bearer(bob))) === 200, 1000);
    } finally {
      await a.stop();
      await b.stop();
      a = undefined as unknown as TestApp;
      b = undefined as unknown as TestApp;
      await volatile.close();
    }
  });
});
