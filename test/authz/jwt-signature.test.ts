/**
 * verifySignature, the synchronous node:crypto check behind JWT Checks: a
 * genuine signature of every supported algorithm verifies; an altered one, a
 * wrong-length one, or one checked with another algorithm's key does not.
 */
import { CompactSign, generateKeyPair, generateSecret } from 'jose';
import { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/authz/jwt.js';

const ALGS = ['HS256', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

async function signed(alg: (typeof ALGS)[number]) {
  const pair =
    alg === 'HS256'
      ? { publicKey: await generateSecret('HS256', { extractable: true }), privateKey: undefined }
      : await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined, extractable: true });
  const signer = (pair.privateKey ?? pair.publicKey) as CryptoKey;
  const jws = await new CompactSign(new TextEncoder().encode('{"uid":"x"}')).setProtectedHeader({ alg }).sign(signer);
  const dot = jws.lastIndexOf('.');
  return { key: KeyObject.from(pair.publicKey as CryptoKey), input: jws.slice(0, dot), sig: Buffer.from(jws.slice(dot + 1), 'base64url') };
}

describe('verifySignature', () => {
  it.each(ALGS)('%s: genuine verifies; altered, truncated or extended does not', async (alg) => {
    const { key, input, sig } = await signed(alg);
    expect(verifySignature(alg, key, input, sig)).toBe(true);
    const altered = Buffer.from(sig);
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1;
    expect(verifySignature(alg, key, input, altered)).toBe(false);
    expect(verifySignature(alg, key, input, sig.subarray(0, sig.length - 1))).toBe(false);
    expect(verifySignature(alg, key, input, Buffer.concat([sig, Buffer.of(0)]))).toBe(false);
    expect(verifySignature(alg, key, `${input}x`, sig)).toBe(false);
    expect(verifySignature(alg, key, input, Buffer.alloc(0))).toBe(false);
  });

  it('a key of another kind never verifies (an RSA key for ES256, an EC key for RS256, a public key as an HMAC secret)', async () => {
    const rs = await signed('RS256');
    const es = await signed('ES256');
    const hs = await signed('HS256');
    expect(verifySignature('ES256', rs.key, es.input, es.sig)).toBe(false);
    expect(verifySignature('RS256', es.key, rs.input, rs.sig)).toBe(false);
    expect(verifySignature('HS256', rs.key, hs.input, hs.sig)).toBe(false);
    expect(verifySignature('EdDSA', es.key, es.input, es.sig)).toBe(false);
    expect(verifySignature('none', rs.key, rs.input, rs.sig)).toBe(false);
  });
});
