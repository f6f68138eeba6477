/**
 * `consumer-authz check` against the real server (App on port 0, real gRPC
 * port): allow, every denial, --json, --explain, exit codes, usage errors, and
 * — through bin/consumer-authz as a process — the one-line message when the
 * port cannot be reached.
 */
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { CHECK_DEADLINE_MS } from '../../src/cli/check.js';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { hs256Secret, sign } from '../helpers/jwt.js';
import { freePort } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'check-admin-token-0123456789';
const BOB = 'bob-check-key-0123456789';
const ALICE = 'alice-check-key-0123456789';
let t: TestApp;
let env: Record<string, string>;
let clock = Date.now();

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], e: Record<string, string | undefined> = env): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: e });
  return { code, out, err };
}

const check = (...args: string[]) => cli(['check', ...args]);
const firstLine = (r: Run) => r.out.split('\n')[0];

beforeAll(async () => {
  t = await startApp({ adminToken: TOKEN, now: () => clock });
  env = { GRPC_PORT: String(t.grpcPort), CONSUMER_AUTHZ_URL: `http://127.0.0.1:${t.adminPort}`, ADMIN_TOKEN: TOKEN };
  for (const args of [
    ['consumers', 'create', 'alice', '--key', ALICE],
    ['consumers', 'create', 'bob', '--key', BOB, '--source', 'header:x-api-key'],
    ['consumers', 'create', 'carol', '--key', 'carol-check-key-0123456789', '--source', 'query:api_key'],
    ['consumers', 'create', 'dan', '--key', 'dan-check-key-0123456789', '--source', 'header:x-api-key', '--disabled'],
    ['consumers', 'create', 'eve', '--key', 'eve-check-key-0123456789', '--source', 'header:x-eve-key', '--expires', new Date(clock + 60_000).toISOString()],
    ['routes', 'grant', 'chat', 'alice'],
  ]) {
    const r = await cli(args);
    expect(r.code, r.err).toBe(0);
  }
});

afterAll(async () => {
  await t.stop();
});

describe('check: the decision', () => {
  it('allow: as whom, the identity headers set, the credential header removed; exit 0', async () => {
    const r = await check('-H', `X-Api-Key: ${BOB}`, '--path', '/orders/7');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(firstLine(r)).toMatch(/^allow as bob \(consumer id csm_\w+, api-key, credential id key_\w+\)$/);
    expect(r.out).toMatch(/headers set: +x-consumer-id: csm_\w+\n +x-consumer-name: bob\n +x-mse-consumer: bob\n +x-credential-id: key_\w+\n/);
    expect(r.out).toMatch(/headers removed: x-api-key\n/);
    expect(r.out).toMatch(/query removed: +\(none\)\n/);
  });

  it('allow from a query parameter: the parameter is removed', async () => {
    const r = await check('--path', '/search?q=1&api_key=carol-check-key-0123456789');
    expect(r.code, r.err).toBe(0);
    expect(firstLine(r)).toMatch(/^allow as carol /);
    expect(r.out).toMatch(/headers removed: \(none\)\n/);
    expect(r.out).toMatch(/query removed: +api_key\n/);
  });

  it('allow on a route that grants the consumer; the same key elsewhere too', async () => {
    expect(firstLine(await check('-H', `authorization: Bearer ${ALICE}`, '--route', 'chat'))).toMatch(/^allow as alice /);
    const r = await check('-H', `Authorization: Bearer ${ALICE}`);
    expect(r.out).toMatch(/headers removed: authorization\n/);
  });

  it.each([
    ['no credential', [], 401, 'missing_credential'],
    ['an unknown key', ['-H', 'x-api-key: not-a-key-of-anyone-0000'], 401, 'invalid_credential'],
    ["bob's key from another source than his", ['-H', `authorization: Bearer ${BOB}`], 401, 'invalid_credential'],
    ['a disabled consumer', ['-H', 'x-api-key: dan-check-key-0123456789'], 403, 'consumer_disabled'],
    ['a route that does not grant the consumer', ['-H', `x-api-key: ${BOB}`, '--route', 'chat'], 403, 'route_forbidden'],
  ])('deny, %s: status, reason and body; exit 1', async (_what, args, status, reason) => {
    const r = await check(...(args as string[]));
    expect(r.code, r.err).toBe(1);
    expect(firstLine(r)).toBe(`deny ${status} ${reason}: ${JSON.parse(/body: +(.*)\n/.exec(r.out)![1]!).error.message}`);
    expect(r.out).toContain('content-type: application/json');
    if (status === 401) expect(r.out).toContain('www-authenticate: Bearer realm="consumer-authz"');
  });

  it('deny 401 expired_credential once the key is past its expiry', async () => {
    expect((await check('-H', 'x-eve-key: eve-check-key-0123456789')).code).toBe(0);
    clock += 120_000;
    try {
      const r = await check('-H', 'x-eve-key: eve-check-key-0123456789');
      expect(r.code).toBe(1);
      expect(firstLine(r)).toMatch(/^deny 401 expired_credential: /);
    } finally {
      clock -= 120_000;
    }
  });

  it('a JWT consumer: the credential id is the kid that verified the token', async () => {
    const created = await t.admin('POST', '/v1/consumers', { name: 'jay', auth: { type: 'jwt', keyType: 'symmetric', identity: { value: 'jay-uid' } } }, TOKEN);
    const kid = created.body.jwks.keys[0].kid as string;
    const jwt = await sign({ uid: 'jay-uid', exp: Math.floor(clock / 1000) + 600 }, hs256Secret(created.body.jwks), { alg: 'HS256', kid });
    const r = await check('-H', `authorization: Bearer ${jwt}`);
    expect(r.code, r.err).toBe(0);
    expect(firstLine(r)).toBe(`allow as jay (consumer id ${created.body.consumer.id}, jwt, credential id ${kid})`);
  });
});

