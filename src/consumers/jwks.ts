/**
 * JWT consumer keys: generation of symmetric (HS256) keys, validation of
 * caller-supplied public JWKs, and import of a stored key for verification.
 *
 * Algorithm policy: every stored key is bound to exactly one JWS algorithm,
 * and a token verifies only when its header `alg` equals that algorithm.
 *   oct (symmetric consumers only)  HS256
 *   RSA, ≥2048 and ≤8192 bits       the JWK's `alg` (RS256/384/512, PS256/384/512), RS256 when absent
 *   EC P-256 / P-384 / P-521         ES256 / ES384 / ES512 (a JWK `alg` must agree with the curve)
 *   OKP Ed25519                      EdDSA (x a canonical point of the prime-order subgroup:
 *                                    small-order, non-canonical and off-curve encodings refused)
 * So `none` is never accepted, HS* never verifies with an asymmetric key, and
 * PS* needs a JWK that says so. Keys are never fetched: `x5u`/`jku` are refused
 * here and in token headers.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, importJWK } from 'jose';
import { invalid } from './errors.js';
import { publicKeyProblem } from './ed25519-point.js';
import type { JwsAlg, StoredJwk } from './model.js';

/** Algorithms a JWT may name, by key type. */
export const RSA_ALGS: readonly JwsAlg[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALG_BY_CRV: Readonly<Record<string, JwsAlg>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
export const ALL_ALGS: ReadonlySet<string> = new Set<JwsAlg>(['HS256', ...RSA_ALGS, 'ES256', 'ES384', 'ES512', 'EdDSA']);

export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 8192;
/** Bytes of a generated HS256 secret (256 bits). */
export const SYMMETRIC_KEY_BYTES = 32;
const KID_RE = /^[\x21-\x7e]{1,128}$/;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv'];
const COMMON_MEMBERS = ['kty', 'kid', 'alg', 'use', 'key_ops', 'ext', 'x5c', 'x5t', 'x5t#S256'];
const MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
};

/** A fresh HS256 key for a symmetric consumer; the returned JWK holds the secret. */
export function generateSymmetricJwk(): StoredJwk {
  return {
    kty: 'oct',
    kid: `hs-${randomBytes(8).toString('hex')}`,
    alg: 'HS256',
    k: randomBytes(SYMMETRIC_KEY_BYTES).toString('base64url'),
  };
}

/** The JWK as handed to the caller once: `{kty, kid, alg, k}`. */
export function secretJwk(k: StoredJwk): { kty: 'oct'; kid: string; alg: JwsAlg; k: string } {
  return { kty: 'oct', kid: k.kid, alg: k.alg, k: k.k as string };
}

/**
 * Validates a caller-supplied public JWK found at `field` and returns the
 * members kept for verification. Refuses private parts, symmetric keys,
 * remote references, weak RSA, and anything that does not import.
 */
