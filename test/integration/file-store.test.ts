/**
 * The embedded store across restarts of the real App on one DATA_FILE:
 * consumers, keys and grants survive; the file is private and holds no key.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/consumers/api-keys.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { denyCode, header, httpStatus } from '../helpers/envoy.js';

const BOB_KEY = 'bob-custom-key-0001';
let dir: string;
let dataFile: string;
let aliceKey: string;
let aliceSecondKey: string;
let t: TestApp | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cauthz-filestore-'));
  // a directory that does not exist yet: the store creates it
  dataFile = join(dir, 'nested', 'consumers.json');
  t = await startApp({ dataFile });
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  aliceKey = a.body.apiKey;
  const a2 = await t.admin('POST', '/v1/consumers/alice/keys', { expiresAt: '2099-01-01T00:00:00Z' });
  aliceSecondKey = a2.body.apiKey;
  const b = await t.admin('POST', '/v1/consumers', {
    name: 'bob',
    description: 'custom header',
    auth: { type: 'api-key', generation: 'custom', key: BOB_KEY, source: { in: 'header', name: 'x-api-key' } },
  });
  const c = await t.admin('POST', '/v1/consumers', { name: 'carol', auth: { type: 'api-key', source: { in: 'query', name: 'k' } } });
  const d = await t.admin('POST', '/v1/consumers', { name: 'dave', enabled: false, auth: { type: 'api-key' } });
  const e = await t.admin('POST', '/v1/consumers', { name: 'erased', auth: { type: 'api-key' } });
  expect([a.status, a2.status, b.status, c.status, d.status, e.status]).toEqual([201, 201, 201, 201, 201, 201]);
  expect((await t.admin('DELETE', '/v1/consumers/erased')).status).toBe(204);
  expect((await t.admin('PUT', '/v1/routes/chat', { consumers: ['alice'] })).status).toBe(200);
  expect((await t.admin('PUT', '/v1/routes/dropped', { consumers: ['bob'] })).status).toBe(200);
  expect((await t.admin('DELETE', '/v1/routes/dropped')).status).toBe(204);
});

afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the data file', () => {
  it('has mode 0600', () => {
    expect(statSync(dataFile).mode & 0o777).toBe(0o600);
  });

  it('holds no plaintext key (only hashes), and no temp file is left behind', () => {
    const text = readFileSync(dataFile, 'utf8');
    for (const k of [aliceKey, aliceSecondKey, BOB_KEY]) {
      expect(k.length).toBeGreaterThan(15);
      expect(text).not.toContain(k);
      expect(text).toContain(hashKey(k));
    }
    // Only the data file and, while the service runs, its lock.
    expect(readdirSync(join(dir, 'nested')).sort()).toEqual(['consumers.json', 'consumers.json.lock']);
  });
});

describe('after a restart on the same DATA_FILE', () => {
  let before: { consumers: unknown; routes: unknown; revision: number };

  beforeAll(async () => {
    before = {
      consumers: (await t!.admin('GET', '/v1/consumers')).body,
      routes: (await t!.admin('GET', '/v1/routes')).body,
      revision: t!.app.replicator.revision,
    };
    await t!.stop();
    t = undefined;
    t = await startApp({ dataFile });
  });

  it('the admin API shows the same consumers and grants', async () => {
    expect((await t!.admin('GET', '/v1/consumers')).body).toEqual(before.consumers);
    expect((await t!.admin('GET', '/v1/routes')).body).toEqual(before.routes);
    expect((await t!.admin('GET', '/v1/consumers/erased')).status).toBe(404);
    expect((await t!.admin('GET', '/v1/routes/dropped')).status).toBe(404);
    expect(t!.app.replicator.revision).toBe(before.revision);
  });

  it('every key works from its source, grants and disabled state hold', async () => {
    const alice = await t!.envoy.check({ route: 'chat', headers: { authorization: `Bearer ${aliceKey}` } });
    expect(httpStatus(alice)).toBe(200);
    expect(header(alice.ok_response!.headers, 'x-consumer-name')).toBe('alice');
    expect(httpStatus(await t!.envoy.check({ route: 'chat', headers: { authorization: `Bearer ${aliceSecondKey}` } }))).toBe(200);
    expect(denyCode(await t!.envoy.check({ route: 'chat', headers: { 'x-api-key': BOB_KEY } }))).toBe('route_forbidden');
    expect(httpStatus(await t!.envoy.check({ route: 'other', headers: { 'x-api-key': BOB_KEY } }))).toBe(200);
    expect(denyCode(await t!.envoy.check({ headers: { 'x-api-key': 'not-a-key-of-anyone-0' } }))).toBe('invalid_credential');
    const dave = (await t!.admin('GET', '/v1/consumers/dave')).body;
    expect(dave.enabled).toBe(false);
  });

  it('key uniqueness still holds: a restored key cannot be reused by another consumer', async () => {
    const res = await t!.admin('POST', '/v1/consumers', {
      name: 'mallory',
      auth: { type: 'api-key', generation: 'custom', key: BOB_KEY },
    });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('credential_conflict');
  });

  it('writes continue after the restart, are persisted, and the file stays 0600', async () => {
    expect((await t!.admin('PATCH', '/v1/consumers/dave', { enabled: true })).status).toBe(200);
    const f = await t!.admin('POST', '/v1/consumers', { name: 'frank', auth: { type: 'api-key' } });
    expect(f.status).toBe(201);
    expect(t!.app.replicator.revision).toBeGreaterThan(before.revision);
    expect(statSync(dataFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(dataFile, 'utf8')).not.toContain(f.body.apiKey);
    await t!.stop();
    t = undefined;
    t = await startApp({ dataFile });
    expect(httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${f.body.apiKey}` } }))).toBe(200);
    expect((await t.admin('GET', '/v1/consumers/dave')).body.enabled).toBe(true);
  });
});
