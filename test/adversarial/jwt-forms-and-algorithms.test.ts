/**
 * Attack class: JWT forms and algorithms. Signatures in forms other than the
 * one canonical JWS form (ECDSA DER, zero or out-of-range r/s, wrong lengths;
 * RSA signatures not of modulus length or not below the modulus; EdDSA with
 * a small-order R or S >= L), non-canonical base64url in any segment, header
 * or payload bytes that are not UTF-8, algorithm confusion, JWE and other
 * compact shapes.
 *
 * Decision recorded here: an ECDSA high-S signature (s > n/2) is ALLOWED. It
 * is the mirror of a valid signature, valid ECDSA, and JWS (RFC 7518 §3.4)
 * does not require low S; malleability yields the same claims under another
 * signature, not a forgery, and nothing here is keyed by signature bytes alone.
 */
import { createHmac, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ED_L,
  SMALL_ORDER,
  b64u,
  edEncode,
  edSigner,
  expectAllow,
  expectDeny,
  expectGrpcAllow,
  expectGrpcDeny,
  jws,
  nonCanonicalForms,
  withSegment,
} from '../helpers/adversary.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { bearer, harness, secs, type Harness } from '../helpers/jwt.js';

const N256 = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const N384 = 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;

let h: Harness;
let exp: number;
let hsSecret: Buffer;
const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const es384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');

function jwkOf(k: KeyObject, kid: string, alg?: string): Record<string, unknown> {
  return { ...k.export({ format: 'jwk' }), kid, ...(alg ? { alg } : {}) };
}

const hex = (n: bigint, bytes: number) => Buffer.from(n.toString(16).padStart(bytes * 2, '0'), 'hex');
const num = (b: Buffer) => BigInt(`0x${b.toString('hex') || '0'}`);

function ecSign(input: string, key: KeyObject, digest: string): Buffer {
  return nodeSign(digest, Buffer.from(input, 'latin1'), { key, dsaEncoding: 'ieee-p1363' });
}
function hsSign(input: string): Buffer {
  return createHmac('sha256', hsSecret).update(input).digest();
}

beforeAll(async () => {
  h = await harness();
  exp = secs(h.clock.now) + 600;
  const create = (name: string, keys: unknown[]) =>
    h.service.create({ name, auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys }, identity: { value: `${name}-uid` } } });
  await create('es256', [jwkOf(es256.publicKey, 'e1')]);
  await create('es384', [jwkOf(es384.publicKey, 'e3')]);
  await create('rs', [jwkOf(rsa.publicKey, 'r1', 'RS256')]);
  await create('ps', [jwkOf(rsa.publicKey, 'p1', 'PS256')]);
  await create('ed', [jwkOf(ed.publicKey, 'd1')]);
  const sym = (await h.service.create({ name: 'hs', auth: { type: 'jwt', keyType: 'symmetric', identity: { value: 'hs-uid' } } })) as {
    jwks: { keys: Array<{ k: string }> };
  };
  hsSecret = Buffer.from(sym.jwks.keys[0]!.k, 'base64url');
  await h.sync();
});

const check = (token: string) => h.check({ headers: bearer(token) });
const claims = (name: string) => ({ uid: `${name}-uid`, exp });
/** The token with its signature replaced. */
const resigned = (token: string, sig: Buffer) => withSegment(token, 2, sig.toString('base64url'));

