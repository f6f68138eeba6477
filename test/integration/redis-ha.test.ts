/**
 * Failures under load, against real redis-server / redis-sentinel processes:
 *   - Redis killed while Checks stream in, then changes made while this
 *     instance is still cut off (a proxy holds its connection down while a
 *     second instance writes to the restarted Redis): no wrong allow at any
 *     point, cached consumers work until the staleness bound (then 503),
 *     unknown keys get 503 at once, and the changes take effect once the
 *     connection is back, without a restart;
 *   - a Sentinel failover (primary SIGKILLed): the service follows the new
 *     primary within a bound, with no wrong allow meanwhile;
 *   - readiness stays false until the cache is warm;
 *   - a real three-node Redis Cluster runs every script (one hash slot).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { denyCode, httpStatus, type EnvoyClient, type EnvoyRequest } from '../helpers/envoy.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { client, startCluster, startProxy, startSentinelGroup } from '../helpers/ha.js';
import { parseMetrics, sample } from '../helpers/metrics.js';
import { startRedis } from '../helpers/redis.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const bearer = (key: string): EnvoyRequest => ({ headers: { authorization: `Bearer ${key}` } });

async function create(app: TestApp, name: string, auth: object = {}, enabled = true): Promise<string> {
  const res = await app.admin('POST', '/v1/consumers', { name, enabled, auth: { type: 'api-key', ...auth } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.apiKey as string;
}

/**
 * What a load case may answer: `always` allowed, `never` allowed, or either;
 * `allow-or-503`: allowed, or 503 while the instance cannot confirm its cache
 * within MAX_STALENESS_MS — never a 401/403.
 */
type Expect = 'always' | 'never' | 'either' | 'allow-or-503';

interface LoadCase {
  label: string;
  req: EnvoyRequest;
  expect: Expect;
}

/**
 * Concurrent Checks in a loop until stopped. Every answer is checked against
 * its case's current expectation (cases can be tightened mid-run); a gRPC
 * error counts as a failure to answer (Envoy would fail closed on it).
 */
