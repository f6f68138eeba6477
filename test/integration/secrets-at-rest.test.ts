/**
 * Secrets at rest, with a real redis-server and the real server: HS256
 * secrets are sealed under the KEK (the raw record holds no secret byte),
 * tokens verify, rotation re-seals every record in the background (two
 * instances at once, each record rewritten once) after which the old KEK can
 * be removed, a KEK the instance lacks gives 503 (never allow, never 401),
 * and secrets stored before a KEK was configured get sealed.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus } from '../helpers/envoy.js';
import { hs256Secret, sign } from '../helpers/jwt.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'cauthz-kek-it-'));
const KEY = { k1: randomBytes(32).toString('base64'), k2: randomBytes(32).toString('base64'), k3: randomBytes(32).toString('base64') };
let files = 0;
function kekFile(...ids: Array<keyof typeof KEY>): string {
  const p = join(dir, `keks-${++files}`);
  writeFileSync(p, ids.map((id) => `${id} ${KEY[id]}\n`).join(''));
  chmodSync(p, 0o600);
  return p;
}

interface Secret {
  name: string;
  kid: string;
  secret: Buffer;
}

const exp = () => Math.floor(Date.now() / 1000) + 600;

async function outcome(t: TestApp, s: Secret): Promise<string> {
  const token = await sign({ uid: `${s.name}-uid`, exp: exp() }, s.secret, { alg: 'HS256', kid: s.kid });
  const res = await t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
  return httpStatus(res) === 200 ? 'allow' : `${httpStatus(res)} ${denyCode(res)}`;
}

/** Every way the secret's bytes could appear in text. */
function forms(s: Secret): string[] {
  return [s.secret.toString('base64url'), s.secret.toString('base64'), s.secret.toString('hex'), s.secret.toString('latin1')];
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('info', { write: (l: string) => lines.push(l) }), lines };
}

