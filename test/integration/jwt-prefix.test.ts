/**
 * The JWT token prefix rule: a prefix is a word followed by exactly one space
 * before the token, as in "Bearer <token>". `"Token"` and `"Token "` are the
 * same prefix (before, a prefix without its space silently never matched);
 * a blank prefix means the raw token. Through the admin API and the CLI, to
 * the real gRPC server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { denyCode, header, httpStatus } from '../helpers/envoy.js';
import { hs256Secret, sign } from '../helpers/jwt.js';

let t: TestApp;
const exp = () => Math.floor(Date.now() / 1000) + 600;

beforeAll(async () => {
  t = await startApp();
});

afterAll(async () => {
  await t.stop();
});

async function consumer(name: string, token: Record<string, unknown>): Promise<{ prefix: string; jwt: string }> {
  const res = await t.admin('POST', '/v1/consumers', { name, auth: { type: 'jwt', keyType: 'symmetric', token, identity: { value: `${name}-uid` } } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const jwt = await sign({ uid: `${name}-uid`, exp: exp() }, hs256Secret(res.body.jwks), { alg: 'HS256' });
  return { prefix: res.body.consumer.auth.token.prefix, jwt };
}

const as = async (headers: Record<string, string>) => {
  const res = await t.envoy.check({ headers });
  return httpStatus(res) === 200 ? `allow ${header(res.ok_response?.headers, 'x-consumer-name')}` : denyCode(res);
};

describe('token prefix', () => {
  it.each([
    ['Token', 'p-bare'],
    ['Token ', 'p-space'],
    ['  Token   ', 'p-padded'],
  ])('prefix %j is stored as "Token " and matches "Token <jwt>" only', async (prefix, name) => {
    const c = await consumer(name, { in: 'header', name: 'x-token', prefix });
    expect(c.prefix).toBe('Token ');
    expect(await as({ 'x-token': `Token ${c.jwt}` })).toBe(`allow ${name}`);
    expect(await as({ 'x-token': `token ${c.jwt}` })).toBe(`allow ${name}`); // case-insensitive, like Bearer
    // The nearest values that must not match: no space, two spaces, no prefix.
    expect(await as({ 'x-token': `Token${c.jwt}` })).toBe('invalid_credential');
    expect(await as({ 'x-token': `Token  ${c.jwt}` })).toBe('invalid_credential');
    expect(await as({ 'x-token': c.jwt })).toBe('invalid_credential');
  });

  it('on the Authorization header, "Bearer" without its space is "Bearer "', async () => {
    const c = await consumer('p-bearer', { in: 'header', name: 'authorization', prefix: 'Bearer' });
    expect(c.prefix).toBe('Bearer ');
    expect(await as({ authorization: `Bearer ${c.jwt}` })).toBe('allow p-bearer');
  });

  it.each([
    ['', 'p-empty'],
    ['   ', 'p-blank'],
  ])('a blank prefix %j means the raw token', async (prefix, name) => {
    const c = await consumer(name, { in: 'header', name: `x-raw-${name}`, prefix });
    expect(c.prefix).toBe('');
    expect(await as({ [`x-raw-${name}`]: c.jwt })).toBe(`allow ${name}`);
    expect(await as({ [`x-raw-${name}`]: `Token ${c.jwt}` })).toBe('invalid_credential');
  });

  it('the CLI: --prefix Token and --prefix "Token " create the same consumer', async () => {
    const url = `http://127.0.0.1:${t.adminPort}`;
    for (const [name, prefix] of [['p-cli-bare', 'Token'], ['p-cli-space', 'Token ']] as const) {
      let out = '';
      let err = '';
      const code = await runCli(['consumers', 'create', name, '--jwt', 'symmetric', '--token', `header:x-cli-${name}`, '--prefix', prefix, '--json'], {
        stdout: (s) => (out += s),
        stderr: (s) => (err += s),
        env: { CONSUMER_AUTHZ_URL: url },
      });
      expect(code, err).toBe(0);
      const res = JSON.parse(out);
      expect(res.consumer.auth.token.prefix).toBe('Token ');
      const jwt = await sign({ uid: res.consumer.auth.identity.value, exp: exp() }, hs256Secret(res.jwks), { alg: 'HS256' });
      expect(await as({ [`x-cli-${name}`]: `Token ${jwt}` })).toBe(`allow ${name}`);
    }
  });
});