describe('ECDSA', () => {
  const t256 = () => jws({ alg: 'ES256', kid: 'e1' }, claims('es256'), (i) => ecSign(i, es256.privateKey, 'sha256'));
  const sig = (token: string) => Buffer.from(token.split('.')[2] as string, 'base64url');

  it('honest ES256 and ES384 tokens are allowed', async () => {
    expectAllow(await check(t256()), 'es256');
    expectAllow(await check(jws({ alg: 'ES384', kid: 'e3' }, claims('es384'), (i) => ecSign(i, es384.privateKey, 'sha384'))), 'es384');
  });

  it('high-S (s → n - s) is allowed: a valid signature (the documented decision)', async () => {
    const t = t256();
    const s = sig(t);
    const high = Buffer.concat([s.subarray(0, 32), hex(N256 - num(s.subarray(32)), 32)]);
    expectAllow(await check(resigned(t, high)), 'es256');
  });

  it('the same signature in DER form is refused (JWS uses raw r||s)', async () => {
    const t = t256();
    const input = t.slice(0, t.lastIndexOf('.'));
    const der = nodeSign('sha256', Buffer.from(input, 'latin1'), { key: es256.privateKey, dsaEncoding: 'der' });
    expect(der[0]).toBe(0x30);
    expectDeny(await check(resigned(t, der)), 'invalid_credential');
  });

  it('r = 0, s = 0, r = n, s = n, both zero: refused', async () => {
    const t = t256();
    const s = sig(t);
    const [r, ss] = [s.subarray(0, 32), s.subarray(32)];
    for (const bad of [
      Buffer.concat([Buffer.alloc(32), ss]),
      Buffer.concat([r, Buffer.alloc(32)]),
      Buffer.alloc(64),
      Buffer.concat([hex(N256, 32), ss]),
      Buffer.concat([r, hex(N256, 32)]),
      Buffer.concat([r, hex(N256 + num(ss) < 1n << 256n ? N256 + num(ss) : N256 + 1n, 32)]),
    ]) {
      expectDeny(await check(resigned(t, bad)), 'invalid_credential');
    }
  });

  it('wrong lengths: 63, 65 (a zero octet in front), 96 (ES384 size on an ES256 key), empty', async () => {
    const t = t256();
    const s = sig(t);
    for (const bad of [s.subarray(1), Buffer.concat([Buffer.from([0]), s]), Buffer.concat([s, Buffer.alloc(32)])]) {
      expectDeny(await check(resigned(t, bad)), 'invalid_credential');
    }
    expectDeny(await check(`${t.slice(0, t.lastIndexOf('.'))}.`), 'invalid_credential');
  });

  it('ES384: s = n384 and the ES256-signed token with alg ES384 are refused', async () => {
    const t = jws({ alg: 'ES384', kid: 'e3' }, claims('es384'), (i) => ecSign(i, es384.privateKey, 'sha384'));
    const s = sig(t);
    expectDeny(await check(resigned(t, Buffer.concat([s.subarray(0, 48), hex(N384, 48)]))), 'invalid_credential');
    const cross = jws({ alg: 'ES384', kid: 'e3' }, claims('es384'), (i) => ecSign(i, es256.privateKey, 'sha256'));
    expectDeny(await check(cross), 'invalid_credential');
  });
});

describe('RSA', () => {
  const rs = () => jws({ alg: 'RS256', kid: 'r1' }, claims('rs'), (i) => nodeSign('sha256', Buffer.from(i, 'latin1'), rsa.privateKey));
  const n = num(Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n as string, 'base64url'));

  it('an honest RS256 token is allowed', async () => {
    expectAllow(await check(rs()), 'rs');
  });

  it('signatures not of modulus length: a zero octet in front, one byte cut, doubled', async () => {
    const t = rs();
    const s = Buffer.from(t.split('.')[2] as string, 'base64url');
    expect(s.length).toBe(256);
    for (const bad of [Buffer.concat([Buffer.from([0]), s]), s.subarray(1), Buffer.concat([s, s])]) {
      expectDeny(await check(resigned(t, bad)), 'invalid_credential');
    }
  });

  it('signature values 0, 1, n - 1, n, s + n (when it fits): refused', async () => {
    const t = rs();
    const s = num(Buffer.from(t.split('.')[2] as string, 'base64url'));
    const values = [0n, 1n, n - 1n, n];
    if (s + n < 1n << 2048n) values.push(s + n);
    for (const v of values) expectDeny(await check(resigned(t, hex(v, 256))), 'invalid_credential');
  });

  it('PS256 with the RS256-bound key, RS256 with the PS256-bound key: refused', async () => {
    const pss = (i: string) => nodeSign('sha256', Buffer.from(i, 'latin1'), { key: rsa.privateKey, padding: 6, saltLength: 32 });
    expectAllow(await check(jws({ alg: 'PS256', kid: 'p1' }, claims('ps'), pss)), 'ps');
    expectDeny(await check(jws({ alg: 'PS256', kid: 'r1' }, claims('rs'), pss)), 'invalid_credential');
    expectDeny(
      await check(jws({ alg: 'RS256', kid: 'p1' }, claims('ps'), (i) => nodeSign('sha256', Buffer.from(i, 'latin1'), rsa.privateKey))),
      'invalid_credential',
    );
  });
});