describe('check --json', () => {
  it('allow: the CheckResponse with the official field names, metadata as a JSON object', async () => {
    const r = await check('-H', `x-api-key: ${BOB}`, '--json');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.out);
    expect(res.status).toEqual({ code: 0 });
    expect(res.ok_response.headers_to_remove).toEqual(['x-api-key']);
    expect(res.ok_response.headers).toContainEqual({ header: { key: 'x-consumer-name', value: 'bob' }, append: { value: false } });
    expect(res.dynamic_metadata).toMatchObject({ consumer_name: 'bob', auth_type: 'api-key' });
    expect(res.denied_response).toBeUndefined();
  });

  it('deny: denied_response with the HTTP status by its Envoy name and the JSON body; exit 1', async () => {
    const r = await check('--json');
    expect(r.code).toBe(1);
    const res = JSON.parse(r.out);
    expect(res.status).toEqual({ code: 16, message: 'missing_credential' });
    expect(res.denied_response.status).toEqual({ code: 'Unauthorized' });
    expect(JSON.parse(res.denied_response.body).error.code).toBe('missing_credential');
    expect(res.dynamic_metadata).toEqual({ deny_reason: 'missing_credential' });
  });

  it('--json --explain: stdout stays one JSON document, the explanation goes to stderr', async () => {
    const r = await check('-H', `x-api-key: ${BOB}`, '--json', '--explain');
    expect(JSON.parse(r.out).ok_response).toBeDefined();
    expect(r.err).toMatch(/^why:\n/);
  });
});

