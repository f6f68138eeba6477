/** `consumer-authz tokens new`, in process: the token once, the file entry with its hash only. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { hashAdminToken, parseAdminTokens } from '../../src/config/admin-tokens.js';

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
