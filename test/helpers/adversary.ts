/**
 * Fixtures for the adversarial suite (test/adversarial/): known-answer
 * Ed25519 material typed in from RFC 8032, hostile point encodings, JWS
 * assembly by hand, and assertions that pin an exact outcome — a deny with
 * its reason, or an allow as one named consumer — so any allow a case did not
 * expect fails it.
 */
import { createPrivateKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import type { Decision } from '../../src/authz/decision.js';
import type { Reason } from '../../src/authz/reasons.js';
import { denyCode, httpStatus, type OfficialCheckResponse } from './envoy.js';

/** The field prime 2^255 - 19 and the group order L of Ed25519 (RFC 8032 §5.1). */
export const ED_P = (1n << 255n) - 19n;
export const ED_L = (1n << 252n) + 27742317777372353535851937790883648493n;

/** RFC 8032 §7.1 test vectors (hex). Only TEST 1 and TEST 3 carry their secret key. */
export const RFC8032 = [
  {
    name: 'TEST 1',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    secret: undefined,
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
] as const;

/** Little-endian 32-byte encoding of y with the sign bit. */
export function edEncode(y: bigint, sign = 0): Buffer {
  const b = Buffer.alloc(32);
  let v = y;
  for (let i = 0; i < 32; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (sign) b[31] = (b[31] as number) | 0x80;
  return b;
}

/** The y (top bit cleared) of an encoded point. */
export function edY(enc: Buffer): bigint {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? (enc[i] as number) & 0x7f : (enc[i] as number));
  return y;
}

const Y8A = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;
const Y8B = 0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n;

/** The eight small-order points (canonical encodings), labelled by order. */
export const SMALL_ORDER: ReadonlyArray<readonly [label: string, enc: Buffer]> = [
  ['identity (order 1)', edEncode(1n)],
  ['(0, -1) (order 2)', edEncode(ED_P - 1n)],
  ['(+sqrt(-1), 0) (order 4)', edEncode(0n)],
  ['(-sqrt(-1), 0) (order 4)', edEncode(0n, 1)],
  ['order 8, y8a, sign 0', edEncode(Y8A)],
  ['order 8, y8a, sign 1', edEncode(Y8A, 1)],
  ['order 8, y8b, sign 0', edEncode(Y8B)],
  ['order 8, y8b, sign 1', edEncode(Y8B, 1)],
];

/** Non-canonical encodings (y >= p): of small-order points, and of honest points' y + p where it fits. */
export const NON_CANONICAL: ReadonlyArray<readonly [label: string, enc: Buffer]> = [
  ['identity as y = p + 1', edEncode(ED_P + 1n)],
  ['identity as y = p + 1, sign 1', edEncode(ED_P + 1n, 1)],
  ['order-4 as y = p', edEncode(ED_P)],
  ['order-4 as y = p, sign 1', edEncode(ED_P, 1)],
  ['(0, -1) with the sign bit set (x = 0 cannot be negative)', edEncode(ED_P - 1n, 1)],
  ['identity with the sign bit set', edEncode(1n, 1)],
  ['y = 2^255 - 1 (all ones)', edEncode((1n << 255n) - 1n)],
];

/** y = 2 is no curve point ((y²-1)/(dy²+1) is not a square mod p). */
export const NOT_ON_CURVE = edEncode(2n);

/** The base point B (order L). */
export const BASE_POINT = Buffer.from('5866666666666666666666666666666666666666666666666666666666666666', 'hex');

/** `A + (0,-1)` for an honest key A: (x, y) → (-x, -y), a point of order 2L (mixed order). */
export function withOrder2Component(enc: Buffer): Buffer {
  const y = edY(enc);
  const sign = (enc[31] as number) >> 7;
  return edEncode(ED_P - y, sign ^ 1);
}

/** An Ed25519 private key from a 32-byte RFC 8032 seed. */
export function ed25519FromSeed(seedHex: string): KeyObject {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedHex, 'hex')]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

export function okpJwk(x: Buffer, kid?: string): Record<string, string> {
  return { kty: 'OKP', crv: 'Ed25519', x: x.toString('base64url'), ...(kid ? { kid } : {}) };
}

export function b64u(v: string | Buffer | object): string {
  return Buffer.from(typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v)).toString('base64url');
}

/** A compact JWS with the given header, payload and signature bytes (segments given raw). */
export function jws(header: object | Buffer, payload: object | Buffer, signature: Buffer | ((input: string) => Buffer)): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  const sig = typeof signature === 'function' ? signature(input) : signature;
  return `${input}.${sig.toString('base64url')}`;
}

/** An EdDSA signer for jws(). */
export function edSigner(key: KeyObject): (input: string) => Buffer {
  return (input) => nodeSign(null, Buffer.from(input, 'latin1'), key);
}

/** Replaces one segment (0, 1 or 2) of a token with other text. */
export function withSegment(token: string, index: number, text: string): string {
  const parts = token.split('.');
  parts[index] = text;
  return parts.join('.');
}

/**
 * base64url variants that decode to the same bytes but are not the canonical
 * text: padded, '+'/'/' for '-'/'_' (when present), and non-zero unused bits
 * in the last character (when the length leaves any).
 */
export function nonCanonicalForms(segment: string): Array<[label: string, text: string]> {
  const out: Array<[string, string]> = [];
  const rem = segment.length % 4;
  if (rem !== 0) out.push(['padded with "="', segment + '='.repeat(4 - rem)]);
  if (/[-_]/.test(segment)) out.push(["standard alphabet ('+' '/')", segment.replace(/-/g, '+').replace(/_/g, '/')]);
  if (rem === 2 || rem === 3) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(segment[segment.length - 1] as string);
    out.push(['non-zero unused bits in the last character', segment.slice(0, -1) + alphabet[last | 1]]);
  }
  out.push(['whitespace inside', `${segment.slice(0, 4)} ${segment.slice(4)}`]);
  return out;
}

/** Asserts a denial with exactly this reason (fails on any allow). */
export function expectDeny(d: Decision, reason: Reason): void {
  if (d.allow) throw new Error(`unexpected allow as ${d.identity.consumerName}; expected deny ${reason}`);
  expect(d.reason).toBe(reason);
}

/** Asserts an allow as exactly this consumer. */
export function expectAllow(d: Decision, consumer: string): void {
  if (!d.allow) throw new Error(`unexpected deny ${d.reason}; expected allow as ${consumer}`);
  expect(d.identity.consumerName).toBe(consumer);
}

/** Asserts a gRPC Check answer denied with this HTTP status and reason code (fails on any allow). */
export function expectGrpcDeny(res: OfficialCheckResponse, status: number, code: Reason): void {
  if (res.http_response === 'ok_response' || res.status?.code === 0) {
    throw new Error(`unexpected allow over gRPC; expected ${status} ${code}`);
  }
  expect([httpStatus(res), denyCode(res)]).toEqual([status, code]);
}

/** Asserts a gRPC Check answer allowed as this consumer (by the x-consumer-name header it sets). */
export function expectGrpcAllow(res: OfficialCheckResponse, consumer: string): void {
  if (res.http_response !== 'ok_response' || !res.ok_response) throw new Error(`unexpected deny ${denyCode(res)}; expected allow as ${consumer}`);
  expect(res.ok_response.headers.find((h) => h.header.key === 'x-consumer-name')?.header.value).toBe(consumer);
}
