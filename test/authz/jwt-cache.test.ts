/**
 * The verified-token cache and per-version key import, with an injected clock:
 * a cached token is refused the moment its consumer or key changes, and never
 * accepted at or after its `exp`.
 */
import { describe, expect, it, vi } from 'vitest';
import { TokenCache } from '../../src/authz/token-cache.js';
import { keyPair } from '../helpers/fixtures.js';
import { bearer, harness, secs, sign } from '../helpers/jwt.js';

async function setup(opts: { clockSkewSeconds?: number } = {}) {
  const h = await harness();
  const kp = await keyPair('ES256');
  await h.service.create({
    name: 'c',
    auth: {
      type: 'jwt',
      keyType: 'asymmetric',
      jwks: { keys: [kp.publicJwk] },
      identity: { claim: 'sub', value: 'user-1' },
      claims: { clockSkewSeconds: opts.clockSkewSeconds ?? 0 },
    },
  });
  await h.sync();
  const exp = secs(h.clock.now) + 300;
  const token = await sign({ sub: 'user-1', exp }, kp.privateKey, { alg: 'ES256', kid: kp.kid });
  const reason = async (tk = token) => {
    const d = await h.check({ headers: bearer(tk) });
    return d.allow ? 'allow' : d.reason;
  };
  return { h, kp, exp, token, reason };
}

describe('verified-token cache', () => {
  it('a repeated token is answered from the cache, synchronously, without verifying again', async () => {
    const { h, token } = await setup();
    const first = h.authorizer.check({ id: '', method: 'GET', path: '/', route: '', headers: bearer(token) });
    expect(first).toBeInstanceOf(Promise);
    expect((await first).allow).toBe(true);
    expect(h.authorizer.cachedTokens).toBe(1);
    const before = h.authorizer.stats.signatureChecks;
    expect(before).toBe(1);
    const second = h.authorizer.check({ id: '', method: 'GET', path: '/', route: '', headers: bearer(token) });
    expect(second).not.toBeInstanceOf(Promise);
    expect((second as { allow: boolean }).allow).toBe(true);
    expect(h.authorizer.stats.signatureChecks).toBe(before);
  });

  it('a cached token is denied immediately after the consumer is disabled', async () => {
    const { h, reason } = await setup();
    expect(await reason()).toBe('allow');
    await h.service.update('c', { enabled: false });
    await h.sync();
    // The entry of the old version is gone; the token is verified again for the new one and refused.
    const before = h.authorizer.stats.signatureChecks;
    expect(await reason()).toBe('consumer_disabled');
    expect(h.authorizer.stats.signatureChecks).toBe(before + 1);
    await h.service.update('c', { enabled: true });
    await h.sync();
    expect(await reason()).toBe('allow');
  });

  it('a cached token is denied immediately after its key is removed', async () => {
    const { h, kp, reason } = await setup();
    expect(await reason()).toBe('allow');
    const other = await keyPair('ES384');
    await h.service.addKey('c', { jwk: other.publicJwk });
    await h.sync();
    expect(await reason()).toBe('allow'); // overlap: still good (verified again for the new version)
    await h.service.removeKey('c', kp.kid);
    await h.sync();
    expect(await reason()).toBe('invalid_credential');
  });

  it('a cached token is never accepted at or after exp (skew 0)', async () => {
    const { h, exp, reason } = await setup({ clockSkewSeconds: 0 });
    expect(await reason()).toBe('allow');
    h.clock.now = exp * 1000 - 1;
    expect(await reason()).toBe('allow');
    h.clock.now = exp * 1000;
    expect(await reason()).toBe('expired_credential');
    expect(h.authorizer.cachedTokens).toBe(0);
  });

  it('with a skew, the cache still stops at exp; verification then applies the skew', async () => {
    const { h, exp, reason } = await setup({ clockSkewSeconds: 60 });
    expect(await reason()).toBe('allow');
    h.clock.now = exp * 1000 + 30_000;
    const before = h.authorizer.stats.signatureChecks;
    expect(await reason()).toBe('allow');
    expect(h.authorizer.stats.signatureChecks).toBe(before + 1); // not from the cache
    h.clock.now = exp * 1000 + 60_000;
    expect(await reason()).toBe('expired_credential');
  });

  it('a deleted consumer drops its tokens', async () => {
    const { h, reason } = await setup();
    expect(await reason()).toBe('allow');
    await h.service.remove('c');
    await h.sync();
    expect(h.authorizer.cachedTokens).toBe(0);
    // Authorization is always read: a token nobody owns is an invalid credential.
    expect(await reason()).toBe('invalid_credential');
  });

  it('keys are imported once per record version', async () => {
    const { h, kp } = await setup();
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    for (let i = 0; i < 5; i++) {
      const tk = await sign({ sub: 'user-1', exp: secs(h.clock.now) + 60, n: i }, kp.privateKey, { alg: 'ES256', kid: kp.kid });
      expect((await h.check({ headers: bearer(tk) })).allow).toBe(true);
    }
    expect(importKey).toHaveBeenCalledTimes(1);
    importKey.mockRestore();
  });
});

describe('TokenCache (LRU)', () => {
  it('evicts the least recently used entry beyond its size', () => {
    const c = new TokenCache(2);
    const entry = (name: string) => ({ consumer: { record: { name } }, key: {}, expMs: Infinity, headers: [] }) as any;
    c.set('a', entry('x'));
    c.set('b', entry('y'));
    c.get('a');
    c.set('c', entry('x'));
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    expect(c.size).toBe(2);
    c.dropConsumer('x');
    expect(c.size).toBe(0);
  });
});
