/**
 * Attack class: key material. Public keys an attacker with admin write access
 * (or a careless one) could register so that tokens verify without a private
 * key: Ed25519 small-order, non-canonical, off-curve and mixed-order points;
 * weak RSA (short modulus, e = 1, even e); non-canonical base64url members.
 * And defence in depth: such a key already in the store (written before the
 * checks existed) still verifies nothing.
 *
 * Known answers: RFC 8032 §7.1 TEST 1-3, typed in.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authorizer } from '../../src/authz/authorizer.js';
import { verifySignature } from '../../src/authz/jwt.js';
import { InvalidInputError } from '../../src/consumers/errors.js';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import {
  BASE_POINT,
  ED_L,
  NON_CANONICAL,
  NOT_ON_CURVE,
  RFC8032,
  SMALL_ORDER,
  b64u,
  ed25519FromSeed,
  edEncode,
  edSigner,
  expectAllow,
  expectDeny,
  expectGrpcAllow,
  expectGrpcDeny,
  jws,
  okpJwk,
  withOrder2Component,
} from '../helpers/adversary.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { changeSet, jwtConsumer, jwtKeyRecord } from '../helpers/fixtures.js';
import { bearer, harness, secs, type Harness } from '../helpers/jwt.js';
import { authorizerOn } from '../helpers/stack.js';

const edPublic = (hex: string): KeyObject => createPublicKey({ key: okpJwk(Buffer.from(hex, 'hex')) as any, format: 'jwk' });

let h: Harness;
let exp: number;
let seq = 0;

beforeAll(async () => {
  h = await harness();
  exp = secs(h.clock.now) + 600;
});

/** Registers an asymmetric consumer with one JWK; answers the field the model's input error names, or 'created'. */
async function register(jwk: unknown): Promise<string> {
  const name = `km-${++seq}`;
  try {
    await h.service.create({ name, auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [jwk] }, identity: { value: `${name}-uid` } } });
    return 'created';
  } catch (err) {
    if (err instanceof InvalidInputError) return err.field;
    throw err;
  }
}

describe('RFC 8032 known answers', () => {
  it.each(RFC8032)('$name: the signature verifies; one flipped bit of message, R or S does not', (v) => {
    const key = edPublic(v.public);
    const msg = Buffer.from(v.message, 'hex').toString('latin1');
    const sig = Buffer.from(v.signature, 'hex');
    expect(verifySignature('EdDSA', key, msg, sig)).toBe(true);
    for (const bit of [0, 255, 256, 511]) {
      const bad = Buffer.from(sig);
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(verifySignature('EdDSA', key, msg, bad)).toBe(false);
    }
    expect(verifySignature('EdDSA', key, `${msg}x`, sig)).toBe(false);
  });

  it.each(RFC8032)('$name: the public key is accepted at registration', async (v) => {
    expect(await register(okpJwk(Buffer.from(v.public, 'hex')))).toBe('created');
  });

  it('a token signed with the TEST 1 secret is allowed as its consumer; S + L (same signature, S not reduced) is refused', async () => {
    const v = RFC8032[0];
    await h.service.create({
      name: 'rfc1',
      auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [okpJwk(Buffer.from(v.public, 'hex'), 'rfc1')] }, identity: { value: 'rfc1-uid' } },
    });
    await h.sync();
    const token = jws({ alg: 'EdDSA', kid: 'rfc1' }, { uid: 'rfc1-uid', exp }, edSigner(ed25519FromSeed(v.secret)));
    expectAllow(await h.check({ headers: bearer(token) }), 'rfc1');
    const sig = Buffer.from(token.split('.')[2] as string, 'base64url');
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i] as number);
    const unreduced = Buffer.concat([sig.subarray(0, 32), edEncode(s + ED_L)]);
    expect(edEncode(s + ED_L)[31]! & 0x80).toBe(0); // still fits the 255 bits of S
    const malleated = `${token.slice(0, token.lastIndexOf('.'))}.${unreduced.toString('base64url')}`;
    expectDeny(await h.check({ headers: bearer(malleated) }), 'invalid_credential');
  });
});