describe('EdDSA signatures', () => {
  const t = () => jws({ alg: 'EdDSA', kid: 'd1' }, claims('ed'), edSigner(ed.privateKey));

  it('honest allowed; 63 / 65 bytes, S >= L, S = L, small-order R: refused', async () => {
    const token = t();
    expectAllow(await check(token), 'ed');
    const s = Buffer.from(token.split('.')[2] as string, 'base64url');
    let sv = 0n;
    for (let i = 63; i >= 32; i--) sv = (sv << 8n) | BigInt(s[i] as number);
    for (const bad of [
      s.subarray(1),
      Buffer.concat([s, Buffer.from([0])]),
      Buffer.concat([s.subarray(0, 32), edEncode(sv + ED_L)]),
      Buffer.concat([s.subarray(0, 32), edEncode(ED_L)]),
      ...SMALL_ORDER.map(([, r]) => Buffer.concat([r, s.subarray(32)])),
    ]) {
      expectDeny(await check(resigned(token, bad)), 'invalid_credential');
    }
  });
});

describe('non-canonical base64url in any segment', () => {
  const token = () => jws({ alg: 'HS256' }, { ...claims('hs'), pad: 'x' }, hsSign);
  it('the honest token is allowed', async () => {
    expectAllow(await check(token()), 'hs');
  });
  for (const [index, segment] of [[0, 'header'], [1, 'payload'], [2, 'signature']] as const) {
    it(`${segment}: padded, '+'/'/', non-zero unused bits, whitespace`, async () => {
      // Find a token whose segment has unused bits and a '-' or '_' (vary a claim until it does).
      let tk = token();
      for (let i = 0; i < 200; i++) {
        const seg = tk.split('.')[index] as string;
        if (seg.length % 4 !== 0 && /[-_]/.test(seg)) break;
        tk = jws({ alg: 'HS256', ...(index === 0 ? { typ: 'x'.repeat(i % 5), cty: `c${i}` } : {}) }, { ...claims('hs'), pad: 'x'.repeat(i) }, hsSign);
      }
      const seg = tk.split('.')[index] as string;
      const forms = nonCanonicalForms(seg);
      expect(forms.length).toBeGreaterThanOrEqual(3);
      for (const [label, text] of forms) {
        const bad = withSegment(tk, index, text);
        // Re-sign header and payload changes, so only the encoding is wrong.
        const signed = index === 2 ? bad : `${bad.slice(0, bad.lastIndexOf('.'))}.${hsSign(bad.slice(0, bad.lastIndexOf('.'))).toString('base64url')}`;
        const d = await check(signed);
        if (d.allow) throw new Error(`allowed with a ${label} ${segment}`);
        expectDeny(d, 'invalid_credential');
      }
    });
  }
});

describe('header or payload that is not UTF-8 (validly signed)', () => {
  const json = (s: string) => Buffer.from(s, 'utf8');
  const withBytes = (prefix: string, bytes: number[], suffix: string) => Buffer.concat([json(prefix), Buffer.from(bytes), json(suffix)]);
  const payloadStart = () => `{"uid":"hs-uid","exp":${exp},"note":"`;
  const cases: Array<[string, number[]]> = [
    ['a lone 0xFF', [0xff]],
    ['a lone continuation byte', [0x80]],
    ['an overlong "/" (C0 AF)', [0xc0, 0xaf]],
    ['a UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['a truncated sequence (E2 82)', [0xe2, 0x82]],
    ['a code point over U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
  ];
  it.each(cases)('payload with %s: invalid_credential', async (_label, bytes) => {
    expectDeny(await check(jws({ alg: 'HS256' }, withBytes(payloadStart(), bytes, '"}'), hsSign)), 'invalid_credential');
  });
  it.each(cases)('header with %s: invalid_credential', async (_label, bytes) => {
    expectDeny(await check(jws(withBytes('{"alg":"HS256","x":"', bytes, '"}'), claims('hs'), hsSign)), 'invalid_credential');
  });
  it('a BOM before the payload JSON: invalid_credential; proper UTF-8 (é, emoji) is allowed', async () => {
    expectDeny(await check(jws({ alg: 'HS256' }, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(JSON.stringify(claims('hs')))]), hsSign)), 'invalid_credential');
    expectAllow(await check(jws({ alg: 'HS256' }, json(`${payloadStart()}é 😀"}`), hsSign)), 'hs');
  });
});

