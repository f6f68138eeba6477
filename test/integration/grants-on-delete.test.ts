/**
 * Issue 10 item 4: a route grant must not outlive its consumer. Grant route
 * `secret` to `temp1`, delete `temp1`, create a new `temp1` with another key:
 * the new one is refused on `secret` (403 route_forbidden), through the real
 * server, on both stores; a second instance on the same Redis drops the grant
 * too; the audit trail records the removal. Grants left by older versions
 * (naming a consumer that no longer exists) are dropped at start-up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
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
  return httpStatus(res) === 200 ? 'allow' : (denyCode(res) ?? String(httpStatus(res)));
}

/** The scenario of the report, on one instance (`t`), watched from another (`other`, maybe the same). */
async function scenario(t: TestApp, other: TestApp): Promise<void> {
  await createKeyConsumer(t, 'temp1', 'temp1-first-key-0001');
  await createKeyConsumer(t, 'keeper', 'keeper-key-00000001');
  expect((await t.admin('PUT', '/v1/routes/secret', { consumers: ['temp1'] })).status).toBe(200);
  expect((await t.admin('PUT', '/v1/routes/shared', { consumers: ['keeper', 'temp1'] })).status).toBe(200);
  await until(async () => (await decision(other, 'secret', 'temp1-first-key-0001')) === 'allow');

  expect((await t.admin('DELETE', '/v1/consumers/temp1')).status).toBe(204);
  await createKeyConsumer(t, 'temp1', 'temp1-second-key-0002');
  for (const inst of [t, other]) {
    await until(async () => (await decision(inst, 'open', 'temp1-second-key-0002')) === 'allow');
    expect(await decision(inst, 'secret', 'temp1-second-key-0002')).toBe('route_forbidden');
    expect(await decision(inst, 'shared', 'temp1-second-key-0002')).toBe('route_forbidden');
    expect(await decision(inst, 'shared', 'keeper-key-00000001')).toBe('allow');
    expect(await decision(inst, 'secret', 'temp1-first-key-0001')).toBe('invalid_credential');
  }
  // the grants went with the consumer; the route whose last grant it was admits nobody
  expect((await t.admin('GET', '/v1/routes/secret')).body.consumers).toEqual([]);
  expect((await t.admin('GET', '/v1/routes/shared')).body.consumers).toEqual(['keeper']);

  // audit: the delete and one entry per route it changed, same actor
  const audit = (await t.admin('GET', '/v1/audit?limit=20')).body.items as Array<Record<string, any>>;
  const removed = audit.filter((e) => e.action === 'route.consumer_removed');
  expect(removed.map((e) => e.target).sort()).toEqual(['route:secret', 'route:shared']);
  const secret = removed.find((e) => e.target === 'route:secret')!;
  expect(secret.before.consumers).toEqual(['temp1']);
  expect(secret.after.consumers).toEqual([]);
  expect(secret.actor).toBe(audit.find((e) => e.action === 'consumer.delete')!.actor);

  // a grant for a name that does not exist (yet) is refused, and changes nothing
  const put = await t.admin('PUT', '/v1/routes/secret', { consumers: ['temp2'] });
  expect(put.status).toBe(404);
  expect(put.body.error.code).toBe('consumer_not_found');
  expect(put.body.error.message).toContain('"temp2"');
  expect((await t.admin('GET', '/v1/routes/secret')).body.consumers).toEqual([]);
}

describe('grants outlive their consumer: embedded file store', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t.stop();
  });

  it('a re-created consumer inherits no grant of the deleted one', async () => {
    await scenario(t, t);
  });
});

describe('grants outlive their consumer: Redis, two instances', () => {
  let redis: TestRedis;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    redis = await startRedis({ persist: false });
    a = await startApp({ redisUrl: redis.url });
    b = await startApp({ redisUrl: redis.url });
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await redis.close();
  });

  it('a re-created consumer inherits no grant of the deleted one, on either instance', async () => {
    await scenario(a, b);
  });

  it('upgrade: grants left naming a deleted consumer are dropped at start, logged and audited as system', async () => {
    const raw = redis.client();
    const prefix = 'old:';
    // Data as an older version left it: `ghost` was deleted but still granted; no grants index.
    const alive = await startApp({ redisUrl: redis.url, env: { REDIS_KEY_PREFIX: prefix } });
    await createKeyConsumer(alive, 'ghost', 'ghost-first-key-0001');
    await createKeyConsumer(alive, 'stays', 'stays-key-000000001');
    await alive.stop();
    const rev = await raw.incr(`${prefix}rev`);
    await raw
      .multi()
      .set(`${prefix}r:vault`, JSON.stringify({ route: 'vault', consumers: ['ghost', 'stays'], updatedAt: '2026-01-01T00:00:00.000Z' }))
      .zadd(`${prefix}routes`, 0, 'vault')
      .zadd(`${prefix}log`, rev, 'r:vault')
      .del(`${prefix}c:ghost`, `${prefix}g:ghost`, `${prefix}g:stays`, `${prefix}grants-indexed`)
      .zrem(`${prefix}names`, 'ghost')
      .exec();
    // remove ghost's key hash too, as a delete would have
    for (const k of await raw.keys(`${prefix}k:*`)) if ((await raw.get(k)) === 'ghost') await raw.del(k);

    const lines: string[] = [];
    const logger = createLogger('info', { write: (l: string) => lines.push(l) });
    const up = await startApp({ redisUrl: redis.url, env: { REDIS_KEY_PREFIX: prefix }, logger });
    try {
      await up.app.upkeep;
      expect((await up.admin('GET', '/v1/routes/vault')).body.consumers).toEqual(['stays']);
      const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg?.includes('dropped route grants'));
      expect(line?.dropped).toBe(1);
      const audit = (await up.admin('GET', '/v1/audit?limit=5')).body.items as Array<Record<string, any>>;
      const entry = audit.find((e) => e.action === 'route.consumer_removed')!;
      expect(entry.actor).toBe('system');
      expect(entry.target).toBe('route:vault');
      expect(entry.before.consumers).toEqual(['ghost', 'stays']);
      expect(entry.after.consumers).toEqual(['stays']);
      await createKeyConsumer(up, 'ghost', 'ghost-second-key-0002');
      await until(async () => (await decision(up, 'open', 'ghost-second-key-0002')) === 'allow');
      expect(await decision(up, 'vault', 'ghost-second-key-0002')).toBe('route_forbidden');
      // the index the pass built lets a delete find the grant
      expect((await up.admin('DELETE', '/v1/consumers/stays')).status).toBe(204);
      expect((await up.admin('GET', '/v1/routes/vault')).body.consumers).toEqual([]);
    } finally {
      await up.stop();
    }
  });
});
