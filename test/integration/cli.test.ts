/**
 * The CLI (`runCli`, in-process) against the real App: every command of the
 * usage text, --json, human output, exit codes, --url and token handling.
 * (`serve` is dispatched by bin/consumer-authz, not by runCli.)
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, USAGE } from '../../src/cli/cli.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus } from '../helpers/envoy.js';
import { freePort } from '../helpers/redis.js';

const TOKEN = 'cli-admin-token-0123456789';
let t: TestApp;
let url: string;

beforeAll(async () => {
  t = await startApp({ adminToken: TOKEN });
  url = `http://127.0.0.1:${t.adminPort}`;
});

afterAll(async () => {
  await t.stop();
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], env: Record<string, string | undefined> = { ADMIN_TOKEN: TOKEN, CONSUMER_AUTHZ_URL: url }): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env });
  return { code, out, err };
}

async function json(args: string[]): Promise<any> {
  const r = await cli([...args, '--json']);
  expect(r.code, r.err).toBe(0);
  expect(r.err).toBe('');
  return JSON.parse(r.out);
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

describe('consumers', () => {
  it('create (system key): human output names the consumer and prints the key exactly once', async () => {
    const r = await cli(['consumers', 'create', 'alice', '--description', 'first consumer']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    const key = /cak_[0-9A-Za-z]{38}/.exec(r.out)?.[0];
    expect(key).toBeDefined();
    expect(count(r.out, key as string)).toBe(1);
    expect(r.out).toContain('created consumer alice');
    expect(r.out).toContain('Authorization: Bearer');
    expect(r.out).toContain('enabled');
    expect(httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${key}` } }))).toBe(200);
    const got = await json(['consumers', 'get', 'alice']);
    expect(got).toMatchObject({ name: 'alice', description: 'first consumer', enabled: true });
  });

  it('create --json with --key, --source header:NAME, --expires, --disabled', async () => {
    const res = await json([
      'consumers', 'create', 'bob', '--key', 'bob-custom-key-0001', '--source', 'header:x-api-key',
      '--expires', '2099-01-01T00:00:00Z', '--disabled',
    ]);
    expect(res.apiKey).toBe('bob-custom-key-0001');
    expect(res.consumer).toMatchObject({
      name: 'bob',
      enabled: false,
      auth: { type: 'api-key', source: { in: 'header', name: 'x-api-key' }, keys: [{ generation: 'custom', expiresAt: '2099-01-01T00:00:00.000Z' }] },
    });
    expect(denyCode(await t.envoy.check({ headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe('consumer_disabled');
  });

  it('create with --source query:NAME', async () => {
    const res = await json(['consumers', 'create', 'carol', '--source', 'query:api_key']);
    expect(res.consumer.auth.source).toEqual({ in: 'query', name: 'api_key' });
    expect(httpStatus(await t.envoy.check({ path: `/x?api_key=${res.apiKey}` }))).toBe(200);
  });

  it('enable / disable (human and --json); Check follows', async () => {
    const on = await cli(['consumers', 'enable', 'bob']);
    expect(on.code, on.err).toBe(0);
    expect(on.out).toBe('consumer bob is enabled\n');
    expect(httpStatus(await t.envoy.check({ headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe(200);
    const off = await json(['consumers', 'disable', 'bob']);
    expect(off).toMatchObject({ name: 'bob', enabled: false });
    expect(denyCode(await t.envoy.check({ headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe('consumer_disabled');
    expect((await cli(['consumers', 'enable', 'bob'])).code).toBe(0);
  });

  it('update --description: changes only the description "" clears it; no --description is a usage error', async () => {
    const before = await json(['consumers', 'get', 'bob']);
    const r = await cli(['consumers', 'update', 'bob', '--description', 'Partner integration (EU)']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('consumer bob description: Partner integration (EU)\n');
    const after = await json(['consumers', 'get', 'bob']);
    expect(after).toMatchObject({ description: 'Partner integration (EU)', enabled: before.enabled, auth: before.auth });
    expect(await json(['consumers', 'update', 'bob', '--description', ''])).toMatchObject({ description: '' });
    const bad = await cli(['consumers', 'update', 'bob', '--description', 'x'.repeat(257)]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('invalid_request');
    const usage = await cli(['consumers', 'update', 'bob']);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('--description');
    expect((await json(['consumers', 'get', 'bob'])).description).toBe('');
  });

  it('list (human, --json, --limit/--cursor paging)', async () => {
    const human = await cli(['consumers', 'list']);
    expect(human.code).toBe(0);
    const lines = human.out.trim().split('\n');
    expect(lines.map((l) => l.split('\t')[0])).toEqual(['alice', 'bob', 'carol']);
    expect(lines[0]).toContain('first consumer');
    const all = await json(['consumers', 'list']);
    expect(all.items.map((c: { name: string }) => c.name)).toEqual(['alice', 'bob', 'carol']);
    expect(all.nextCursor).toBeNull();
    const p1 = await json(['consumers', 'list', '--limit', '2']);
    expect(p1.items.map((c: { name: string }) => c.name)).toEqual(['alice', 'bob']);
    expect(p1.nextCursor).toEqual(expect.any(String));
    const p1h = await cli(['consumers', 'list', '--limit', '2']);
    expect(p1h.out).toContain(`(more: --cursor ${p1.nextCursor})`);
    const p2 = await json(['consumers', 'list', '--limit', '2', '--cursor', p1.nextCursor]);
    expect(p2.items.map((c: { name: string }) => c.name)).toEqual(['carol']);
    expect(p2.nextCursor).toBeNull();
  });

  it('get prints the consumer and never a key or hash', async () => {
    const r = await cli(['consumers', 'get', 'bob']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.out);
    expect(shown.name).toBe('bob');
    expect(r.out).not.toContain('bob-custom-key-0001');
    expect(r.out).not.toMatch(/"hash"|"apiKey"/);
  });

  it('delete', async () => {
    expect((await json(['consumers', 'create', 'temp'])).consumer.name).toBe('temp');
    const r = await cli(['consumers', 'delete', 'temp']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('deleted consumer temp\n');
    expect(await json(['consumers', 'delete', 'carol'])).toEqual({ deleted: 'carol' });
    const gone = await cli(['consumers', 'get', 'temp']);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain('consumer_not_found');
  });
});

describe('keys', () => {
  it('add (system key printed once), remove the old one: rotation works with Check', async () => {
    const alice = await json(['consumers', 'get', 'alice']);
    const oldId = alice.auth.keys[0].id as string;
    const r = await cli(['keys', 'add', 'alice', '--expires', '2099-06-01T00:00:00Z']);
    expect(r.code, r.err).toBe(0);
    const key = /cak_[0-9A-Za-z]{38}/.exec(r.out)?.[0] as string;
    expect(key).toBeDefined();
    expect(count(r.out, key)).toBe(1);
    const newId = /added key (key_[0-9a-f]+) to alice/.exec(r.out)?.[1];
    expect(newId).toBeDefined();
    expect(httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${key}` } }))).toBe(200);
    const removed = await cli(['keys', 'remove', 'alice', oldId]);
    expect(removed.code, removed.err).toBe(0);
    expect(removed.out).toBe(`removed key ${oldId} from alice\n`);
    const after = await json(['consumers', 'get', 'alice']);
    expect(after.auth.keys.map((k: { id: string }) => k.id)).toEqual([newId]);
    expect(after.auth.keys[0].expiresAt).toBe('2099-06-01T00:00:00.000Z');
  });

  it('add --key --json; remove --json', async () => {
    const res = await json(['keys', 'add', 'bob', '--key', 'bob-second-key-0002']);
    expect(res.apiKey).toBe('bob-second-key-0002');
    expect(res.key).toMatchObject({ generation: 'custom', hint: '…0002' });
    expect(httpStatus(await t.envoy.check({ headers: { 'x-api-key': 'bob-second-key-0002' } }))).toBe(200);
    expect(await json(['keys', 'remove', 'bob', res.key.id])).toEqual({ removed: res.key.id });
    expect(denyCode(await t.envoy.check({ headers: { 'x-api-key': 'bob-second-key-0002' } }))).toBe('invalid_credential');
  });

  it('removing the last key is refused by the API (exit 1, invalid_request)', async () => {
    const bob = await json(['consumers', 'get', 'bob']);
    const r = await cli(['keys', 'remove', 'bob', bob.auth.keys[0].id]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('invalid_request (400)');
    expect(r.out).toBe('');
  });
});

describe('--key-out', () => {
  it('consumers create and keys add write the API key to FILE, mode 0600, and say so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-keyout-'));
    const first = join(dir, 'first.key');
    const r = await cli(['consumers', 'create', 'kate', '--key-out', first]);
    expect(r.code, r.err).toBe(0);
    const key = readFileSync(first, 'utf8');
    expect(key).toMatch(/^cak_[0-9A-Za-z]{38}\n$/);
    expect(statSync(first).mode & 0o777).toBe(0o600);
    expect(r.out).toContain(`written to ${first} (mode 0600)`);
    const second = join(dir, 'second.key');
    expect((await cli(['keys', 'add', 'kate', '--key', 'kate-second-key-0123456789', '--key-out', second])).code).toBe(0);
    expect(readFileSync(second, 'utf8')).toBe('kate-second-key-0123456789\n');
    expect(statSync(second).mode & 0o777).toBe(0o600);
    expect(httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${key.trim()}` } }))).toBe(200);
  });
});

describe('routes', () => {
  it('grant, show, list, revoke (down to no grants: the route is deleted)', async () => {
    const g = await cli(['routes', 'grant', 'chat', 'alice']);
    expect(g.code, g.err).toBe(0);
    expect(g.out).toBe('route chat admits: alice\n');
    expect(denyCode(await t.envoy.check({ route: 'chat', headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe('route_forbidden');

    const g2 = await json(['routes', 'grant', 'chat', 'bob']);
    expect(g2.consumers).toEqual(['alice', 'bob']);
    expect(httpStatus(await t.envoy.check({ route: 'chat', headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe(200);

    expect((await cli(['routes', 'show', 'chat'])).out).toBe('route chat admits: alice, bob\n');
    expect(await json(['routes', 'show', 'chat'])).toMatchObject({ route: 'chat', consumers: ['alice', 'bob'] });
    expect((await cli(['routes', 'list'])).out).toBe('chat\talice,bob\n');
    expect((await json(['routes', 'list'])).items.map((r: { route: string }) => r.route)).toEqual(['chat']);

    const rv = await cli(['routes', 'revoke', 'chat', 'bob']);
    expect(rv.code).toBe(0);
    expect(rv.out).toBe('route chat admits: alice\n');
    const rv2 = await json(['routes', 'revoke', 'chat', 'alice']);
    expect(rv2).toMatchObject({ route: 'chat', consumers: [] });
    // An empty grant list admits nobody (fail closed) ...
    expect(denyCode(await t.envoy.check({ route: 'chat', headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe('route_forbidden');
    expect((await cli(['routes', 'show', 'chat'])).out).toContain('route chat admits nobody');
    // ... until the grants are cleared.
    expect((await cli(['routes', 'clear', 'chat'])).out).toBe('route chat has no grants: it admits every enabled consumer\n');
    expect((await t.admin('GET', '/v1/routes/chat', undefined, TOKEN)).status).toBe(404);
    expect(httpStatus(await t.envoy.check({ route: 'chat', headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe(200);
    expect((await cli(['routes', 'show', 'chat'])).out).toBe('route chat has no grants: it admits every enabled consumer\n');
    expect(await json(['routes', 'show', 'chat'])).toEqual({ route: 'chat', consumers: null });
    expect((await cli(['routes', 'list'])).out).toBe('(no routes with grants)\n');
  });

  it('granting an unknown consumer is refused (exit 1) and changes nothing', async () => {
    const r = await cli(['routes', 'grant', 'chat', 'nobody']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('consumer_not_found');
    expect(r.err).toContain('"nobody"');
    expect((await t.admin('GET', '/v1/routes/chat', undefined, TOKEN)).status).toBe(404);
  });

  it('grant --expires makes a short-term grant; granting others keeps it; granting again without it makes it long-term', async () => {
    const g = await cli(['routes', 'grant', 'temp', 'alice', '--expires', '2099-01-01T00:00:00Z']);
    expect(g.code, g.err).toBe(0);
    expect(g.out).toBe('route temp admits: alice (until 2099-01-01T00:00:00.000Z)\n');
    expect((await json(['routes', 'grant', 'temp', 'bob'])).expires).toEqual({ alice: '2099-01-01T00:00:00.000Z' });
    expect((await cli(['routes', 'list'])).out).toContain('temp\talice (until 2099-01-01T00:00:00.000Z),bob\n');
    const bad = await cli(['routes', 'grant', 'temp', 'bob', '--expires', 'next week']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('expires.bob');
    expect((await cli(['routes', 'revoke', 'temp', 'bob', '--expires', '2099-01-01T00:00:00Z'])).code).toBe(2);
    const long = await json(['routes', 'grant', 'temp', 'alice']);
    expect(long.expires).toBeUndefined();
    expect(long.consumers).toEqual(['alice', 'bob']);
    expect((await cli(['routes', 'clear', 'temp'])).code).toBe(0);
  });
});

describe('usage errors exit 2; help exits 0', () => {
  it('--help and -h print the usage and the environment', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(USAGE);
      expect(r.out).toContain('ADMIN_TOKEN');
      expect(r.out).toContain('REDIS_URL');
    }
  });

  it('USAGE lists every command this file exercises', () => {
    for (const cmd of [
      'serve', 'consumers create', 'consumers list', 'consumers get', 'consumers enable', 'disable NAME', 'consumers update',
      'consumers delete', 'keys add', 'keys remove', 'routes grant', 'routes revoke', 'routes show', 'routes list',
    ]) {
      expect(USAGE).toContain(cmd);
    }
  });

  it.each([
    [[]],
    [['bogus']],
    [['consumers']],
    [['consumers', 'frobnicate']],
    [['consumers', 'get']],
    [['consumers', 'get', 'a', 'b']],
    [['consumers', 'create']],
    [['consumers', 'create', 'x', '--source', 'cookie:x']],
    [['consumers', 'create', 'x', '--source', 'header:']],
    [['consumers', 'list', '--bogus']],
    [['keys', 'remove', 'alice']],
    [['keys', 'add']],
    [['routes', 'grant', 'chat']],
    [['routes', 'revoke']],
    [['routes', 'show']],
    [['consumers', 'get', 'alice', '--limit']],
  ])('%j → 2', async (args) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.out + r.err).toContain('Usage: consumer-authz');
  });

  it('a usage error sends nothing to the API', async () => {
    const before = await t.admin('GET', '/v1/consumers?limit=1000', undefined, TOKEN);
    expect((await cli(['consumers', 'create', 'x', '--source', 'nope'])).code).toBe(2);
    expect(await t.admin('GET', '/v1/consumers?limit=1000', undefined, TOKEN)).toEqual(before);
  });
});

describe('API errors exit 1 with the code in stderr', () => {
  it.each([
    [['consumers', 'get', 'nobody'], 'consumer_not_found (404)'],
    [['consumers', 'delete', 'nobody'], 'consumer_not_found (404)'],
    [['consumers', 'create', 'alice'], 'consumer_exists (409)'],
    [['consumers', 'create', 'dup', '--key', 'bob-custom-key-0001'], 'credential_conflict (409)'],
    [['consumers', 'create', 'short', '--key', 'tooshort'], 'invalid_request (400)'],
    [['consumers', 'create', '.bad'], 'invalid_request (400)'],
    [['consumers', 'create', 'x', '--expires', 'tomorrow'], 'invalid_request (400)'],
    [['consumers', 'list', '--limit', '0'], 'invalid_request (400)'],
    [['keys', 'remove', 'alice', 'key_0000000000000000'], 'key_not_found (404)'],
    [['keys', 'add', 'nobody'], 'consumer_not_found (404)'],
  ])('%j', async (args, code) => {
    const r = await cli(args);
    expect(r.code).toBe(1);
    expect(r.err).toContain(code);
    expect(r.out).toBe('');
  });

  it('--json does not change the exit code or stderr on errors', async () => {
    const r = await cli(['consumers', 'get', 'nobody', '--json']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('consumer_not_found');
    expect(r.out).toBe('');
  });
});

describe('connection and token', () => {
  it('a wrong --url exits 1 with a clear message naming the URL', async () => {
    const port = await freePort();
    const bad = `http://127.0.0.1:${port}`;
    const r = await cli(['consumers', 'list', '--url', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot reach the admin API at ${bad}`);
    expect(r.out).toBe('');
  });

  it('the URL comes from --url over CONSUMER_AUTHZ_URL (trailing slash ok)', async () => {
    const port = await freePort();
    const r = await cli(['consumers', 'list', '--url', `${url}/`], { ADMIN_TOKEN: TOKEN, CONSUMER_AUTHZ_URL: `http://127.0.0.1:${port}` });
    expect(r.code, r.err).toBe(0);
    const viaEnv = await cli(['consumers', 'list'], { ADMIN_TOKEN: TOKEN, CONSUMER_AUTHZ_URL: `http://127.0.0.1:${port}` });
    expect(viaEnv.code).toBe(1);
    expect(viaEnv.err).toContain(`http://127.0.0.1:${port}`);
  });

  it('token via env, via --token (which wins), missing or wrong → exit 1 unauthorized', async () => {
    expect((await cli(['consumers', 'list'], { ADMIN_TOKEN: TOKEN, CONSUMER_AUTHZ_URL: url })).code).toBe(0);
    expect((await cli(['consumers', 'list', '--token', TOKEN], { CONSUMER_AUTHZ_URL: url })).code).toBe(0);
    expect((await cli(['consumers', 'list', '--token', TOKEN], { ADMIN_TOKEN: 'wrong-token-0000000000', CONSUMER_AUTHZ_URL: url })).code).toBe(0);
    const missing = await cli(['consumers', 'list'], { CONSUMER_AUTHZ_URL: url });
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('unauthorized (401)');
    const wrong = await cli(['consumers', 'list', '--token', 'wrong-token-0000000000'], { CONSUMER_AUTHZ_URL: url });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('unauthorized (401)');
    expect(wrong.err).not.toContain('wrong-token-0000000000');
  });
});
