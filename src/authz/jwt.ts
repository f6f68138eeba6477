/**
 * The JWT evaluator: an untrusted decode that finds the one candidate
 * consumer, then signature verification with that consumer's keys only, then
 * the claims. Each step answers with a value; only an outage throws.
 *
 * Refused before any crypto (→ invalid_credential): more than 8 KB; not
 * exactly three canonical base64url segments (so JWE, 2 or 4 segments, and a
 * stripped signature are out); header or payload not a JSON object, or with a
 * repeated member name; `alg` outside the supported set (so `none`); any of
 * `crit`, `b64` (other than true), `jku`, `x5u`, `jwk`, `x5c` — keys are never
 * taken from a token or fetched; a `kid` that is not a short string.
 *
 * Time claims (→ expired_credential, both "expired" and "not yet valid": the
 * token's validity window does not include now, and the client's fix is the
 * same — a fresh token or a correct clock): `exp` passed, `nbf` or `iat` in the
 * future, each with the consumer's clock skew. A missing `exp` where required,
 * or a time claim that is not a number, is a bad token (→ invalid_credential).
 */
import { constants, createHmac, KeyObject, timingSafeEqual, verify } from 'node:crypto';
import { isAcceptableR, isCanonicalScalar, publicKeyProblem } from '../consumers/ed25519-point.js';
import { ALL_ALGS, importVerifyKey } from '../consumers/jwks.js';
import type { JwtAuth } from '../consumers/model.js';
import type { JwtConsumer, JwtKeyEntry } from '../replica/consumer-replica.js';
import { parseStrictObject } from '../consumers/strict-json.js';

/** Longest token looked at; longer ones are refused unread. */
export const MAX_TOKEN_LENGTH = 8192;
const MAX_KID_LENGTH = 256;
/** Longest claim value copied into an upstream header. */
export const MAX_CLAIM_HEADER_VALUE = 256;

const SEGMENT_RE = /^[A-Za-z0-9_-]+$/;
const REFUSED_HEADERS = ['crit', 'jku', 'x5u', 'jwk', 'x5c'];

/** A token decoded without verification: trusted for nothing but finding the candidate. */
export interface UntrustedToken {
  readonly alg: string;
  readonly kid: string | undefined;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** A header value for the upstream: a sanitized claim value, or undefined to remove the header. */
export type ClaimHeaderValue = readonly [header: string, value: string | undefined];

export type JwtOutcome = { readonly key: JwtKeyEntry; readonly expMs: number } | 'invalid' | 'expired';

/** Decodes a compact JWS without verifying it; undefined when this service would refuse it anyway. */
export function decodeUntrusted(token: string): UntrustedToken | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d1 <= 0 || d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return undefined;
  const h = canonical(token.slice(0, d1));
  const p = canonical(token.slice(d1 + 1, d2));
  if (h === undefined || p === undefined || canonical(token.slice(d2 + 1)) === undefined) return undefined;
  const headerText = utf8(h);
  const payloadText = utf8(p);
  if (headerText === undefined || payloadText === undefined) return undefined;
  const header = parseStrictObject(headerText);
  if (!header) return undefined;
  const alg = header.alg;
  if (typeof alg !== 'string' || !ALL_ALGS.has(alg)) return undefined;
  for (const name of REFUSED_HEADERS) if (Object.hasOwn(header, name)) return undefined;
  if (Object.hasOwn(header, 'b64') && header.b64 !== true) return undefined;
  const kid = header.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH)) return undefined;
  const payload = parseStrictObject(payloadText);
  if (!payload) return undefined;
  return { alg, kid, payload };
}