describe('secrets at rest (Redis)', () => {
  let redis: TestRedis;
  let raw: Redis;
  const secrets: Secret[] = [];
  const prefix = 'sealed:';
  const rawRecord = async (name: string) => (await raw.get(`${prefix}c:${name}`)) as string;
  const sealedUnder = async (name: string) =>
    (JSON.parse(await rawRecord(name)).auth.keys as Array<{ jwk: { sealed?: string } }>).map((k) => k.jwk.sealed?.split('.')[1]);
  const start = (env: Record<string, string>, logger?: ReturnType<typeof createLogger>) =>
    startApp({ redisUrl: redis.url, env: { REDIS_KEY_PREFIX: prefix, ...env }, logger });

  beforeAll(async () => {
    redis = await startRedis({ persist: false });
    raw = redis.client();
  });
  afterAll(async () => {
    await redis.close();
  });

  it('sealed under the KEK: no secret byte in Redis, in any answer or in the audit; tokens verify', async () => {
    const t = await start({ SECRETS_KEK_FILE: kekFile('k1') });
    try {
      for (const name of ['s1', 's2', 's3']) {
        const res = await t.admin('POST', '/v1/consumers', { name, auth: { type: 'jwt', keyType: 'symmetric', identity: { value: `${name}-uid` } } });
        expect(res.status).toBe(201);
        secrets.push({ name, kid: res.body.jwks.keys[0].kid, secret: hs256Secret(res.body.jwks) });
      }
      // a rotated-in second key is sealed too
      const added = await t.admin('POST', '/v1/consumers/s3/keys', {});
      expect(added.status).toBe(201);
      secrets.push({ name: 's3', kid: added.body.jwks.keys[0].kid, secret: hs256Secret(added.body.jwks) });

      for (const s of secrets) await until(async () => (await outcome(t, s)) === 'allow');
      const dump = [
        ...(await Promise.all(['s1', 's2', 's3'].map(rawRecord))),
        JSON.stringify((await t.admin('GET', '/v1/consumers')).body),
        ...(await Promise.all(['s1', 's2', 's3'].map(async (n) => JSON.stringify((await t.admin('GET', `/v1/consumers/${n}`)).body)))),
        JSON.stringify((await t.admin('GET', '/v1/audit?limit=100')).body),
      ].join('\n');
      for (const s of secrets) for (const f of forms(s)) expect(dump.includes(f), `secret of ${s.name} found`).toBe(false);
      for (const n of ['s1', 's2']) expect(await sealedUnder(n)).toEqual(['k1']);
      expect(await sealedUnder('s3')).toEqual(['k1', 'k1']);
      expect(JSON.parse(await rawRecord('s1')).auth.keys[0].jwk.k).toBeUndefined();
      expect((await t.admin('GET', '/readyz')).body.secrets).toEqual({ primaryKek: 'k1', unreadable: 0, unreadableKeks: [], awaitingReseal: 0 });
    } finally {
      await t.stop();
    }
  });

  it('rotation: a new primary, two instances at once: every record re-sealed once, tokens keep verifying', async () => {
    const versions = async () => Promise.all(['s1', 's2', 's3'].map(async (n) => JSON.parse(await rawRecord(n)).version as number));
    const before = await versions();
    const file = kekFile('k2', 'k1');
    const [a, b] = await Promise.all([start({ SECRETS_KEK_FILE: file }), start({ SECRETS_KEK_FILE: file })]);
    try {
      await until(async () => (await Promise.all(['s1', 's2', 's3'].map(sealedUnder))).flat().every((id) => id === 'k2'), 10_000);
      await until(() => a.app.readiness().secrets.awaitingReseal === 0 && b.app.readiness().secrets.awaitingReseal === 0, 10_000);
      expect(await versions()).toEqual(before.map((v) => v + 1));
      for (const t of [a, b]) for (const s of secrets) await until(async () => (await outcome(t, s)) === 'allow');
      const audit = (await a.admin('GET', '/v1/audit?limit=20')).body.items as Array<Record<string, any>>;
      const passes = audit.filter((e) => e.action === 'secrets.reseal');
      expect(passes.length).toBeGreaterThan(0);
      expect(passes.every((e) => e.actor === 'system' && e.target === 'kek:k2')).toBe(true);
      expect(passes.reduce((n, e) => n + e.after.resealed, 0)).toBe(3);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    // the old KEK can now go
    const t = await start({ SECRETS_KEK_FILE: kekFile('k2') });
    try {
      for (const s of secrets) expect(await outcome(t, s)).toBe('allow');
      expect(t.app.readiness().secrets).toEqual({ primaryKek: 'k2', unreadable: 0, unreadableKeks: [], awaitingReseal: 0 });
    } finally {
      await t.stop();
    }
  });

  it('sealed under a KEK this instance lacks: 503 authz_unavailable, never allow; logged by key id; /readyz says so', async () => {
    const envs: Array<Record<string, string>> = [{ SECRETS_KEK_FILE: kekFile('k3') }, {}];
    for (const env of envs) {
      const { logger, lines } = capture();
      const t = await start(env, logger);
      try {
        for (const s of secrets) expect(await outcome(t, s)).toBe('503 authz_unavailable');
        const ready = await t.admin('GET', '/readyz');
        expect(ready.status).toBe(200);
        expect(ready.body.secrets).toMatchObject({ unreadable: 3, unreadableKeks: ['k2'], awaitingReseal: 0 });
        const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 50 && l.consumer);
        expect(errors.map((l) => l.consumer).sort()).toEqual(['s1', 's2', 's3']);
        expect(errors.every((l) => l.kek === 'k2' && l.msg.includes('"k2"'))).toBe(true);
        const all = lines.join('\n');
        for (const s of secrets) for (const f of forms(s)) expect(all.includes(f)).toBe(false);
        // nothing was rewritten by an instance that could not open it
        expect((await Promise.all(['s1', 's2', 's3'].map(sealedUnder))).flat().every((id) => id === 'k2')).toBe(true);
      } finally {
        await t.stop();
      }
    }
  });

  it('no KEK: stored in the clear with one start-up warning; a KEK configured later seals them in the background', async () => {
    const p2 = 'plain:';
    const { logger, lines } = capture();
    const t = await startApp({ redisUrl: redis.url, env: { REDIS_KEY_PREFIX: p2 }, logger });
    let s: Secret;
    try {
      const res = await t.admin('POST', '/v1/consumers', { name: 'p1', auth: { type: 'jwt', keyType: 'symmetric', identity: { value: 'p1-uid' } } });
      s = { name: 'p1', kid: res.body.jwks.keys[0].kid, secret: hs256Secret(res.body.jwks) };
      await until(async () => (await outcome(t, s)) === 'allow');
      expect(JSON.parse((await raw.get(`${p2}c:p1`)) as string).auth.keys[0].jwk.k).toBe(s.secret.toString('base64url'));
      expect(lines.filter((l) => l.includes('stored unencrypted'))).toHaveLength(1);
      expect((await t.admin('GET', '/readyz')).body.secrets.primaryKek).toBeNull();
    } finally {
      await t.stop();
    }
    const sealed = await startApp({ redisUrl: redis.url, env: { REDIS_KEY_PREFIX: p2, SECRETS_KEK: KEY.k1 } });
    try {
      await until(async () => JSON.parse((await raw.get(`${p2}c:p1`)) as string).auth.keys[0].jwk.sealed !== undefined, 10_000);
      const rec = (await raw.get(`${p2}c:p1`)) as string;
      for (const f of forms(s)) expect(rec.includes(f)).toBe(false);
      await until(async () => (await outcome(sealed, s)) === 'allow');
      expect(sealed.app.readiness().secrets.awaitingReseal).toBe(0);
    } finally {
      await sealed.stop();
    }
  });
});
