/**
 * The in-place upgrade from store layout 1 (full records only, as the
 * previous release wrote them) to layout 2, with real processes on a real
 * redis-server: two instances start at once on previous-layout data; the one
 * that takes the upgrade lock is killed with SIGKILL half-way; the other takes
 * over once the lock expires and finishes. Every consumer answers as before,
 * throughout, from both the survivor and an instance started afterwards.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, keyHint } from '../../src/consumers/api-keys.js';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import { toCheckRecord, parseCheckRecord } from '../../src/consumers/check-record.js';
import { EnvoyClient, denyCode, header, httpStatus } from '../helpers/envoy.js';
import { until } from '../helpers/app.js';
import { apiKeyConsumer, FIXTURE_TIME } from '../helpers/fixtures.js';
import { seedPreviousLayout } from '../helpers/previous-layout.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startService, type Service } from '../helpers/service.js';

/** Enough that the upgrade takes a good fraction of a second (about 20 batches). */
const N = 40_000;
const PREFIX = 'up:';
const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');

const keyOf = (i: number) => `layout-upgrade-key-${i}-0123456789`;

function consumer(i: number): ConsumerRecord {
  const key = keyOf(i);
  const rec = apiKeyConsumer(`u${i}`, [
    { id: `key_${i}`, hash: hashKey(key), hint: keyHint(key), generation: 'custom', createdAt: FIXTURE_TIME, expiresAt: i === 2 ? '2020-01-01T00:00:00.000Z' : null },
  ]);
  return i === 1 ? { ...rec, enabled: false } : rec;
}

const jwtConsumer: ConsumerRecord = {
  id: 'csm_jwt',
  name: 'jwt-user',
  description: '',
  enabled: true,
  createdAt: FIXTURE_TIME,
  updatedAt: FIXTURE_TIME,
  version: 1,
  auth: {
    type: 'jwt',
    keyType: 'symmetric',
    keys: [{ kid: 'k1', jwk: { kty: 'oct', kid: 'k1', alg: 'HS256', k: SECRET.toString('base64url') }, createdAt: FIXTURE_TIME }],
    token: { in: 'header', name: 'authorization', prefix: 'Bearer ', passthrough: false },
    identity: { claim: 'uid', value: 'jwt-user-uid' },
    claims: { requireExp: false, clockSkewSeconds: 60 },
    claimsToHeaders: [],
  },
};

let redis: TestRedis;
const services: Service[] = [];

beforeAll(async () => {
  redis = await startRedis({ persist: false });
  const admin = redis.client();
  await seedPreviousLayout(admin, PREFIX, [...Array.from({ length: N }, (_, i) => consumer(i)), jwtConsumer]);
  admin.disconnect();
}, 120_000);

afterAll(async () => {
  for (const s of services) s.kill('SIGKILL');
  await redis.close();
});

function start(): Promise<Service> {
  return startService({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, LOG_LEVEL: 'info' }).then((s) => {
    services.push(s);
    return s;
  });
}

/** The answers every consumer gave under the previous release: allow with its name, or its denial. */
async function answersAsBefore(s: Service, sample: number[], token: string): Promise<void> {
  const envoy = new EnvoyClient(s.grpcPort);
  try {
    for (const i of sample) {
      const res = await envoy.check({ headers: { authorization: `Bearer ${keyOf(i)}` } });
      if (i === 1) expect(denyCode(res)).toBe('consumer_disabled');
      else if (i === 2) expect(denyCode(res)).toBe('expired_credential');
      else {
        expect(httpStatus(res)).toBe(200);
        expect(header(res.ok_response?.headers, 'x-consumer-name')).toBe(`u${i}`);
      }
    }
    expect(denyCode(await envoy.check({ headers: { authorization: 'Bearer layout-upgrade-key-none-0123456789' } }))).toBe('invalid_credential');
    const jwt = await envoy.check({ headers: { authorization: `Bearer ${token}` } });
    expect(header(jwt.ok_response?.headers, 'x-consumer-name')).toBe('jwt-user');
  } finally {
    envoy.close();
  }
}

describe('store layout upgrade', () => {
  it('two instances start on previous-layout data; the upgrader is killed half-way; the other finishes; nothing changes for any consumer', async () => {
    const admin = redis.client();
    const token = await new SignJWT({ uid: 'jwt-user-uid' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(SECRET);
    const sample = [0, 1, 2, ...Array.from({ length: 200 }, (_, j) => 3 + Math.floor((j * (N - 3)) / 200))];
    try {
      const [a, b] = await Promise.all([start(), start()]);
      const upgrading = (s: Service) => s.out().includes('upgrading the store layout: writing');
      await until(() => upgrading(a) || upgrading(b), 30_000, 5);
      const upgrader = upgrading(a) ? a : b;
      const other = upgrader === a ? b : a;
      upgrader.kill('SIGKILL');
      await upgrader.exited;
      // Killed half-way: the version is not set, part of the check records are written.
      const after = (await admin.keys(`${PREFIX}q:*`)).length;
      expect(await admin.get(`${PREFIX}layout`)).toBeNull();
      expect(after).toBeGreaterThan(0);
      expect(after).toBeLessThan(N);

      await other.ready(60_000);
      await answersAsBefore(other, sample, token);
      // The survivor takes the lock once it expires and finishes the upgrade.
      await until(async () => (await admin.get(`${PREFIX}layout`)) === '2', 60_000, 100);
      expect(other.out()).toContain('store layout upgraded');
      expect(await admin.exists(`${PREFIX}layout-lock`)).toBe(0);
      expect((await admin.keys(`${PREFIX}q:*`)).length).toBe(N + 1);
      for (const i of [0, 1, 2, N - 1]) {
        const [q, rev] = await Promise.all([admin.get(`${PREFIX}q:u${i}`), admin.zscore(`${PREFIX}log`, `c:u${i}`)]);
        expect(parseCheckRecord(q as string)).toEqual(toCheckRecord(consumer(i), Number(rev)));
      }
      await answersAsBefore(other, sample, token);

      // A new instance loads the upgraded layout and answers the same.
      const c = await start();
      await c.ready(60_000);
      await answersAsBefore(c, sample, token);
      expect(c.out()).not.toContain('upgrading the store layout: writing');
    } finally {
      admin.disconnect();
    }
  }, 180_000);
});