export async function publicJwk(input: unknown, field: string): Promise<StoredJwk> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid(field, 'must be a JWK (a JSON object)');
  const jwk = input as Record<string, unknown>;
  for (const m of PRIVATE_MEMBERS) {
    if (jwk[m] !== undefined) {
      throw invalid(`${field}.${m}`, 'is private key material; supply only the public key (remove d, p, q, dp, dq, qi)');
    }
  }
  const kty = jwk.kty;
  if (kty === 'oct') throw invalid(`${field}.kty`, '"oct" (shared secret) keys are not accepted for an asymmetric consumer; use keyType "symmetric"');
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') throw invalid(`${field}.kty`, 'must be "RSA", "EC" or "OKP"');
  const allowed = [...COMMON_MEMBERS, ...(MEMBERS[kty] as readonly string[])];
  for (const m of Object.keys(jwk)) {
    if (m === 'x5u' || m === 'jku') throw invalid(`${field}.${m}`, 'remote key references are not supported; supply the key itself');
    if (!allowed.includes(m)) throw invalid(`${field}.${m}`, `unknown JWK member for kty "${kty}" (allowed: ${allowed.join(', ')})`);
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') throw invalid(`${field}.use`, 'must be "sig" when present');
  if (jwk.key_ops !== undefined && (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify'))) {
    throw invalid(`${field}.key_ops`, 'must include "verify" when present');
  }
  const b64 = (m: string): string => {
    const v = jwk[m];
    if (typeof v !== 'string' || !isCanonicalBase64url(v)) {
      throw invalid(`${field}.${m}`, 'is required and must be canonical base64url (no padding, no "+" or "/", unused bits zero)');
    }
    return v;
  };

  let out: { kty: StoredJwk['kty']; alg: JwsAlg; crv?: string; x?: string; y?: string; n?: string; e?: string };
  if (kty === 'RSA') {
    const n = b64('n');
    const e = b64('e');
    // RFC 7518 §6.3.1: n and e are unsigned big-endian integers without leading zero octets.
    if (Buffer.from(n, 'base64url')[0] === 0) throw invalid(`${field}.n`, 'must not start with a zero octet');
    if (Buffer.from(e, 'base64url')[0] === 0) throw invalid(`${field}.e`, 'must not start with a zero octet');
    const bits = bitLength(Buffer.from(n, 'base64url'));
    if (bits < MIN_RSA_BITS) throw invalid(`${field}.n`, `RSA keys must have at least ${MIN_RSA_BITS} bits (this one has ${bits})`);
    if (bits > MAX_RSA_BITS) throw invalid(`${field}.n`, `RSA keys must have at most ${MAX_RSA_BITS} bits`);
    const eBytes = Buffer.from(e, 'base64url');
    if (eBytes.length > 4 || bitLength(eBytes) < 2 || (eBytes[eBytes.length - 1] as number) % 2 === 0) {
      throw invalid(`${field}.e`, 'is not a usable RSA public exponent');
    }
    const alg = jwk.alg ?? 'RS256';
    if (typeof alg !== 'string' || !RSA_ALGS.includes(alg as JwsAlg)) {
      throw invalid(`${field}.alg`, `must be one of ${RSA_ALGS.join(', ')} for an RSA key`);
    }
    out = { kty, alg: alg as JwsAlg, n, e };
  } else if (kty === 'EC') {
    const crv = jwk.crv;
    const derived = typeof crv === 'string' ? EC_ALG_BY_CRV[crv] : undefined;
    if (!derived) throw invalid(`${field}.crv`, 'must be "P-256", "P-384" or "P-521"');
    if (jwk.alg !== undefined && jwk.alg !== derived) throw invalid(`${field}.alg`, `must be "${derived}" for curve ${crv as string}`);
    out = { kty, alg: derived, crv: crv as string, x: b64('x'), y: b64('y') };
  } else {
    if (jwk.crv !== 'Ed25519') throw invalid(`${field}.crv`, 'must be "Ed25519"');
    if (jwk.alg !== undefined && jwk.alg !== 'EdDSA') throw invalid(`${field}.alg`, 'must be "EdDSA" for an Ed25519 key');
    const x = b64('x');
    const problem = publicKeyProblem(Buffer.from(x, 'base64url'));
    if (problem) throw invalid(`${field}.x`, ED25519_PROBLEMS[problem]);
    out = { kty, alg: 'EdDSA', crv: 'Ed25519', x };
  }

  let kid: string;
  if (jwk.kid === undefined) {
    kid = await calculateJwkThumbprint(out as Parameters<typeof calculateJwkThumbprint>[0], 'sha256');
  } else {
    if (typeof jwk.kid !== 'string' || !KID_RE.test(jwk.kid)) {
      throw invalid(`${field}.kid`, 'must be 1-128 printable ASCII characters without spaces');
    }
    kid = jwk.kid;
  }
  const stored: StoredJwk = { ...out, kid };
  try {
    await importVerifyKey(stored);
  } catch {
    throw invalid(field, `is not a valid ${kty} public key`);
  }
  return stored;
}

/**
 * Imports a stored key for verifying with its own algorithm. Asymmetric keys
 * go through jose's `importJWK`; for `oct` keys jose returns raw bytes that it
 * would re-import on every verification, so the HMAC key is imported once here
 * with WebCrypto instead.
 */
export async function importVerifyKey(k: StoredJwk): Promise<CryptoKey> {
  if (k.kty === 'oct') {
    if (typeof k.k !== 'string') throw new TypeError('symmetric key without its secret');
    const raw = Buffer.from(k.k, 'base64url');
    return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  }
  const { kid: _kid, ...material } = k;
  const key = await importJWK(material, k.alg, { extractable: false });
  if (key instanceof Uint8Array) throw new TypeError('expected an asymmetric key');
  return key;
}

const ED25519_PROBLEMS: Readonly<Record<NonNullable<ReturnType<typeof publicKeyProblem>>, string>> = {
  length: 'must be 32 bytes (an encoded Ed25519 point)',
  'non-canonical': 'is a non-canonical point encoding (y is not below 2^255 - 19)',
  'not-on-curve': 'is not a point on the Ed25519 curve',
  'small-order': 'is a small-order point (order 1, 2, 4 or 8): tokens for it can be forged without a private key',
  'mixed-order': 'is not in the prime-order subgroup (it has a small-order component)',
};

/** base64url without padding whose decoding re-encodes to the same text (no malleable trailing bits). */
export function isCanonicalBase64url(v: string): boolean {
  if (!B64URL_RE.test(v) || v.length % 4 === 1) return false;
  return Buffer.from(v, 'base64url').toString('base64url') === v;
}

function bitLength(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i] as number));
}