describe('Ed25519 public keys refused at registration (400 naming auth.jwks.keys[0].x)', () => {
  const FIELD = 'auth.jwks.keys[0].x';
  it.each(SMALL_ORDER)('small order: %s', async (_label, enc) => {
    expect(await register(okpJwk(enc))).toBe(FIELD);
  });
  it.each(NON_CANONICAL)('non-canonical: %s', async (_label, enc) => {
    expect(await register(okpJwk(enc))).toBe(FIELD);
  });
  it('not a curve point (y = 2)', async () => {
    expect(await register(okpJwk(NOT_ON_CURVE))).toBe(FIELD);
  });
  it('mixed order: RFC 8032 TEST 1 key plus the point of order 2', async () => {
    expect(await register(okpJwk(withOrder2Component(Buffer.from(RFC8032[0].public, 'hex'))))).toBe(FIELD);
  });
  it('31, 33 and 0 bytes', async () => {
    const pk = Buffer.from(RFC8032[0].public, 'hex');
    expect(await register(okpJwk(pk.subarray(0, 31)))).toBe(FIELD);
    expect(await register(okpJwk(Buffer.concat([pk, Buffer.from([0])])))).toBe(FIELD);
    expect(await register({ kty: 'OKP', crv: 'Ed25519', x: '' })).toBe(FIELD);
  });
  it('non-canonical base64url of a good key: padded, standard alphabet, non-zero unused bits', async () => {
    const x = b64u(Buffer.from(RFC8032[0].public, 'hex')); // 43 chars: the last one has 2 unused bits
    expect(await register({ kty: 'OKP', crv: 'Ed25519', x: `${x}=` })).toBe(FIELD);
    const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alpha.indexOf(x[42] as string);
    expect(await register({ kty: 'OKP', crv: 'Ed25519', x: x.slice(0, 42) + alpha[last | 1] })).toBe(FIELD);
    const b3 = b64u(Buffer.from(RFC8032[2].public, 'hex'));
    expect(b3).toMatch(/[-_]/);
    expect(await register({ kty: 'OKP', crv: 'Ed25519', x: b3.replace(/-/g, '+').replace(/_/g, '/') })).toBe(FIELD);
  });
  it('X25519 and other OKP curves', async () => {
    const x = b64u(Buffer.from(RFC8032[0].public, 'hex'));
    expect(await register({ kty: 'OKP', crv: 'X25519', x })).toBe('auth.jwks.keys[0].crv');
    expect(await register({ kty: 'OKP', crv: 'Ed448', x })).toBe('auth.jwks.keys[0].crv');
  });
});

describe('RSA and EC public keys refused at registration', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  it('modulus under 2048 bits', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    expect(await register({ kty: 'RSA', n: small.n, e: small.e })).toBe('auth.jwks.keys[0].n');
    // 2047 bits: the 2048-bit modulus shifted right by one bit.
    const n = BigInt(`0x${Buffer.from(rsa.n, 'base64url').toString('hex')}`) >> 1n;
    expect(await register({ kty: 'RSA', n: b64u(Buffer.from(n.toString(16).padStart(512, '0'), 'hex')), e: rsa.e })).toBe('auth.jwks.keys[0].n');
  });
  it('e = 1, e = 0, even e, e over 32 bits', async () => {
    for (const e of [Buffer.from([1]), Buffer.from([0]), Buffer.from([2]), Buffer.from([0x01, 0x00, 0x00]), Buffer.from('0100000001', 'hex')]) {
      expect(await register({ kty: 'RSA', n: rsa.n, e: b64u(e) })).toBe('auth.jwks.keys[0].e');
    }
  });
  it('a zero octet before n or e (not the JWK integer form)', async () => {
    expect(await register({ kty: 'RSA', n: b64u(Buffer.concat([Buffer.from([0]), Buffer.from(rsa.n, 'base64url')])), e: rsa.e })).toBe('auth.jwks.keys[0].n');
    expect(await register({ kty: 'RSA', n: rsa.n, e: b64u(Buffer.from([0, 1, 0, 1])) })).toBe('auth.jwks.keys[0].e');
  });
  it('n in non-canonical base64url (padding or standard alphabet)', async () => {
    const bad = `${rsa.n}==`;
    expect(await register({ kty: 'RSA', n: bad, e: rsa.e })).toBe('auth.jwks.keys[0].n');
    expect(await register({ kty: 'RSA', n: rsa.n.replace(/-/g, '+').replace(/_/g, '/') + (/[-_]/.test(rsa.n) ? '' : '+'), e: rsa.e })).toBe('auth.jwks.keys[0].n');
  });
  it('an EC point not on the curve (y + 1)', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as { x: string; y: string };
    const y = Buffer.from(ec.y, 'base64url');
    y[31] = (y[31] as number) ^ 1;
    expect(await register({ kty: 'EC', crv: 'P-256', x: ec.x, y: b64u(y) })).toBe('auth.jwks.keys[0]');
  });
  it('the honest keys still register', async () => {
    expect(await register({ kty: 'RSA', n: rsa.n, e: rsa.e })).toBe('created');
    expect(await register(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }))).toBe('created');
    expect(await register(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }))).toBe('created');
  });
});

/** A JWT consumer record holding an Ed25519 key as an old store could (no registration checks). */
function weakRecord(x: Buffer): ConsumerRecord {
  const jwk = { kty: 'OKP', kid: 'weak', alg: 'EdDSA', crv: 'Ed25519', x: x.toString('base64url') } as const;
  return jwtConsumer('old', [jwtKeyRecord(jwk)], { identity: { claim: 'uid', value: 'old-uid' } });
}

