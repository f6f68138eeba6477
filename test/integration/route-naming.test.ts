/**
 * Routes named from the request, end to end: the real App on each store, the
 * admin API and the CLI writing match rules, and CheckRequests shaped as
 * Istio's sidecar sends them (`:authority`, `:path`, method, no
 * context_extensions). Grants apply on matched routes; every path trick of
 * issue 20 is refused, never matched into the looser route; the extension
 * wins, or with ROUTE_MISMATCH=deny must agree; a second instance on the same
 * Redis follows a match change within 1 s.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus, type EnvoyRequest } from '../helpers/envoy.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const ALICE = 'alice-custom-key-0001';
const BOB = 'bob-custom-key-00001';
const HOST = 'api.example.com';

let redis: TestRedis;
let prefixSeq = 0;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis.close();
});

/** The request as Istio's sidecar sends it to a CUSTOM provider: no context extensions. */
function istio(key: string, path: string, r: EnvoyRequest = {}): EnvoyRequest {
  return { host: HOST, method: 'GET', path, headers: { 'x-api-key': key }, ...r };
}

async function outcome(t: TestApp, r: EnvoyRequest): Promise<string> {
  const res = await t.envoy.check(r);
  const status = httpStatus(res);
  return status === 200 ? '200' : `${status} ${denyCode(res)}`;
}

