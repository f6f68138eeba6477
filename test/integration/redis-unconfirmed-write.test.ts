/**
 * What the admin API says about a write Redis did not confirm. A write sent
 * to a paused Redis times out here, yet Redis runs it when it resumes: the
 * answer must not claim that nothing changed. A write refused before it was
 * sent (no connection) still says so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, until } from '../helpers/app.js';
import { startControlledRedis } from '../helpers/ha.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a write Redis did not confirm', () => {
  it('while Redis is paused: 503 that says it may have been applied, and it was', async () => {
    const redis = await startControlledRedis({ persist: 'none' });
    cleanups.push(() => redis.close());
    const app = await startApp({ redisUrl: redis.url });
    cleanups.push(() => app.stop());

    redis.signal('SIGSTOP');
    let resumed = false;
    cleanups.push(async () => { if (!resumed) redis.signal('SIGCONT'); });
    const write = await app.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key' } });
    expect(write.status).toBe(503);
    expect(write.body.error.code).toBe('store_unavailable');
    expect(write.body.error.message).toMatch(/may have been applied; read it back before retrying/);
    expect(write.body.error.message).not.toMatch(/nothing was changed/);

    redis.signal('SIGCONT');
    resumed = true;
    await until(async () => (await app.admin('GET', '/v1/consumers/bob')).status === 200, 10_000);
    const retry = await app.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key' } });
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe('consumer_exists');
  });

  it('while Redis is down: 503 that says nothing was changed', async () => {
    const redis = await startControlledRedis({ persist: 'none' });
    cleanups.push(() => redis.close());
    const app = await startApp({ redisUrl: redis.url });
    cleanups.push(() => app.stop());

    await redis.kill();
    await until(async () => (await app.admin('GET', '/readyz')).status === 503, 5000);
    const write = await app.admin('POST', '/v1/consumers', { name: 'carol', auth: { type: 'api-key' } });
    expect(write.status).toBe(503);
    expect(write.body.error.code).toBe('store_unavailable');
    expect(write.body.error.message).toMatch(/nothing was changed/);
  });
});