/**
 * Strict UTF-8 (RFC 7515 §2: the segments are UTF-8). A lenient decode turns
 * bad bytes into U+FFFD, so two different payloads would read the same; a BOM
 * is kept, and then is not JSON.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8(b: Buffer): string | undefined {
  try {
    return UTF8.decode(b);
  } catch {
    return undefined;
  }
}

/** base64url without padding whose decoding re-encodes to the same text (no malleable trailing bits). */
function canonical(segment: string): Buffer | undefined {
  if (!SEGMENT_RE.test(segment) || segment.length % 4 === 1) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

/** The string value of `claim` in a payload, when it is an own string member. */
export function stringClaim(payload: Readonly<Record<string, unknown>>, claim: string): string | undefined {
  if (!Object.hasOwn(payload, claim)) return undefined;
  const v = payload[claim];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Verifies `token` with the candidate's keys (the one named by `kid`, or
 * without a kid every key bound to the token's `alg` — at most 16), then its
 * claims. Throws only when a key cannot be imported (an outage, not a refusal).
 */
export async function verifyWithConsumer(
  token: string,
  t: UntrustedToken,
  consumer: JwtConsumer,
  nowMs: number,
  stats?: { signatureChecks: number },
): Promise<JwtOutcome> {
  let candidates: JwtKeyEntry[];
  if (t.kid !== undefined) {
    const k = consumer.keys.get(t.kid);
    candidates = k && k.alg === t.alg ? [k] : [];
  } else {
    candidates = [...consumer.keys.values()].filter((k) => k.alg === t.alg);
  }
  const dot = token.lastIndexOf('.');
  const signingInput = token.slice(0, dot);
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  let verified: JwtKeyEntry | undefined;
  for (const k of candidates) {
    if (stats) stats.signatureChecks++;
    if (verifySignature(k.alg, await verifyKeyOf(k), signingInput, signature)) {
      verified = k;
      break;
    }
  }
  if (!verified) return 'invalid';
  const claims = checkClaims(t.payload, consumer.auth, nowMs);
  return typeof claims === 'string' ? claims : { key: verified, expMs: claims.expMs };
}

const verifyKeys = new WeakMap<JwtKeyEntry, Promise<KeyObject>>();

/**
 * The node:crypto handle of a replica key entry's key: imported on first use
 * (WebCrypto, bound to the key's one algorithm), then kept for that entry,
 * which the replica replaces on any change of its consumer. A key that cannot
 * be imported rejects (an outage, not a refusal), as it does on every later use.
 */
function verifyKeyOf(entry: JwtKeyEntry): Promise<KeyObject> {
  let key = verifyKeys.get(entry);
  if (key === undefined) {
    key = importVerifyKey(entry.jwk).then((k) => KeyObject.from(k));
    verifyKeys.set(entry, key);
  }
  return key;
}

const DIGEST: Readonly<Record<string, string>> = {
  HS256: 'sha256',
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
};
/** JWS ECDSA signatures are r||s, each as long as the curve's field (RFC 7518 §3.4). */
const ECDSA_LENGTH: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, ES512: 132 };
/** The group orders n of P-256, P-384 and P-521. */
const ECDSA_ORDER: Readonly<Record<string, bigint>> = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512: 0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};

/**
 * Checks a JWS signature over `signingInput` with a key bound to `alg` (the
 * caller has matched the token's alg to the key's, and the key was imported
 * for exactly that algorithm). Synchronous node:crypto calls: verifying this
 * way costs the signature math and little else. Never throws for a bad
 * signature; answers false.
 *
 * Non-canonical forms are refused before the math, whatever OpenSSL would do:
 *   EdDSA  a public key that is not a canonical prime-order point (checked once
 *          per key: keys stored before that check was made), a signature that
 *          is not 64 bytes, R non-canonical or of small order, S >= L;
 *   ES*    not exactly r||s of the curve's size (so DER is refused), r or s
 *          zero or >= n. A high-S signature (s > n/2) is accepted: it is the
 *          same signature's mirror, valid ECDSA, and JWS does not ask for low S;
 *          malleability is not a forgery, and a token is never identified by
 *          its signature bytes alone (the cache key is the whole token);
 *   RS/PS* a signature not exactly as long as the modulus.
 */
