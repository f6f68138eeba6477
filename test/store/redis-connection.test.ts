/**
 * REDIS_URL syntax for standalone, Sentinel and Cluster deployments, and the
 * Cluster rule that every key one script touches hashes to one slot: checked
 * on every command the store sends to a real Redis (MONITOR), with the
 * Cluster-mode prefix.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { effectiveKeyPrefix, parseRedisUrl, RedisUrlError } from '../../src/store/redis-connection.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { ConsumerService } from '../../src/admin/consumer-service.js';
import { until } from '../helpers/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const require = createRequire(import.meta.url);
const keySlot = require('cluster-key-slot') as (key: string) => number;

describe('parseRedisUrl', () => {
  it('standalone, with TLS, ACL user and database', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ kind: 'standalone', url: 'redis://127.0.0.1:6379', tls: false });
    expect(parseRedisUrl('rediss://app:s%40cret@redis.example:6380/2')).toMatchObject({ kind: 'standalone', tls: true });
  });

  it('sentinel: several sentinels, primary name, db, credentials for nodes and sentinels', () => {
    expect(parseRedisUrl('redis-sentinel://app:pw%2F1@s1:26379,s2,[::1]:26380/mymaster/3?sentinelUsername=sen&sentinelPassword=spw')).toEqual({
      kind: 'sentinel',
      tls: false,
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'mymaster',
      db: 3,
      username: 'app',
      password: 'pw/1',
      sentinelUsername: 'sen',
      sentinelPassword: 'spw',
    });
    expect(parseRedisUrl('rediss-sentinel://:pw@s1/mymaster')).toMatchObject({ kind: 'sentinel', tls: true, password: 'pw', db: 0 });
  });

  it('cluster: seed nodes, TLS, credentials', () => {
    expect(parseRedisUrl('redis-cluster://n1:7000,n2:7001,n3')).toEqual({
      kind: 'cluster',
      tls: false,
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
        { host: 'n3', port: 6379 },
      ],
    });
    expect(parseRedisUrl('rediss-cluster://u:p@n1:7000')).toMatchObject({ kind: 'cluster', tls: true, username: 'u', password: 'p' });
  });

  it.each([
    ['http://h:6379', /must be redis:\/\//],
    ['redis://h1:6379,h2:6379', /one host/],
    ['redis://h:99999', /port/],
    ['redis://h:6379/abc', /database number/],
    ['redis-sentinel://s1:26379', /primary's name/],
    ['redis-sentinel://s1:26379/m/0/x', /database number/],
    ['redis-sentinel://s1/m?password=x', /unknown query parameter "password"/],
    ['redis-cluster://n1:7000/1', /no path/],
    ['redis-cluster://', /no host/],
    ['redis://u:%zz@h', /password is not valid percent-encoding/],
  ])('refuses %s', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(RedisUrlError);
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('never repeats a password in its messages', () => {
    for (const url of ['redis://u:hunter2secret@h:1,x:2', 'redis-sentinel://u:hunter2secret@s1', 'redis-cluster://u:hunter2secret@n1/0']) {
      expect(() => parseRedisUrl(url)).toThrow();
      try {
        parseRedisUrl(url);
      } catch (err) {
        expect((err as Error).message).not.toContain('hunter2secret');
      }
    }
  });
});

describe('effectiveKeyPrefix', () => {
  const cluster = parseRedisUrl('redis-cluster://n1:7000');
  it('makes the prefix a hash tag in Cluster mode only', () => {
    expect(effectiveKeyPrefix(cluster, 'cauthz:')).toBe('{cauthz}:');
    expect(effectiveKeyPrefix(cluster, 'team-a')).toBe('{team-a}:');
    expect(effectiveKeyPrefix(cluster, '{mine}:x:')).toBe('{mine}:x:');
    expect(effectiveKeyPrefix(parseRedisUrl('redis://h:6379'), 'cauthz:')).toBe('cauthz:');
    expect(effectiveKeyPrefix(parseRedisUrl('redis-sentinel://s/m'), 'cauthz:')).toBe('cauthz:');
  });
});

describe('ACL credentials in REDIS_URL', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
    // A user limited to its own key prefix and channels, as an operator would create it.
    await redis.client().call('ACL', 'SETUSER', 'authz', 'on', '>s3cret/pass', '~acl:*', '&acl:*', '+@all');
  });
  afterAll(async () => {
    await redis.close();
  });

  it('a user and percent-encoded password from the URL authenticate; a wrong password never connects', async () => {
    const good = new RedisStore({ url: `redis://authz:${encodeURIComponent('s3cret/pass')}@127.0.0.1:${redis.port}`, keyPrefix: 'acl:' });
    const bad = new RedisStore({ url: `redis://authz:wrong@127.0.0.1:${redis.port}`, keyPrefix: 'acl:' });
    good.connect();
    bad.connect();
    try {
      await until(() => good.connected);
      const svc = new ConsumerService({ store: good });
      await svc.create({ name: 'alice', auth: { type: 'api-key' } });
      expect((await good.changesSince(0)).consumers.has('alice')).toBe(true);
      expect(bad.connected).toBe(false);
      await expect(bad.getConsumer('alice')).rejects.toThrow('store unavailable');
    } finally {
      await good.close();
      await bad.close();
    }
  });
});

describe('every key the store touches hashes to one Cluster slot', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.close();
  });

  it('checked on every command sent while creating, changing, granting, auditing and deleting', async () => {
    const prefix = effectiveKeyPrefix(parseRedisUrl('redis-cluster://n1:7000'), 'cauthz:');
    const monitor = new Redis({ port: redis.port, host: '127.0.0.1' });
    const commands: string[][] = [];
    const mon = await monitor.monitor();
    mon.on('monitor', (_time: string, args: string[]) => commands.push(args));
    const store = new RedisStore({ url: redis.url, keyPrefix: prefix });
    store.connect();
    try {
      await until(() => store.connected);
      const svc = new ConsumerService({ store });
      await svc.create({ name: 'alice', auth: { type: 'api-key' } });
      await svc.create({ name: 'bob', auth: { type: 'api-key', generation: 'custom', key: 'bob-custom-key-0001' } });
      const added = await svc.addKey('alice', {});
      await svc.update('bob', { enabled: false });
      await svc.putRoute('chat', { consumers: ['alice'] });
      await store.pruneDanglingGrants();
      await svc.removeKey('alice', (added.key as { id: string }).id);
      await svc.list(null, null);
      await svc.listRoutes(null, null);
      await store.changesSince(0);
      await store.appendAudit({ at: new Date().toISOString(), actor: 'ci', action: 'x', target: 'consumer:alice', before: null, after: null });
      await store.listAudit(10);
      await svc.deleteRoute('chat');
      await svc.remove('alice');
      await until(() => commands.some((c) => c[0]?.toLowerCase() === 'eval' && c.includes('c:alice')));

      const keysOf = (args: string[]): string[] => {
        const [cmd, ...rest] = args;
        switch (cmd?.toLowerCase()) {
          case 'eval':
          case 'evalsha':
            return rest.slice(2, 2 + Number(rest[1]));
          case 'get': case 'set': case 'zrangebylex': case 'zrangebyscore': case 'xadd': case 'xrevrange': case 'type':
          case 'smembers':
            return [rest[0] as string];
          case 'mget': case 'exists':
            return rest;
          default:
            return [];
        }
      };
      const keys = commands.flatMap(keysOf);
      expect(keys.length).toBeGreaterThan(20);
      expect(keys.filter((k) => !k.startsWith(prefix))).toEqual([]);
      const slots = new Set(keys.map(keySlot));
      expect(slots.size).toBe(1);
      expect([...slots][0]).toBe(keySlot(`${prefix}rev`));
      // Every kind of key was seen: consumer, key hash, route, indexes, log, epoch, audit.
      for (const part of ['c:', 'k:', 'r:', 'g:', 'grants-indexed', 'names', 'routes', 'log', 'rev', 'epoch', 'audit']) {
        expect(keys.some((k) => k.slice(prefix.length).startsWith(part)), part).toBe(true);
      }
    } finally {
      await store.close();
      monitor.disconnect();
    }
  });
});