describe('a small-order key already in the store (defence in depth at verification)', () => {
  // A ConsumerReplica fed a record directly, as one written before the registration
  // checks existed would arrive: the key imports (node:crypto takes any 32 bytes).
  function authorizerWith(x: Buffer): Authorizer {
    return authorizerOn(changeSet({ consumers: [weakRecord(x)] }), { now: () => h.clock.now }).authorizer;
  }
  const check = (a: Authorizer, token: string) => a.check({ id: 't', method: 'GET', path: '/', headers: bearer(token), route: '' });
  const forged = (r: Buffer, s: Buffer) => jws({ alg: 'EdDSA', kid: 'weak' }, { uid: 'old-uid', exp }, Buffer.concat([r, s]));
  const ZERO = Buffer.alloc(32);
  const ONE = edEncode(1n);

  it('identity key: (R = identity, S = 0) and (R = B, S = 1) — both verify in OpenSSL — are refused', async () => {
    const a = authorizerWith(SMALL_ORDER[0]![1]);
    expectDeny(await check(a, forged(SMALL_ORDER[0]![1], ZERO)), 'invalid_credential');
    expectDeny(await check(a, forged(BASE_POINT, ONE)), 'invalid_credential');
  });

  it.each(SMALL_ORDER)('%s as the key, R = each small-order point, S = 0: refused', async (_label, key) => {
    const a = authorizerWith(key);
    for (const [, r] of [...SMALL_ORDER, ...NON_CANONICAL]) expectDeny(await check(a, forged(r, ZERO)), 'invalid_credential');
  });

  it('verifySignature alone refuses the forgery with an imported identity key', () => {
    const key = createPublicKey({ key: okpJwk(SMALL_ORDER[0]![1]) as any, format: 'jwk' });
    expect(verifySignature('EdDSA', key, 'anything', Buffer.concat([SMALL_ORDER[0]![1], ZERO]))).toBe(false);
    expect(verifySignature('EdDSA', key, 'anything', Buffer.concat([BASE_POINT, ONE]))).toBe(false);
  });
});

describe('over the real gRPC server (file store, admin API, official protos)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a small-order key is a 400; the forged token (R = identity, S = 0) is then 401 invalid_credential, never an allow', async () => {
    const res = await t.admin('POST', '/v1/consumers', {
      name: 'victim',
      auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [okpJwk(SMALL_ORDER[0]![1], 'weak')] }, identity: { value: 'victim-uid' } },
    });
    expect([res.status, res.body?.error?.code, res.body?.error?.field]).toEqual([400, 'invalid_request', 'auth.jwks.keys[0].x']);
    const token = jws({ alg: 'EdDSA', kid: 'weak' }, { uid: 'victim-uid', exp: Math.floor(Date.now() / 1000) + 600 }, Buffer.concat([SMALL_ORDER[0]![1], Buffer.alloc(32)]));
    expectGrpcDeny(await t.envoy.check({ headers: bearer(token) }), 401, 'invalid_credential');
  });

  it('a small-order key already in a data file (written before the checks) verifies nothing: 401 invalid_credential', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-weak-'));
    const dataFile = join(dir, 'consumers.json');
    const rec = weakRecord(SMALL_ORDER[0]![1]);
    writeFileSync(dataFile, JSON.stringify({ format: 'consumer-authz/1', epoch: 'weak', rev: 1, consumers: [rec], routes: [], log: { 'c:old': 1 } }), { mode: 0o600 });
    const old = await startApp({ dataFile });
    try {
      await until(() => old.app.replica.size === 1);
      const later = Math.floor(Date.now() / 1000) + 600;
      const forged = jws({ alg: 'EdDSA', kid: 'weak' }, { uid: 'old-uid', exp: later }, Buffer.concat([SMALL_ORDER[0]![1], Buffer.alloc(32)]));
      expectGrpcDeny(await old.envoy.check({ headers: bearer(forged) }), 401, 'invalid_credential');
      const forged2 = jws({ alg: 'EdDSA', kid: 'weak' }, { uid: 'old-uid', exp: later }, Buffer.concat([BASE_POINT, edEncode(1n)]));
      expectGrpcDeny(await old.envoy.check({ headers: bearer(forged2) }), 401, 'invalid_credential');
    } finally {
      await old.stop();
    }
  });

  it('an RFC 8032 TEST 1 key registers and its token is allowed', async () => {
    const v = RFC8032[0];
    const res = await t.admin('POST', '/v1/consumers', {
      name: 'rfc-one',
      auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [okpJwk(Buffer.from(v.public, 'hex'), 'one')] }, identity: { value: 'rfc-one-uid' } },
    });
    expect(res.status).toBe(201);
    const token = jws({ alg: 'EdDSA', kid: 'one' }, { uid: 'rfc-one-uid', exp: Math.floor(Date.now() / 1000) + 600 }, edSigner(ed25519FromSeed(v.secret)));
    await until(async () => (await t.envoy.check({ headers: bearer(token) })).status?.code === 0);
    expectGrpcAllow(await t.envoy.check({ headers: bearer(token) }), 'rfc-one');
  });
});