describe('algorithms and shapes', () => {
  it('alg none / None / empty, alg missing, alg not a string, unknown alg: refused', async () => {
    const p = b64u(claims('hs'));
    for (const header of [{ alg: 'none' }, { alg: 'None' }, { alg: '' }, {}, { alg: ['HS256'] }, { alg: 'HS512' }, { alg: 'ES256K' }]) {
      expectDeny(await check(`${b64u(header)}.${p}.${hsSign(`${b64u(header)}.${p}`).toString('base64url')}`), 'invalid_credential');
      expectDeny(await check(`${b64u(header)}.${p}.`), 'invalid_credential');
    }
  });
  it('HS256 signed with the EdDSA public key bytes as the secret: refused', async () => {
    const x = Buffer.from(ed.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    const t = jws({ alg: 'HS256', kid: 'd1' }, claims('ed'), (i) => createHmac('sha256', x).update(i).digest());
    expectDeny(await check(t), 'invalid_credential');
  });
  it('JWE (5 segments), 2 and 4 segments, an empty segment, a duplicate claim, crit, b64:false: refused', async () => {
    const t = jws({ alg: 'HS256' }, claims('hs'), hsSign);
    const [hh, pp, ss] = t.split('.') as [string, string, string];
    for (const bad of [`${hh}.${pp}.${ss}.${ss}.${ss}`, `${hh}.${pp}`, `${hh}.${pp}.${ss}.${ss}`, `.${pp}.${ss}`, `${hh}..${ss}`]) {
      expectDeny(await check(bad), 'invalid_credential');
    }
    expectDeny(await check(jws({ alg: 'HS256' }, Buffer.from(`{"uid":"other","uid":"hs-uid","exp":${exp}}`), hsSign)), 'invalid_credential');
    expectDeny(await check(jws({ alg: 'HS256', crit: ['exp'] }, claims('hs'), hsSign)), 'invalid_credential');
    expectDeny(await check(jws({ alg: 'HS256', b64: false }, claims('hs'), hsSign)), 'invalid_credential');
  });
});

describe('over the real gRPC server (official protos)', () => {
  let t: TestApp;
  let secret: Buffer;
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  beforeAll(async () => {
    t = await startApp();
    const sym = await t.admin('POST', '/v1/consumers', { name: 'g-hs', auth: { type: 'jwt', keyType: 'symmetric', identity: { value: 'g-hs-uid' } } });
    secret = Buffer.from(sym.body.jwks.keys[0].k, 'base64url');
    const asym = await t.admin('POST', '/v1/consumers', {
      name: 'g-es',
      auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [jwkOf(es.publicKey, 'g1')] }, identity: { value: 'g-es-uid' } },
    });
    expect(asym.status).toBe(201);
    const probe = jws({ alg: 'HS256' }, { uid: 'g-hs-uid', exp: Math.floor(Date.now() / 1000) + 600 }, (i) => createHmac('sha256', secret).update(i).digest());
    await until(async () => (await t.envoy.check({ headers: bearer(probe) })).status?.code === 0);
  });
  afterAll(async () => {
    await t?.stop();
  });
  const later = () => Math.floor(Date.now() / 1000) + 600;

  it('a validly signed payload with invalid UTF-8 is 401 invalid_credential', async () => {
    const payload = Buffer.concat([Buffer.from(`{"uid":"g-hs-uid","exp":${later()},"n":"`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const token = jws({ alg: 'HS256' }, payload, (i) => createHmac('sha256', secret).update(i).digest());
    expectGrpcDeny(await t.envoy.check({ headers: bearer(token) }), 401, 'invalid_credential');
  });

  it('ES256: high-S allowed, DER refused', async () => {
    const token = jws({ alg: 'ES256', kid: 'g1' }, { uid: 'g-es-uid', exp: later() }, (i) => ecSign(i, es.privateKey, 'sha256'));
    const s = Buffer.from(token.split('.')[2] as string, 'base64url');
    const high = Buffer.concat([s.subarray(0, 32), hex(N256 - num(s.subarray(32)), 32)]);
    await until(async () => (await t.envoy.check({ headers: bearer(token) })).status?.code === 0);
    expectGrpcAllow(await t.envoy.check({ headers: bearer(resigned(token, high)) }), 'g-es');
    const input = token.slice(0, token.lastIndexOf('.'));
    const der = nodeSign('sha256', Buffer.from(input, 'latin1'), { key: es.privateKey, dsaEncoding: 'der' });
    expectGrpcDeny(await t.envoy.check({ headers: bearer(resigned(token, der)) }), 401, 'invalid_credential');
  });
});
