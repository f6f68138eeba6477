/** Verification of presented admin tokens (scopes), and the admin server's refusal to listen open on a public address. */
import { describe, expect, it } from 'vitest';
import { AdminTokens } from '../../src/admin/tokens.js';
import { hashAdminToken } from '../../src/config/admin-tokens.js';

const H = hashAdminToken('the-ci-token-000000');

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
