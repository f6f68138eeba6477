/**
 * Hostile tokens, driven through the Authorizer directly (the transport-free
 * core). Each must be refused with the right reason, without a network call.
 */
import { createPublicKey } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  b64,
  bearer,
  harness,
  hmacSigner,
  hs256Secret,
  rawToken,
  secs,
  sign,
  type Harness,
} from '../helpers/jwt.js';
import { keyPair, type TestKeyPair } from '../helpers/fixtures.js';

let h: Harness;
let symSecret: Buffer;
let symKid: string;
let bSecret: Buffer;
let rsa: TestKeyPair;
let ec: TestKeyPair;
let exp: number;

const spies: Array<{ mock: { calls: unknown[] } }> = [];

beforeAll(async () => {
  h = await harness();
  exp = secs(h.clock.now) + 600;
  const sym = await h.service.create({ name: 'sym', auth: { type: 'jwt', keyType: 'symmetric', identity: { value: 'sym-uid' } } });
  const jwks = (sym as { jwks: { keys: Array<{ k: string; kid: string }> } }).jwks;
  symSecret = hs256Secret(jwks);
  symKid = jwks.keys[0]!.kid;
  const b = await h.service.create({ name: 'b', auth: { type: 'jwt', keyType: 'symmetric', identity: { value: 'b-uid' } } });
  bSecret = hs256Secret((b as { jwks: { keys: Array<{ k: string }> } }).jwks);
  rsa = await keyPair('RS256');
  ec = await keyPair('ES256');
  await h.service.create({
    name: 'rsa',
    auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [rsa.publicJwk] }, identity: { value: 'rsa-uid' } },
  });
  await h.service.create({
    name: 'ec',
    auth: {
      type: 'jwt',
      keyType: 'asymmetric',
      jwks: { keys: [ec.publicJwk] },
      identity: { value: 'ec-uid' },
      claims: { issuer: 'https://issuer.example', audience: 'api' },
    },
  });
  await h.sync();
  // No outbound connection may ever be made while verifying tokens.
  spies.push(
    vi.spyOn(globalThis, 'fetch'),
    vi.spyOn(net, 'connect'),
    vi.spyOn(net, 'createConnection'),
    vi.spyOn(tls, 'connect'),
    vi.spyOn(http, 'request'),
    vi.spyOn(http, 'get'),
    vi.spyOn(https, 'request'),
    vi.spyOn(https, 'get'),
  );
});

afterAll(() => {
  for (const s of spies) expect(s.mock.calls).toHaveLength(0);
  vi.restoreAllMocks();
});

async function reason(token: string): Promise<string> {
  const d = await h.check({ headers: bearer(token) });
  return d.allow ? 'allow' : d.reason;
}

const symPayload = () => ({ uid: 'sym-uid', exp });
const symToken = (header: object, payload: object | string = symPayload()) => rawToken(header, payload, hmacSigner(symSecret));

describe('sanity: the honest tokens are accepted', () => {
  it('symmetric, RSA and EC consumers', async () => {
    expect(await reason(await sign(symPayload(), symSecret, { alg: 'HS256', kid: symKid }))).toBe('allow');
    expect(await reason(symToken({ alg: 'HS256' }))).toBe('allow'); // no kid: the consumer's HS256 keys are tried
    expect(await reason(await sign({ uid: 'rsa-uid', exp }, rsa.privateKey, { alg: 'RS256', kid: rsa.kid }))).toBe('allow');
    const ecClaims = { uid: 'ec-uid', exp, iss: 'https://issuer.example', aud: ['other', 'api'] };
    expect(await reason(await sign(ecClaims, ec.privateKey, { alg: 'ES256', kid: ec.kid }))).toBe('allow');
  });
});

