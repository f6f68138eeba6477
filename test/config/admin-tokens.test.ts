/** The admin tokens file format (config/admin-tokens.ts): what it reads, what it refuses, and generated tokens. */
import { describe, expect, it } from 'vitest';
import { generateAdminToken, hashAdminToken, parseAdminTokens } from '../../src/config/admin-tokens.js';

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

describe('generateAdminToken', () => {
  it('generated tokens are long, prefixed and distinct', () => {
    const a = generateAdminToken();
    expect(a).toMatch(/^cat_[A-Za-z0-9_-]{32}$/);
    expect(generateAdminToken()).not.toBe(a);
  });
});