function startLoad(envoy: EnvoyClient, cases: LoadCase[], workers = 4) {
  let running = true;
  const violations: string[] = [];
  const statuses = new Map<string, Map<number, number>>();
  let total = 0;
  let rpcErrors = 0;
  const worker = async (w: number) => {
    for (let i = w; running; i++) {
      const c = cases[i % cases.length] as LoadCase;
      const expectation = c.expect;
      try {
        const status = httpStatus(await envoy.check(c.req));
        total++;
        const per = statuses.get(c.label) ?? new Map<number, number>();
        per.set(status, (per.get(status) ?? 0) + 1);
        statuses.set(c.label, per);
        if (expectation === 'never' && status === 200) violations.push(`${c.label} allowed`);
        if (expectation === 'always' && status !== 200) violations.push(`${c.label} got ${status}`);
        if (expectation === 'allow-or-503' && status !== 200 && status !== 503) violations.push(`${c.label} got ${status}`);
      } catch (err) {
        rpcErrors++;
        violations.push(`${c.label}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    violations,
    statuses,
    get total() {
      return total;
    },
    get rpcErrors() {
      return rpcErrors;
    },
    /** Count of answers with this status for a case so far. */
    count(label: string, status: number) {
      return statuses.get(label)?.get(status) ?? 0;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

describe('Redis killed mid-load, then changes made while this instance is cut off', () => {
  it('never allows what it should deny; cached consumers work; unknown keys 503; changes apply after reconnect', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const proxy = await startProxy(redis.port);
    cleanups.push(() => proxy.close());
    const env = { REDIS_KEY_PREFIX: 'load:', SYNC_INTERVAL_MS: '200' };
    const a = await startApp({ redisUrl: proxy.url, env });
    cleanups.push(() => a.stop());

    const alice = await create(a, 'alice');
    const carol = await create(a, 'carol');
    const erin = await create(a, 'erin');
    const dave = await create(a, 'dave', {}, false);
    const frank = 'frank-custom-key-000001';
    await until(async () => denyCode(await a.envoy.check(bearer(dave))) === 'consumer_disabled');

    const cases: Record<string, LoadCase> = {
      alice: { label: 'alice', req: bearer(alice), expect: 'always' },
      dave: { label: 'dave (disabled)', req: bearer(dave), expect: 'never' },
      unknown: { label: 'unknown key', req: bearer('never-issued-key-000001'), expect: 'never' },
      header: { label: 'unknown header key', req: { headers: { 'x-api-key': 'never-issued-key-000002' } }, expect: 'never' },
      none: { label: 'no credential', req: {}, expect: 'never' },
      carol: { label: 'carol (disabled during the outage)', req: bearer(carol), expect: 'always' },
      erin: { label: 'erin (deleted during the outage)', req: bearer(erin), expect: 'always' },
      frank: { label: 'frank (created during the outage)', req: bearer(frank), expect: 'never' },
    };
    const load = startLoad(a.envoy, Object.values(cases));
    await until(() => load.total > 200, 5000);

    // 1. Redis dies under load. Known consumers are served from the cache only
    // within the staleness bound (MAX_STALENESS_MS, 1 s): then 503 too.
    cases.alice!.expect = 'allow-or-503';
    cases.carol!.expect = 'allow-or-503';
    cases.erin!.expect = 'allow-or-503';
    await redis.kill();
    await until(() => !a.app.replica.authoritative, 3000);
    const unknownDuringOutage = await a.envoy.check(bearer('never-issued-key-000001'));
    expect(httpStatus(unknownDuringOutage)).toBe(503);
    expect(denyCode(unknownDuringOutage)).toBe('authz_unavailable');
    expect((await a.admin('GET', '/readyz')).status).toBe(503);
    expect((await a.admin('PATCH', '/v1/consumers/alice', { description: 'x' })).status).toBe(503);

    // 2. Redis comes back, but this instance stays cut off while another one writes.
    await proxy.cut();
    await redis.start();
    const b = await startApp({ redisUrl: redis.url, env });
    cleanups.push(() => b.stop());
    expect((await b.admin('PATCH', '/v1/consumers/carol', { enabled: false })).status).toBe(200);
    expect((await b.admin('DELETE', '/v1/consumers/erin')).status).toBe(204);
    await create(b, 'frank', { generation: 'custom', key: frank });
    const unknownBefore = load.count('unknown key', 503);
    await new Promise((r) => setTimeout(r, 300));
    expect(load.count('unknown key', 503)).toBeGreaterThan(unknownBefore); // still cut off: still 503
    expect(httpStatus(await a.envoy.check(bearer(frank)))).toBe(503); // not known here yet
    // Cut off for longer than the bound: the cached view is not used to allow.
    await until(() => !a.app.replica.isFresh(), 3000);
    const carolCutOff = await a.envoy.check(bearer(carol));
    expect(httpStatus(carolCutOff)).toBe(503);
    expect(denyCode(carolCutOff)).toBe('authz_unavailable');
    expect(httpStatus(await a.envoy.check(bearer(alice)))).toBe(503);
    const dStill = await a.envoy.check(bearer(dave));
    expect(denyCode(dStill)).toBe('consumer_disabled'); // denials may still be given

    // 3. The connection returns: the change log brings what was missed, no restart.
    cases.carol!.expect = 'either';
    cases.erin!.expect = 'either';
    cases.frank!.expect = 'either';
    const restored = Date.now();
    await proxy.restore();
    await until(async () => a.app.replica.authoritative && denyCode(await a.envoy.check(bearer(carol))) === 'consumer_disabled', 5000);
    const resyncMs = Date.now() - restored;
    expect(denyCode(await a.envoy.check(bearer(erin)))).toBe('invalid_credential');
    expect(httpStatus(await a.envoy.check(bearer(frank)))).toBe(200);
    await until(async () => httpStatus(await a.envoy.check(bearer(alice))) === 200, 3000);
    cases.alice!.expect = 'always';
    cases.carol!.expect = 'never';
    cases.erin!.expect = 'never';
    cases.frank!.expect = 'always';
    const after = load.total;
    await until(() => load.total > after + 200, 5000);
    await load.stop();

    expect(load.violations).toEqual([]);
    expect(load.rpcErrors).toBe(0);
    expect(load.count('unknown key', 503)).toBeGreaterThan(0);
    expect(load.count('dave (disabled)', 403)).toBeGreaterThan(0);
    expect((await a.admin('GET', '/readyz')).status).toBe(200);
    const m = parseMetrics(await (await fetch(`http://127.0.0.1:${a.adminPort}/metrics`)).text());
    expect(sample(m, 'cauthz_store_disconnects_total')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'cauthz_check_decisions_total', { reason: 'authz_unavailable' })).toBeGreaterThan(0);
    expect(sample(m, 'cauthz_store_connected')).toBe(1);
    console.info(`[redis-ha] ${load.total} Checks under load; resync after reconnect took ${resyncMs} ms`);
  });
});

