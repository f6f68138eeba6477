/** The tokens file format, scopes, and verification of presented tokens. */
import { describe, expect, it } from 'vitest';
import { AdminTokens } from '../../src/admin/tokens.js';
import { generateAdminToken, hashAdminToken, parseAdminTokens } from '../../src/config/admin-tokens.js';
import { runCli } from '../../src/cli/cli.js';

const H = hashAdminToken('the-ci-token-000000');

describe('parseAdminTokens', () => {
  it('reads a JSON list, a YAML list or {tokens: [...]}; scope defaults to read-only', () => {
    const json = parseAdminTokens(JSON.stringify([{ name: 'ci', sha256: H.toUpperCase(), scope: 'read-write' }]));
    expect(json).toEqual([{ name: 'ci', sha256: H, scope: 'read-write' }]);
    expect(parseAdminTokens(`tokens:\n  - name: grafana\n    sha256: ${H}\n`)).toEqual([{ name: 'grafana', sha256: H, scope: 'read-only' }]);
  });

  it.each([
    ['{', /not valid JSON or YAML/],
    ['"x"', /must be a list/],
    [JSON.stringify([{ name: 'ci', token: 'plaintext-token-0000', scope: 'read-write' }]), /plaintext "token".*sha256/],
    [JSON.stringify([{ name: 'ci', sha256: 'abc' }]), /entry 0 \(ci\): "sha256" must be 64 hex/],
    [JSON.stringify([{ name: 'c i', sha256: H }]), /entry 0: "name"/],
    [JSON.stringify([{ name: 'admin', sha256: H }]), /reserved/],
    [JSON.stringify([{ name: 'ci', sha256: H, scope: 'root' }]), /"scope" must be read-only or read-write/],
    [JSON.stringify([{ name: 'ci', sha256: H }, { name: 'ci', sha256: hashAdminToken('other-token-0000') }]), /entry 1: the name "ci" appears twice/],
    [JSON.stringify([{ name: 'a', sha256: H }, { name: 'b', sha256: H }]), /entry 1 \(b\): the same token is listed twice/],
    [JSON.stringify([{ name: 'a', sha256: H, extra: 1 }]), /unknown field "extra"/],
  ])('refuses %s', (text, message) => {
    expect(() => parseAdminTokens(text)).toThrow(message);
  });
});

describe('AdminTokens', () => {
  it('maps a presented token to its name and scope; anything else to undefined', () => {
    const tokens = new AdminTokens([
      { name: 'ci', sha256: H, scope: 'read-write' },
      { name: 'viewer', sha256: hashAdminToken('viewer-token-000000'), scope: 'read-only' },
    ]);
    expect(tokens.required).toBe(true);
    expect(tokens.verify('the-ci-token-000000')).toEqual({ name: 'ci', scope: 'read-write' });
    expect(tokens.verify('viewer-token-000000')).toEqual({ name: 'viewer', scope: 'read-only' });
    expect(tokens.verify('the-ci-token-000001')).toBeUndefined();
    expect(tokens.verify('')).toBeUndefined();
    expect(new AdminTokens([]).required).toBe(false);
  });

  it('generated tokens are long, prefixed and distinct', () => {
    const a = generateAdminToken();
    expect(a).toMatch(/^cat_[A-Za-z0-9_-]{32}$/);
    expect(generateAdminToken()).not.toBe(a);
  });
});

describe('consumer-authz tokens new', () => {
  it('prints a token once and a file entry holding only its SHA-256', async () => {
    let out = '';
    const code = await runCli(['tokens', 'new', 'grafana', '--scope', 'read-only', '--json'], { stdout: (s) => (out += s), stderr: (s) => (out += s), env: {} });
    expect(code).toBe(0);
    const res = JSON.parse(out) as { token: string; entry: { name: string; sha256: string; scope: string } };
    expect(res.entry).toEqual({ name: 'grafana', sha256: hashAdminToken(res.token), scope: 'read-only' });
    expect(parseAdminTokens(JSON.stringify([res.entry]))).toHaveLength(1);
    expect(await runCli(['tokens', 'new', 'x', '--scope', 'root'], { stdout: () => {}, stderr: () => {}, env: {} })).toBe(2);
  });
});

describe('AdminServer', () => {
  it('refuses to listen on a non-loopback address without a token', async () => {
    const { AdminServer } = await import('../../src/admin/http.js');
    const { createLogger } = await import('../../src/log.js');
    const server = new AdminServer({
      service: {} as never,
      logger: createLogger('silent'),
      tokens: new AdminTokens([]),
      readiness: () => ({ ready: true }),
    });
    await expect(server.listen('0.0.0.0', 0)).rejects.toThrow(/will not listen on 0\.0\.0\.0 without a token/);
    const port = await server.listen('127.0.0.1', 0);
    expect(port).toBeGreaterThan(0);
    await server.close();
  });
});
