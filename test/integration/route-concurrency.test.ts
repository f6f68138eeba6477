/**
 * Route writes that keep what they do not name lose no concurrent change.
 * A grant is a read-modify-write of the route's list (the CLI's `routes
 * grant`, the console); before the route's compare-and-set, two grants at
 * once kept only one of them, and a revoke racing a grant could come back
 * undone. Here: many CLI grants and revokes at once, on two instances of one
 * Redis and on the file store; the API's ETag / If-Match / If-None-Match; and
 * the PUTs that keep a field (grants only, rules only) racing each other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const N = 12;

async function cli(t: TestApp, args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await runCli([...args, '--json'], {
    stdout: () => {},
    stderr: (s) => (err += s),
    env: { CONSUMER_AUTHZ_URL: `http://127.0.0.1:${t.adminPort}` },
  });
  return { code, err };
}

async function raw(t: TestApp, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${t.adminPort}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), body: text ? JSON.parse(text) : undefined };
}

async function createConsumers(t: TestApp, prefix: string): Promise<string[]> {
  const names = Array.from({ length: N }, (_, i) => `${prefix}${i}`);
  for (const n of names) {
    const r = await t.admin('POST', '/v1/consumers', { name: n, auth: { type: 'api-key', source: { in: 'bearer' } } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  return names;
}

function suite(name: string, setup: () => Promise<{ a: TestApp; b: TestApp; stop: () => Promise<void> }>) {
  describe(name, () => {
    let a: TestApp;
    let b: TestApp;
    let stop: () => Promise<void>;
    beforeAll(async () => ({ a, b, stop } = await setup()));
    afterAll(async () => stop());

    it(`${N} grants of one new route at once (CLI, both instances): every one kept`, async () => {
      const names = await createConsumers(a, 'g');
      const runs = await Promise.all(names.map((n, i) => cli(i % 2 ? b : a, ['routes', 'grant', 'race', n])));
      for (const r of runs) expect(r.code, r.err).toBe(0);
      const got = await a.admin('GET', '/v1/routes/race');
      expect([...got.body.consumers].sort()).toEqual([...names].sort());
    });

    it('revokes racing grants: each revoke holds, each grant holds', async () => {
      const names = await createConsumers(a, 'r');
      expect((await cli(a, ['routes', 'grant', 'mixed', ...names.slice(0, N / 2)])).code).toBe(0);
      // Revoke the first half while granting the second half, one name per call.
      const runs = await Promise.all(
        names.map((n, i) => cli(i % 2 ? b : a, ['routes', i < N / 2 ? 'revoke' : 'grant', 'mixed', n])),
      );
      for (const r of runs) expect(r.code, r.err).toBe(0);
      const got = await b.admin('GET', '/v1/routes/mixed');
      expect([...got.body.consumers].sort()).toEqual(names.slice(N / 2).sort());
    });

    it('a grants-only PUT and a rules-only PUT at once keep both', async () => {
      const [n] = await createConsumers(a, 'k');
      for (let round = 0; round < 5; round++) {
        const route = `keep${round}`;
        await Promise.all([
          raw(a, 'PUT', `/v1/routes/${route}`, { consumers: [n] }),
          raw(b, 'PUT', `/v1/routes/${route}`, { match: [{ path: { prefix: `/${route}` } }] }),
        ]);
        const got = await a.admin('GET', `/v1/routes/${route}`);
        expect(got.body.consumers).toEqual([n]);
        expect(got.body.match).toEqual([{ path: { prefix: `/${route}` } }]);
      }
    });

    it('ETag, If-Match and If-None-Match: a stale write is refused with 412 and changes nothing', async () => {
      const [x, y] = await createConsumers(a, 'e');
      const created = await raw(a, 'PUT', '/v1/routes/tagged', { consumers: [x] }, { 'if-none-match': '*' });
      expect(created.status).toBe(200);
      expect(created.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
      const read = await raw(b, 'GET', '/v1/routes/tagged');
      expect(read.etag).toBe(created.etag);

      // Exists now: If-None-Match: * is refused.
      const again = await raw(a, 'PUT', '/v1/routes/tagged', { consumers: [y] }, { 'if-none-match': '*' });
      expect(again.status).toBe(412);
      expect(again.body.error.code).toBe('precondition_failed');

      const changed = await raw(b, 'PUT', '/v1/routes/tagged', { consumers: [x, y] }, { 'if-match': read.etag as string });
      expect(changed.status).toBe(200);
      expect(changed.etag).not.toBe(read.etag);

      // The first reader's tag is stale now: PUT and DELETE refused, the route as the second writer left it.
      const stale = await raw(a, 'PUT', '/v1/routes/tagged', { consumers: [] }, { 'if-match': read.etag as string });
      expect(stale.status).toBe(412);
      const staleDelete = await raw(a, 'DELETE', '/v1/routes/tagged', undefined, { 'if-match': read.etag as string });
      expect(staleDelete.status).toBe(412);
      expect((await a.admin('GET', '/v1/routes/tagged')).body.consumers).toEqual([x, y].sort());

      // A weak tag never matches; * matches any existing route; a list may hold the right one.
      expect((await raw(a, 'PUT', '/v1/routes/tagged', { consumers: [x] }, { 'if-match': `W/${changed.etag}` })).status).toBe(412);
      expect((await raw(a, 'PUT', '/v1/routes/tagged', { consumers: [x] }, { 'if-match': `"nope", ${changed.etag}` })).status).toBe(200);
      expect((await raw(a, 'PUT', '/v1/routes/absent-route', { consumers: [x] }, { 'if-match': '*' })).status).toBe(412);
      expect((await a.admin('GET', '/v1/routes/absent-route')).status).toBe(404);
      const bad = await raw(a, 'PUT', '/v1/routes/tagged', { consumers: [x] }, { 'if-none-match': changed.etag as string });
      expect(bad.status).toBe(400);
      expect(bad.body.error.field).toBe('If-None-Match');

      const current = await raw(a, 'GET', '/v1/routes/tagged');
      expect((await raw(a, 'DELETE', '/v1/routes/tagged', undefined, { 'if-match': current.etag as string })).status).toBe(204);
      expect((await a.admin('GET', '/v1/routes/tagged')).status).toBe(404);
    });
  });
}

suite('on one Redis, two instances', async () => {
  const redis: TestRedis = await startRedis({ persist: false });
  const a = await startApp({ redisUrl: redis.url });
  const b = await startApp({ redisUrl: redis.url });
  return {
    a,
    b,
    stop: async () => {
      await a.stop();
      await b.stop();
      await redis.close();
    },
  };
});

suite('on the file store (one instance, two clients)', async () => {
  const a = await startApp();
  return { a, b: a, stop: () => a.stop() };
});