describe('check --explain', () => {
  it('allow: the consumer and key from the answer, the source inferred from what is stripped, the key and route from the admin API', async () => {
    const r = await check('-H', `authorization: Bearer ${ALICE}`, '--route', 'chat', '--explain');
    expect(r.code).toBe(0);
    const why = r.out.slice(r.out.indexOf('why:\n'));
    expect(why).toMatch(/\[answer\] consumer alice \(id csm_\w+\) was identified by credential id key_\w+/);
    expect(why).toContain('[inferred] the credential came from header authorization: that is what the answer strips');
    expect(why).toContain('[admin API] alice (api-key) reads its credential from Authorization: Bearer');
    expect(why).toMatch(/\[admin API\] key key_\w+ \(hint …6789, no expiry\)/);
    expect(why).toContain('[admin API] route chat admits only: alice (alice is granted)');
  });

  it('missing_credential: the rule, and where the consumers read their credentials', async () => {
    const r = await check('-H', 'x-other: 1', '--explain');
    expect(r.code).toBe(1);
    expect(r.out).toContain('[answer] missing_credential: no credential was found where any consumer reads one');
    expect(r.out).toMatch(/\[admin API\] consumers read their credential from: .*Authorization: Bearer \(alice, jay\).*header x-api-key \(bob, dan\)/);
    expect(r.out).toContain('[inferred] this request carries nothing in any of those places');
  });

  it('consumer_disabled: the disabled consumer reading that header is named, as an inference', async () => {
    const r = await check('-H', 'x-api-key: dan-check-key-0123456789', '--explain');
    expect(r.out).toContain('[inferred] this request carries a value where these consumers read theirs: bob (header x-api-key), dan (header x-api-key)');
    expect(r.out).toContain('[inferred] disabled among them: dan');
  });

  it('route_forbidden: the route\'s grants from the admin API', async () => {
    const r = await check('-H', `x-api-key: ${BOB}`, '--route', 'chat', '--explain');
    expect(r.out).toContain('[answer] route_forbidden: the consumer was identified but the route has grants and it is not among them');
    expect(r.out).toContain('[admin API] route chat admits only: alice');
  });

  it('invalid_credential with a JWT-shaped value: says what it looks like', async () => {
    const r = await check('-H', 'authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJ4In0.c2ln', '--explain');
    expect(firstLine(r)).toMatch(/^deny 401 invalid_credential/);
    expect(r.out).toContain('[inferred] the value looks like a JWT');
  });

  it('without a usable admin token: says so, and explains from the answer only', async () => {
    const r = await cli(['check', '--explain'], { ...env, ADMIN_TOKEN: 'wrong-token-0123456789' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('[answer] missing_credential');
    expect(r.out).toMatch(/\[admin API\] not read: the admin API at http:\/\/127\.0\.0\.1:\d+ refused \(unauthorized\); pass --token or set ADMIN_TOKEN; this explanation uses the answer only/);
    expect(r.out).not.toContain('wrong-token');
  });
});

describe('check: usage and the port', () => {
  it('check --help: the options and the exit codes; consumer-authz --help lists check', async () => {
    const r = await check('--help');
    expect(r.code).toBe(0);
    for (const o of ['-H, --header', '--path', '--method', '--host', '--route', '--grpc', '--json', '--explain']) expect(r.out).toContain(o);
    expect(r.out).toContain('Exit codes: 0 allow, 1 deny (401, 403), 2 usage error, 3 no decision');
    expect((await cli(['--help'])).out).toContain("check [-H 'NAME: VALUE']...");
  });

  it('--explain of an allow when the admin API cannot be reached: says so, still explains from the answer', async () => {
    const r = await cli(['check', '-H', `x-api-key: ${BOB}`, '--explain'], { GRPC_PORT: String(t.grpcPort), CONSUMER_AUTHZ_URL: `http://127.0.0.1:${await freePort()}` });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\[admin API\] not read: the admin API at http:\/\/127\.0\.0\.1:\d+ cannot be reached \(.*\); set --url or CONSUMER_AUTHZ_URL/);
    expect(r.out).toContain('[inferred] the credential came from header x-api-key');
  });

  it.each([
    [['-H', 'no-colon-here'], "-H \"no-colon-here\": write it as 'name: value'"],
    [['-H', 'bad name: x'], 'is not an HTTP header name'],
    [['--path', 'orders'], '--path "orders": must start with "/"'],
    [['--grpc', 'localhost'], '--grpc "localhost": write HOST:PORT'],
    [['--method', 'GE T'], 'not an HTTP method'],
    [['--bogus'], "Unknown option '--bogus'"],
  ])('%j: exit 2 and a message naming the option', async (args, message) => {
    const r = await check(...args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.out).toBe('');
  });

  it('--grpc overrides GRPC_PORT; a wildcard GRPC_HOST means this machine', async () => {
    expect((await cli(['check', '--grpc', `127.0.0.1:${t.grpcPort}`], { GRPC_PORT: '1' })).code).toBe(1);
    expect((await cli(['check'], { GRPC_HOST: '0.0.0.0', GRPC_PORT: String(t.grpcPort) })).code).toBe(1);
  });

  it('port unreachable: one line naming the address and GRPC_PORT, no stack trace, exit 3, within the deadline', async () => {
    const port = await freePort();
    const started = Date.now();
    const r = await promisify(execFile)(process.execPath, [resolve(ROOT, 'bin/consumer-authz'), 'check'], {
      env: { PATH: process.env.PATH ?? '', GRPC_PORT: String(port) },
    }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `consumer-authz check: cannot reach the gRPC port at 127.0.0.1:${port} (GRPC_HOST/GRPC_PORT): connect ECONNREFUSED 127.0.0.1:${port}; is the service running (npm start)?\n`,
    );
  });
});

describe('check: a port that accepts but never answers', () => {
  it('gives up at the 3 s deadline with one line naming the address; exit 3', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s)); // accepts, reads nothing, says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const r = await cli(['check', '--grpc', `127.0.0.1:${port}`], {});
      expect(Date.now() - started).toBeGreaterThanOrEqual(CHECK_DEADLINE_MS - 100);
      expect(Date.now() - started).toBeLessThan(CHECK_DEADLINE_MS + 2000);
      expect(r.code).toBe(3);
      expect(r.err).toBe(`consumer-authz check: no answer from the gRPC port at 127.0.0.1:${port} (--grpc) within 3 s\n`);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('check: no decision', () => {
  it('503 authz_unavailable while the store cannot be reached and the cache is cold: exit 3', async () => {
    const dead = await freePort();
    const config = loadConfig({ GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'silent', REDIS_URL: `redis://127.0.0.1:${dead}` });
    const app = await App.create({ config, logger: createLogger('silent') });
    const ports = await app.start();
    try {
      const r = await cli(['check', '-H', 'x-api-key: any-key-0123456789abcdef', '--explain'], {
        GRPC_PORT: String(ports.grpc),
        CONSUMER_AUTHZ_URL: `http://127.0.0.1:${ports.admin}`,
      });
      expect(r.code).toBe(3);
      expect(firstLine(r)).toBe('deny 503 authz_unavailable: Authorization is temporarily unavailable.');
      expect(r.out).toContain('retry-after: 1');
      expect(r.out).toMatch(/\[admin API\] \/readyz answers 503: \{"ready":false/);
    } finally {
      await app.stop();
    }
  });
});