export function verifySignature(alg: string, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const digest = DIGEST[alg];
  try {
    if (alg === 'HS256') {
      const mac = createHmac('sha256', key).update(signingInput).digest();
      return signature.length === mac.length && timingSafeEqual(signature, mac);
    }
    const data = Buffer.from(signingInput, 'latin1');
    if (alg === 'EdDSA') {
      return (
        key.asymmetricKeyType === 'ed25519' &&
        signature.length === 64 &&
        isAcceptableR(signature.subarray(0, 32)) &&
        isCanonicalScalar(signature.subarray(32)) &&
        isAcceptableEd25519Key(key) &&
        verify(null, data, key, signature)
      );
    }
    if (digest === undefined) return false;
    if (alg.startsWith('RS') || alg.startsWith('PS')) {
      const type = key.asymmetricKeyType;
      if (type !== 'rsa' && (type !== 'rsa-pss' || alg.startsWith('RS'))) return false;
      const bits = key.asymmetricKeyDetails?.modulusLength;
      if (bits === undefined || signature.length !== Math.ceil(bits / 8)) return false;
      if (alg.startsWith('RS')) return verify(digest, data, key, signature);
      return verify(digest, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    }
    if (alg.startsWith('ES')) {
      const size = ECDSA_LENGTH[alg] as number;
      const n = ECDSA_ORDER[alg] as bigint;
      if (key.asymmetricKeyType !== 'ec' || signature.length !== size) return false;
      const r = BigInt(`0x${signature.subarray(0, size / 2).toString('hex')}`);
      const s = BigInt(`0x${signature.subarray(size / 2).toString('hex')}`);
      if (r === 0n || s === 0n || r >= n || s >= n) return false;
      return verify(digest, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    return false;
  } catch {
    return false;
  }
}

const ed25519Checked = new WeakMap<KeyObject, boolean>();

/** An Ed25519 key's point checks (see ed25519-point.ts), made once per key object. */
function isAcceptableEd25519Key(key: KeyObject): boolean {
  let ok = ed25519Checked.get(key);
  if (ok === undefined) {
    const x = key.export({ format: 'jwk' }).x;
    ok = typeof x === 'string' && publicKeyProblem(Buffer.from(x, 'base64url')) === undefined;
    ed25519Checked.set(key, ok);
  }
  return ok;
}

/** Checks a verified payload against the consumer's identity and claims policy. */
export function checkClaims(
  p: Readonly<Record<string, unknown>>,
  auth: JwtAuth,
  nowMs: number,
): { expMs: number } | 'invalid' | 'expired' {
  const { claims, identity } = auth;
  const time = (name: string): number | undefined | null => {
    if (!Object.hasOwn(p, name)) return undefined;
    const v = p[name];
    return typeof v === 'number' && Number.isFinite(v) ? v * 1000 : null;
  };
  const exp = time('exp');
  const nbf = time('nbf');
  const iat = time('iat');
  if (exp === null || nbf === null || iat === null) return 'invalid';
  if (exp === undefined && claims.requireExp) return 'invalid';
  if (stringClaim(p, identity.claim) !== identity.value) return 'invalid';
  if (claims.issuer !== undefined && p.iss !== claims.issuer) return 'invalid';
  if (claims.audience !== undefined) {
    const aud = p.aud;
    const ok = aud === claims.audience || (Array.isArray(aud) && aud.includes(claims.audience));
    if (!ok) return 'invalid';
  }
  const skew = claims.clockSkewSeconds * 1000;
  if (exp !== undefined && nowMs >= exp + skew) return 'expired';
  if (nbf !== undefined && nowMs + skew < nbf) return 'expired';
  if (iat !== undefined && nowMs + skew < iat) return 'expired';
  return { expMs: exp ?? Infinity };
}

/**
 * The consumer's claims-to-headers values for a verified payload. Only
 * strings, finite numbers and booleans are copied; strings must be 1-256
 * characters without control characters. Anything else yields undefined, and
 * the header is removed so a client-sent copy never reaches the upstream.
 */
export function claimHeaders(p: Readonly<Record<string, unknown>>, auth: JwtAuth): readonly ClaimHeaderValue[] {
  if (auth.claimsToHeaders.length === 0) return NO_HEADERS;
  return auth.claimsToHeaders.map(({ claim, header }) => [header, sanitize(Object.hasOwn(p, claim) ? p[claim] : undefined)] as const);
}

const NO_HEADERS: readonly ClaimHeaderValue[] = Object.freeze([]);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function sanitize(v: unknown): string | undefined {
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_CLAIM_HEADER_VALUE || CONTROL.test(v)) return undefined;
  return v;
}
