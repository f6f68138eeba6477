/**
 * Two instances sharing one Redis: a token verified and cached on instance B
 * stops working there within 1 s of its key being removed, or its consumer
 * disabled, through instance A.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus } from '../helpers/envoy.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { keyPair } from '../helpers/fixtures.js';
import { sign } from '../helpers/jwt.js';

let redis: TestRedis;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  redis = await startRedis({ persist: false });
  a = await startApp({ redisUrl: redis.url, env: { SYNC_INTERVAL_MS: '1000' } });
  b = await startApp({ redisUrl: redis.url, env: { SYNC_INTERVAL_MS: '1000' } });
});

afterAll(async () => {
  await a.stop();
  await b.stop();
  await redis.close();
});

it('key removal and disabling reach the other instance (and its token cache) within 1 s', async () => {
  const k1 = await keyPair('ES256');
  const k2 = await keyPair('ES256');
  const created = await a.admin('POST', '/v1/consumers', {
    name: 'repl',
    auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [k1.publicJwk, k2.publicJwk] }, identity: { value: 'repl-uid' } },
  });
  expect(created.status).toBe(201);
  const exp = Math.floor(Date.now() / 1000) + 600;
  const t1 = await sign({ uid: 'repl-uid', exp }, k1.privateKey, { alg: 'ES256', kid: k1.kid });
  const t2 = await sign({ uid: 'repl-uid', exp }, k2.privateKey, { alg: 'ES256', kid: k2.kid });
  const onB = (token: string) => b.envoy.check({ headers: { authorization: `Bearer ${token}` } });
  await until(async () => httpStatus(await onB(t1)) === 200, 2000);
  expect(httpStatus(await onB(t1))).toBe(200); // now cached on B
  expect(b.app.authorizer.cachedTokens).toBeGreaterThan(0);

  expect((await a.admin('DELETE', `/v1/consumers/repl/keys/${k1.kid}`)).status).toBe(204);
  const removedMs = await until(async () => denyCode(await onB(t1)) === 'invalid_credential', 1000, 5);
  expect(removedMs).toBeLessThan(1000);
  expect(httpStatus(await onB(t2))).toBe(200);

  expect((await a.admin('PATCH', '/v1/consumers/repl', { enabled: false })).status).toBe(200);
  const disabledMs = await until(async () => denyCode(await onB(t2)) === 'consumer_disabled', 1000, 5);
  expect(disabledMs).toBeLessThan(1000);
});