describe('algorithm confusion', () => {
  it('alg "none" (empty and non-empty signature, any case)', async () => {
    const p = b64(JSON.stringify(symPayload()));
    expect(await reason(`${b64('{"alg":"none"}')}.${p}.`)).toBe('invalid_credential');
    expect(await reason(`${b64('{"alg":"none"}')}.${p}.AAAA`)).toBe('invalid_credential');
    expect(await reason(`${b64('{"alg":"None","typ":"JWT"}')}.${p}.`)).toBe('invalid_credential');
  });

  it('HS256 signed with the RSA or EC public key as the HMAC secret', async () => {
    const pem = createPublicKey({ key: rsa.publicJwk as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const rsaToken = rawToken({ alg: 'HS256', kid: rsa.kid }, { uid: 'rsa-uid', exp }, hmacSigner(pem as string));
    expect(await reason(rsaToken)).toBe('invalid_credential');
    const rsaNoKid = rawToken({ alg: 'HS256' }, { uid: 'rsa-uid', exp }, hmacSigner(pem as string));
    expect(await reason(rsaNoKid)).toBe('invalid_credential');
    const ecJson = JSON.stringify(ec.publicJwk);
    const ecToken = rawToken({ alg: 'HS256', kid: ec.kid }, { uid: 'ec-uid', exp, iss: 'https://issuer.example', aud: 'api' }, hmacSigner(ecJson));
    expect(await reason(ecToken)).toBe('invalid_credential');
  });

  it('an algorithm the key does not allow (PS256 with an RS256 key, HS512 with an HS256 key)', async () => {
    const ps = await sign({ uid: 'rsa-uid', exp }, rsa.privateKey, { alg: 'PS256', kid: rsa.kid }).catch(async () => {
      // jose binds a CryptoKey to its algorithm: re-import the same key material for PS256.
      const { exportJWK, importJWK } = await import('jose');
      const jwk = await exportJWK(rsa.privateKey);
      return sign({ uid: 'rsa-uid', exp }, (await importJWK({ ...jwk, alg: 'PS256' }, 'PS256')) as CryptoKey, { alg: 'PS256', kid: rsa.kid });
    });
    expect(await reason(ps)).toBe('invalid_credential');
    expect(await reason(await sign(symPayload(), symSecret, { alg: 'HS512', kid: symKid }))).toBe('invalid_credential');
  });
});

describe('kid and key references', () => {
  it.each([
    ['path traversal', '../../../../etc/passwd'],
    ['SQL', "x' OR '1'='1' --"],
    ['a URL', 'https://attacker.example/jwks.json'],
    ['an unknown id', 'no-such-kid'],
    ['10 KB', 'k'.repeat(10 * 1024)],
    ['__proto__', '__proto__'],
  ])('kid with %s', async (_what, kid) => {
    expect(await reason(symToken({ alg: 'HS256', kid }))).toBe('invalid_credential');
  });

  it('kid that is not a string', async () => {
    expect(await reason(symToken({ alg: 'HS256', kid: 42 }))).toBe('invalid_credential');
  });

  it('jku, x5u, jwk and x5c headers are refused and never fetched', async () => {
    const attacker = await keyPair('RS256', 'attacker');
    for (const extra of [
      { jku: 'http://127.0.0.1:1/jwks.json' },
      { x5u: 'https://attacker.example/cert.pem' },
      { jwk: attacker.publicJwk },
      { x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] },
    ]) {
      const byAttacker = await sign({ uid: 'rsa-uid', exp }, attacker.privateKey, { alg: 'RS256', ...extra });
      expect(await reason(byAttacker)).toBe('invalid_credential');
      // Even correctly signed, a token carrying a key reference is refused.
      expect(await reason(symToken({ alg: 'HS256', kid: symKid, ...extra }))).toBe('invalid_credential');
    }
  });

  it('unknown crit, and b64:false', async () => {
    expect(await reason(symToken({ alg: 'HS256', kid: symKid, crit: ['http://example.com/ext'], 'http://example.com/ext': 1 }))).toBe(
      'invalid_credential',
    );
    expect(await reason(symToken({ alg: 'HS256', kid: symKid, crit: ['exp'] }))).toBe('invalid_credential');
    expect(await reason(symToken({ alg: 'HS256', kid: symKid, b64: false, crit: ['b64'] }))).toBe('invalid_credential');
    expect(await reason(symToken({ alg: 'HS256', kid: symKid, b64: false }))).toBe('invalid_credential');
  });
});

describe('structure and signature', () => {
  it('stripped, truncated and altered signatures', async () => {
    const good = symToken({ alg: 'HS256', kid: symKid });
    const [hd, pl, sig] = good.split('.') as [string, string, string];
    expect(await reason(`${hd}.${pl}.`)).toBe('invalid_credential');
    expect(await reason(`${hd}.${pl}`)).toBe('invalid_credential');
    expect(await reason(`${hd}.${pl}.${sig.slice(0, -4)}`)).toBe('invalid_credential');
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    expect(await reason(`${hd}.${pl}.${flip(sig, 10)}`)).toBe('invalid_credential');
    // The last character of a 32-byte signature carries padding bits: a change there must not slip through.
    expect(await reason(`${hd}.${pl}.${flip(sig, sig.length - 1)}`)).toBe('invalid_credential');
    expect(await reason(`${hd}.${pl}.${sig}`)).toBe('allow');
  });

  it('altered payload or header with the original signature', async () => {
    const good = symToken({ alg: 'HS256', kid: symKid });
    const [hd, , sig] = good.split('.') as [string, string, string];
    const other = b64(JSON.stringify({ uid: 'sym-uid', exp: exp + 100000 }));
    expect(await reason(`${hd}.${other}.${sig}`)).toBe('invalid_credential');
  });

  it('2, 4 and 5 (JWE) segments', async () => {
    const good = symToken({ alg: 'HS256', kid: symKid });
    const [hd, pl, sig] = good.split('.') as [string, string, string];
    expect(await reason(`${hd}.${pl}`)).toBe('invalid_credential');
    expect(await reason(`${hd}.${pl}.${sig}.${sig}`)).toBe('invalid_credential');
    const jwe = `${b64('{"alg":"dir","enc":"A256GCM"}')}..${b64('iv-iv-iv-iv')}.${b64('ciphertext')}.${b64('tag-tag-tag-tag')}`;
    expect(await reason(jwe)).toBe('invalid_credential');
  });

  it('a token over 8 KB', async () => {
    const big = symToken({ alg: 'HS256', kid: symKid }, { ...symPayload(), pad: 'x'.repeat(9000) });
    expect(big.length).toBeGreaterThan(8192);
    expect(await reason(big)).toBe('invalid_credential');
  });

  it('header or payload that is not a JSON object', async () => {
    expect(await reason(symToken({ alg: 'HS256' }, '"sym-uid"'))).toBe('invalid_credential');
    expect(await reason(rawToken('[1]', symPayload(), hmacSigner(symSecret)))).toBe('invalid_credential');
    expect(await reason(rawToken('{"alg":"HS256"', symPayload(), hmacSigner(symSecret)))).toBe('invalid_credential');
  });
});

describe('claims', () => {
  const at = (payload: object) => symToken({ alg: 'HS256', kid: symKid }, payload);

  it('expired → expired_credential (after the 60 s skew, not before)', async () => {
    const now = secs(h.clock.now);
    expect(await reason(at({ uid: 'sym-uid', exp: now - 61 }))).toBe('expired_credential');
    expect(await reason(at({ uid: 'sym-uid', exp: now - 30 }))).toBe('allow');
  });

  it('not yet valid (nbf) and issued in the future (iat) → expired_credential', async () => {
    const now = secs(h.clock.now);
    expect(await reason(at({ uid: 'sym-uid', exp, nbf: now + 120 }))).toBe('expired_credential');
    expect(await reason(at({ uid: 'sym-uid', exp, iat: now + 120 }))).toBe('expired_credential');
    expect(await reason(at({ uid: 'sym-uid', exp, nbf: now + 30, iat: now + 30 }))).toBe('allow');
  });

  it('missing exp, or a time claim that is not a number → invalid_credential', async () => {
    expect(await reason(at({ uid: 'sym-uid' }))).toBe('invalid_credential');
    expect(await reason(at({ uid: 'sym-uid', exp: String(exp) }))).toBe('invalid_credential');
    expect(await reason(at({ uid: 'sym-uid', exp, nbf: 'now' }))).toBe('invalid_credential');
  });

  it('an expired forged token is invalid, not expired (the signature is checked first)', async () => {
    const forged = rawToken({ alg: 'HS256', kid: symKid }, { uid: 'sym-uid', exp: 1 }, hmacSigner('guess'));
    expect(await reason(forged)).toBe('invalid_credential');
  });

  it('wrong iss or aud → invalid_credential', async () => {
    const ok = { uid: 'ec-uid', exp, iss: 'https://issuer.example', aud: 'api' };
    const t = (p: Record<string, unknown>) => sign(p, ec.privateKey, { alg: 'ES256', kid: ec.kid });
    expect(await reason(await t(ok))).toBe('allow');
    expect(await reason(await t({ ...ok, iss: 'https://evil.example' }))).toBe('invalid_credential');
    expect(await reason(await t({ ...ok, iss: undefined }))).toBe('invalid_credential');
    expect(await reason(await t({ ...ok, aud: 'other' }))).toBe('invalid_credential');
    expect(await reason(await t({ ...ok, aud: ['a', 'b'] }))).toBe('invalid_credential');
  });
});

describe('identity', () => {
  it("a token signed with consumer b's key naming consumer sym", async () => {
    const t = rawToken({ alg: 'HS256' }, symPayload(), hmacSigner(bSecret));
    expect(await reason(t)).toBe('invalid_credential');
    const t2 = await sign({ uid: 'rsa-uid', exp }, ec.privateKey, { alg: 'ES256', kid: ec.kid });
    expect(await reason(t2)).toBe('invalid_credential');
  });

  it('identity claim as a number or an array, or absent', async () => {
    expect(await reason(symToken({ alg: 'HS256' }, { uid: 12345, exp }))).toBe('invalid_credential');
    expect(await reason(symToken({ alg: 'HS256' }, { uid: ['sym-uid'], exp }))).toBe('invalid_credential');
    expect(await reason(symToken({ alg: 'HS256' }, { sub: 'sym-uid', exp }))).toBe('invalid_credential');
  });

  it('duplicated member names in payload or header are refused, not resolved', async () => {
    const dup = `{"uid":"b-uid","uid":"sym-uid","exp":${exp}}`;
    expect(await reason(symToken({ alg: 'HS256' }, dup))).toBe('invalid_credential');
    const escaped = `{"uid":"sym-uid","u\\u0069d":"sym-uid","exp":${exp}}`;
    expect(await reason(symToken({ alg: 'HS256' }, escaped))).toBe('invalid_credential');
    const nested = `{"uid":"sym-uid","exp":${exp},"x":{"a":1,"a":2}}`;
    expect(await reason(symToken({ alg: 'HS256' }, nested))).toBe('invalid_credential');
    const hdr = rawToken(`{"alg":"HS256","alg":"none"}`, symPayload(), hmacSigner(symSecret));
    expect(await reason(hdr)).toBe('invalid_credential');
    // The same names in sibling objects are fine.
    const siblings = `{"uid":"sym-uid","exp":${exp},"a":{"k":1},"b":{"k":2}}`;
    expect(await reason(symToken({ alg: 'HS256' }, siblings))).toBe('allow');
  });

  it('a payload naming two consumers through two identity claims is refused, not resolved', async () => {
    await h.service.create({ name: 'by-sub', auth: { type: 'jwt', keyType: 'symmetric', identity: { claim: 'sub', value: 'shared-sub' } } });
    await h.sync();
    const t = symToken({ alg: 'HS256', kid: symKid }, { uid: 'sym-uid', sub: 'shared-sub', exp });
    expect(await reason(t)).toBe('invalid_credential');
    await h.service.remove('by-sub');
    await h.sync();
    expect(await reason(t)).toBe('allow');
  });

  it('an unknown identity value is invalid_credential (authoritative replica) or 503 (not in step)', async () => {
    const t = symToken({ alg: 'HS256' }, { uid: 'nobody', exp });
    expect(await reason(t)).toBe('invalid_credential');
    h.replica.authoritative = false;
    try {
      expect(await reason(t)).toBe('authz_unavailable');
    } finally {
      h.replica.authoritative = true;
    }
  });
});

describe('cost', () => {
  it('a burst of forged tokens is refused quickly and the service keeps answering', async () => {
    const started = performance.now();
    const all = await Promise.all(
      Array.from({ length: 300 }, (_, i) => reason(rawToken({ alg: 'HS256' }, { uid: 'sym-uid', exp, n: i }, hmacSigner('x')))),
    );
    expect(new Set(all)).toEqual(new Set(['invalid_credential']));
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await reason(symToken({ alg: 'HS256', kid: symKid }))).toBe('allow');
  });
});