/** alice and bob, API keys in `x-api-key`. */
async function seedConsumers(t: TestApp): Promise<void> {
  for (const [name, key] of [['alice', ALICE], ['bob', BOB]] as const) {
    const res = await t.admin('POST', '/v1/consumers', { name, auth: { type: 'api-key', generation: 'custom', key, source: { in: 'header', name: 'x-api-key' } } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
}

/** alice and bob; `admin` admits alice, `orders` bob, `public` (no grant list) everyone. */
async function seed(t: TestApp): Promise<void> {
  await seedConsumers(t);
  const put = async (route: string, body: object) => {
    const res = await t.admin('PUT', `/v1/routes/${route}`, body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  await put('admin', { consumers: ['alice'], match: [{ hosts: [HOST], path: { prefix: '/admin' } }] });
  await put('orders', { consumers: ['bob'], match: [{ hosts: ['*.example.com'], path: { template: '/v1/orders/{id}' }, methods: ['GET', 'DELETE'] }] });
  const pub = await put('public', { consumers: null, match: [{ hosts: [HOST] }] });
  expect(pub).toMatchObject({ route: 'public', consumers: [], open: true, match: [{ hosts: [HOST] }] });
}

const STORES: Array<[string, () => Promise<{ t: TestApp; restart?: () => Promise<TestApp> }>]> = [
  [
    'embedded file store',
    async () => {
      const dataFile = join(mkdtempSync(join(tmpdir(), 'cauthz-routes-')), 'consumers.json');
      const t = await startApp({ dataFile });
      return { t, restart: async () => (await t.stop(), startApp({ dataFile })) };
    },
  ],
  ['Redis store', async () => ({ t: await startApp({ redisUrl: redis.url, env: { REDIS_KEY_PREFIX: `rn${++prefixSeq}:` } }) })],
];

describe.each(STORES)('on the %s', (_label, make) => {
  let t: TestApp;
  let restart: (() => Promise<TestApp>) | undefined;

  beforeAll(async () => {
    ({ t, restart } = await make());
    await seed(t);
  });

  afterAll(async () => {
    await t.stop();
  });

  it('grants apply on the route named from host, path and method (no context_extensions)', async () => {
    expect(await outcome(t, istio(ALICE, '/admin/users'))).toBe('200');
    expect(await outcome(t, istio(BOB, '/admin/users'))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(BOB, '/v1/orders/42', { host: 'eu.example.com' }))).toBe('200');
    expect(await outcome(t, istio(ALICE, '/v1/orders/42', { host: 'eu.example.com' }))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(ALICE, '/v1/orders/42', { method: 'DELETE', host: 'EU.example.com:443' }))).toBe('403 route_forbidden');
    // POST is not in `orders`' rule: no route on that host, no grant applies.
    expect(await outcome(t, istio(ALICE, '/v1/orders/42', { method: 'POST', host: 'eu.example.com' }))).toBe('200');
    // The host is decided first (as Envoy picks a virtual host): api.example.com has rules of its
    // own, so its requests are never `orders`' (*.example.com), whatever the path: here `public`'s.
    expect(await outcome(t, istio(ALICE, '/v1/orders/42'))).toBe('200');
    // Another host: no rule, no route, no grant.
    expect(await outcome(t, istio(BOB, '/admin/users', { host: 'internal.svc' }))).toBe('200');
    // The credential is still judged first: no key, 401.
    expect(await outcome(t, { host: HOST, path: '/admin/users' })).toBe('401 missing_credential');
  });

  it.each([
    ['a percent-encoded slash', '/admin%2Fusers'],
    ['a lower-case percent-encoded slash', '/admin%2fusers'],
    ['an encoded backslash', '/admin%5Cusers'],
    ['a raw backslash', '/admin\\users'],
    ['a ".." segment', '/public/../admin/users'],
    ['encoded ".." segments', '/public/%2E%2E/admin'],
    ['a "." segment', '/./admin/users'],
    ['an empty segment', '//admin/users'],
    ['a ";" parameter', '/admin;jsessionid=1/users'],
    ['a ";" on a template segment', '/v1/orders/42;x=1'],
    ['a fragment', '/admin/users#top'],
    ['a trailing "#"', '/admin#'],
    ['an upper-case literal segment', '/ADMIN/users'],
    ['needless encoding of a letter', '/%61dmin/users'],
    ['an overlong UTF-8 slash', '/admin%C0%AFusers'],
  ])('%s (%s) is 400 path_not_normal, never the looser route', async (_what, path) => {
    expect(await outcome(t, istio(BOB, path))).toBe('400 path_not_normal');
  });

  it('a case trick on a template literal (/v1/Orders/42 on a *.example.com host) is 400 path_not_normal', async () => {
    expect(await outcome(t, istio(ALICE, '/v1/Orders/42', { host: 'eu.example.com' }))).toBe('400 path_not_normal');
    expect(await outcome(t, istio(ALICE, '/v1/orders/42/%2E%2E', { host: 'eu.example.com' }))).toBe('400 path_not_normal');
  });

  it('a trailing "?" or a query carrying a path trick stays on the route; a host with a trailing dot is refused', async () => {
    expect(await outcome(t, istio(BOB, '/admin/users?'))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(BOB, '/admin?next=/../public'))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(BOB, '/admin/', {}))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(BOB, '/admin/users', { host: `${HOST}.` }))).toBe('400 path_not_normal');
  });

  it('the extension wins by default, even where the rules name another route', async () => {
    expect(await outcome(t, istio(BOB, '/admin/users', { route: 'orders' }))).toBe('200');
    expect(await outcome(t, istio(ALICE, '/anything', { route: 'orders' }))).toBe('403 route_forbidden');
  });

  it('the admin API shows the rules and refuses a tie (409 naming the other route), a bad rule (400 naming the field)', async () => {
    const got = await t.admin('GET', '/v1/routes/orders');
    expect(got.body).toMatchObject({ consumers: ['bob'], match: [{ hosts: ['*.example.com'], path: { template: '/v1/orders/{id}' }, methods: ['GET', 'DELETE'] }] });
    const tie = await t.admin('PUT', '/v1/routes/orders2', { consumers: null, match: [{ hosts: ['*.example.com'], path: { template: '/v1/orders/{n}' }, methods: ['DELETE'] }] });
    expect(tie.status).toBe(409);
    expect(tie.body.error).toMatchObject({ code: 'route_match_conflict', field: 'match' });
    expect(tie.body.error.message).toContain('"orders"');
    expect((await t.admin('GET', '/v1/routes/orders2')).status).toBe(404);
    const bad = await t.admin('PUT', '/v1/routes/x', { consumers: null, match: [{ path: { prefix: '/a/../b' } }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('match[0].path.prefix');
    const noRules = await t.admin('PUT', '/v1/routes/x', { consumers: null });
    expect(noRules.status).toBe(400);
    expect(noRules.body.error.field).toBe('consumers');
    // A grants-only PUT keeps the rules; match: null removes them.
    expect((await t.admin('PUT', '/v1/routes/orders', { consumers: ['alice', 'bob'] })).body.match).toHaveLength(1);
    expect(await outcome(t, istio(ALICE, '/v1/orders/42'))).toBe('200');
    expect((await t.admin('PUT', '/v1/routes/orders', { consumers: ['bob'] })).status).toBe(200);
  });

  it('the CLI sets, shows and clears a route match', async () => {
    const env = { CONSUMER_AUTHZ_URL: `http://127.0.0.1:${t.adminPort}` };
    const cli = async (args: string[]) => {
      let out = '';
      let err = '';
      const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env });
      return { code, out, err };
    };
    const set = await cli(['routes', 'match', 'reports', '--host', HOST, '--path', '/reports/*', '--method', 'get']);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toBe('route reports has no grants: it admits every enabled consumer\n  matches prefix /reports, host api.example.com, GET\n');
    expect((await cli(['routes', 'grant', 'reports', 'alice'])).code).toBe(0);
    expect(await outcome(t, istio(BOB, '/reports/q3'))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(ALICE, '/reports/q3'))).toBe('200');
    const add = await cli(['routes', 'match', 'reports', '--add', '--path', 'template:/v2/reports/{id}']);
    expect(add.code, add.err).toBe(0);
    expect((await cli(['routes', 'show', 'reports'])).out).toBe(
      'route reports admits: alice\n  matches prefix /reports, host api.example.com, GET\n  matches template /v2/reports/{id}, any host, any method\n',
    );
    expect(await outcome(t, istio(BOB, '/v2/reports/7', { method: 'PUT', host: 'reports.internal' }))).toBe('403 route_forbidden');
    const tie = await cli(['routes', 'match', 'other', '--host', HOST, '--path', '/reports/*', '--method', 'GET']);
    expect(tie.code).toBe(1);
    expect(tie.err).toContain('route_match_conflict');
    expect(tie.err).toContain('"reports"');
    const usage = await cli(['routes', 'match', 'reports']);
    expect(usage.code).toBe(2);
    // routes clear keeps the rules (only the grants go); --clear removes the rules.
    expect((await cli(['routes', 'clear', 'reports'])).code).toBe(0);
    expect(await outcome(t, istio(BOB, '/reports/q3'))).toBe('200');
    expect((await t.admin('GET', '/v1/routes/reports')).body).toMatchObject({ open: true, match: [{}, {}] });
    expect((await cli(['routes', 'match', 'reports', '--clear'])).code).toBe(0);
    expect((await t.admin('GET', '/v1/routes/reports')).status).toBe(404);
    // `public` names /reports now.
    expect(await outcome(t, istio(BOB, '/reports/q3'))).toBe('200');
  });

  it('match rules survive a restart', async () => {
    if (!restart) return; // Redis: every instance reads the same store (the two-instance test below)
    t = await restart();
    expect(await outcome(t, istio(BOB, '/admin/users'))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(ALICE, '/admin/users'))).toBe('200');
  });
});