describe('Sentinel failover under load', () => {
  it('follows the new primary (writes work again, reads consistent) within 10 s, with no wrong allow', async () => {
    const group = await startSentinelGroup();
    cleanups.push(() => group.close());
    const a = await startApp({ redisUrl: group.url, env: { SYNC_INTERVAL_MS: '200' } });
    cleanups.push(() => a.stop());
    expect(a.app.store.connected).toBe(true);

    const alice = await create(a, 'alice');
    const dave = await create(a, 'dave', {}, false);
    await until(async () => denyCode(await a.envoy.check(bearer(dave))) === 'consumer_disabled');
    // Replication is asynchronous: wait until the replica holds what was written.
    const replica = client(group.replica.port);
    cleanups.push(async () => replica.disconnect());
    await until(async () => (await replica.exists('cauthz:c:alice', 'cauthz:c:dave')) === 2, 5000);

    const load = startLoad(a.envoy, [
      // 503 while no primary answers for longer than MAX_STALENESS_MS.
      { label: 'alice', req: bearer(alice), expect: 'allow-or-503' },
      { label: 'dave (disabled)', req: bearer(dave), expect: 'never' },
      { label: 'unknown key', req: bearer('never-issued-key-000003'), expect: 'never' },
    ]);
    await until(() => load.total > 100, 5000);

    const killedAt = Date.now();
    await group.primary.kill();
    // A write is retried until it lands on the new primary (a lost reply may make the retry a 409).
    let write = 0;
    let zed: string | undefined;
    await until(async () => {
      const res = await a.admin('POST', '/v1/consumers', { name: 'zed', auth: { type: 'api-key', generation: 'custom', key: 'zed-custom-key-0000001' } });
      write = res.status;
      if (res.status === 201) zed = res.body.apiKey;
      return res.status === 201 || res.status === 409;
    }, 10_000, 50);
    const failoverMs = Date.now() - killedAt;
    expect(write === 201 || write === 409).toBe(true);
    expect(await group.primaryPort()).toBe(group.replica.port);
    // Reads are consistent on the new primary, and the new write propagated through it.
    await until(async () => httpStatus(await a.envoy.check(bearer(zed ?? 'zed-custom-key-0000001'))) === 200, 3000);
    expect((await a.admin('GET', '/v1/consumers/dave')).body.enabled).toBe(false);
    await until(async () => (await a.admin('GET', '/readyz')).status === 200, 3000);
    const settled = load.total;
    await until(() => load.total > settled + 100, 5000);
    await load.stop();

    expect(load.violations).toEqual([]);
    expect(failoverMs).toBeLessThan(10_000);
    console.info(`[redis-ha] sentinel failover: writes accepted again ${failoverMs} ms after the primary was killed; ${load.total} Checks meanwhile`);
  });
});

describe('readiness', () => {
  it('/readyz is 503 until the cache is warm, then 200', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const proxy = await startProxy(redis.port);
    cleanups.push(() => proxy.close());
    await proxy.cut();
    const config = loadConfig({ GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'silent', REDIS_URL: proxy.url, DRAIN_MS: '200' });
    const app = await App.create({ config, logger: createLogger('silent') });
    const ports = await app.start();
    cleanups.push(() => app.stop());
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${ports.admin}/readyz`);
      return { status: res.status, body: (await res.json()) as { warm: boolean } };
    };
    await new Promise((r) => setTimeout(r, 300));
    expect(await readyz()).toMatchObject({ status: 503, body: { warm: false } });
    await proxy.restore();
    await until(async () => (await readyz()).status === 200, 5000);
  });
});

describe('Redis Cluster', () => {
  it('runs every write script and propagates between instances on a three-node cluster', async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.close());
    const a = await startApp({ redisUrl: cluster.url, env: { SYNC_INTERVAL_MS: '200' } });
    cleanups.push(() => a.stop());
    const b = await startApp({ redisUrl: cluster.url, env: { SYNC_INTERVAL_MS: '200' } });
    cleanups.push(() => b.stop());
    const alice = await create(a, 'alice');
    await until(async () => httpStatus(await b.envoy.check(bearer(alice))) === 200);
    expect((await a.admin('POST', '/v1/consumers/alice/keys', {})).status).toBe(201);
    expect((await a.admin('PATCH', '/v1/consumers/alice', { enabled: false })).status).toBe(200);
    await until(async () => denyCode(await b.envoy.check(bearer(alice))) === 'consumer_disabled');
    expect((await a.admin('PUT', '/v1/routes/chat', { consumers: ['alice'] })).status).toBe(200);
    expect((await a.admin('DELETE', '/v1/consumers/alice')).status).toBe(204);
    await until(async () => denyCode(await b.envoy.check(bearer(alice))) === 'invalid_credential');
    // The pruning script reaches entity keys by the prefix: the same slot.
    expect(await a.app.store.pruneChangeLog(Number.MAX_SAFE_INTEGER)).toBe(1);
    const audit = await b.admin('GET', '/v1/audit');
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual([
      'route.consumer_removed', 'consumer.delete', 'route.put', 'consumer.update', 'key.add', 'consumer.create',
    ]);
    const probe = client(cluster.nodes[0]!.port);
    cleanups.push(async () => probe.disconnect());
    expect(await probe.call('CLUSTER', 'KEYSLOT', '{cauthz}:rev')).toBe(await probe.call('CLUSTER', 'KEYSLOT', '{cauthz}:c:alice'));
    expect(await probe.call('CLUSTER', 'KEYSLOT', '{cauthz}:rev')).toBe(await probe.call('CLUSTER', 'KEYSLOT', '{cauthz}:g:alice'));
    // the route whose last grant alice was admits nobody, on the other instance too
    expect((await b.admin('GET', '/v1/routes/chat')).body.consumers).toEqual([]);
  });
});