describe('ROUTE_MISMATCH=deny', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ env: { ROUTE_MISMATCH: 'deny' } });
    await seed(t);
  });
  afterAll(async () => {
    await t.stop();
  });

  it('an extension that agrees with the rules passes; one that disagrees is 403 route_mismatch', async () => {
    expect(await outcome(t, istio(ALICE, '/admin/users', { route: 'admin' }))).toBe('200');
    expect(await outcome(t, istio(BOB, '/admin/users', { route: 'admin' }))).toBe('403 route_forbidden');
    expect(await outcome(t, istio(BOB, '/admin/users', { route: 'orders' }))).toBe('403 route_mismatch');
    expect(await outcome(t, istio(BOB, '/v1/orders/1', { route: 'orders', host: 'internal.svc' }))).toBe('403 route_mismatch');
    expect(await outcome(t, istio(BOB, '/v1/orders/1', { route: 'orders', host: 'eu.example.com' }))).toBe('200');
    expect(await outcome(t, istio(BOB, '/admin/../v1/orders/1', { route: 'orders', host: 'eu.example.com' }))).toBe('400 path_not_normal');
    // Without the extension it names routes as by default.
    expect(await outcome(t, istio(ALICE, '/v1/orders/1', { host: 'eu.example.com' }))).toBe('403 route_forbidden');
  });
});

describe('two instances on one Redis', () => {
  it('a match change made on A names routes on B within 1 s', async () => {
    const env = { REDIS_KEY_PREFIX: `rn${++prefixSeq}:` };
    const a = await startApp({ redisUrl: redis.url, env });
    const b = await startApp({ redisUrl: redis.url, env });
    try {
      await seed(a);
      const seen = await until(async () => (await outcome(b, istio(BOB, '/admin/users'))) === '403 route_forbidden', 1000);
      // Move `admin` to /internal: /admin is `public`'s now, /internal is alice's.
      const moved = Date.now();
      expect((await a.admin('PUT', '/v1/routes/admin', { match: [{ hosts: [HOST], path: { prefix: '/internal' } }] })).status).toBe(200);
      await until(async () => (await outcome(b, istio(BOB, '/internal/x'))) === '403 route_forbidden', 1000);
      const took = Date.now() - moved;
      expect(await outcome(b, istio(BOB, '/admin/users'))).toBe('200');
      expect(took).toBeLessThan(1000);
      expect(seen).toBeLessThan(1000);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe("the README's Istio example", () => {
  it('its CLI lines, replayed, name the routes of Istio-shaped requests and grants apply', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Attach to Istio'), readme.indexOf('<!-- /section:deploy -->'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const lines = block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.startsWith('consumer-authz '));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const t = await startApp();
    try {
      await seedConsumers(t);
      const env = { CONSUMER_AUTHZ_URL: `http://127.0.0.1:${t.adminPort}` };
      const run = async (line: string) => {
        const args = line.split(/\s+/).slice(1).map((a) => a.replace(/^'(.*)'$/, '$1'));
        let err = '';
        const code = await runCli(args, { stdout: () => undefined, stderr: (s) => (err += s), env });
        expect(code, `${line}: ${err}`).toBe(0);
      };
      for (const line of lines) await run(line);
      await run(/`(consumer-authz routes grant orders-admin alice)`/.exec(section)?.[1] ?? 'missing grant line');
      const host = 'orders.shop.svc.cluster.local';
      expect(await outcome(t, istio(BOB, '/orders/admin/7', { method: 'POST', host }))).toBe('403 route_forbidden');
      expect(await outcome(t, istio(ALICE, '/orders/admin/7', { method: 'DELETE', host }))).toBe('200');
      expect(await outcome(t, istio(BOB, '/orders/admin/7', { host }))).toBe('200');
      expect(await outcome(t, istio(BOB, '/orders/42', { method: 'POST', host }))).toBe('200');
      expect(await outcome(t, istio(BOB, '/orders/admin/../admin/7', { method: 'POST', host }))).toBe('400 path_not_normal');
    } finally {
      await t.stop();
    }
  });
});
