/**
 * Ed25519 point checks with BigInt field arithmetic (RFC 8032 §5.1.3), for
 * what node:crypto does not refuse: it imports any 32 bytes as an Ed25519
 * public key and accepts a signature whose R is a small-order point. With a
 * small-order public key A, the signature (R = identity, S = 0) verifies for
 * every message — a forgery made without any private key.
 *
 * Only public data goes through here (public keys, signatures' R), so the
 * variable-time BigInt arithmetic leaks nothing secret.
 */

const P = (1n << 255n) - 19n;
/** Order of the prime-order subgroup (the base point's order). */
export const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n;
const D = mod(-121665n * inverse(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

/**
 * The y coordinates of the eight small-order points (order 1, 2, 4, 8):
 * 1 (identity), p-1 (order 2), 0 (the two of order 4), and the two y values
 * of the four points of order 8. A point has small order exactly when its y
 * is one of these, whatever its sign bit and whether y was encoded as y or
 * y + p (the non-canonical variants).
 */
const SMALL_ORDER_Y: ReadonlySet<bigint> = new Set([
  1n,
  P - 1n,
  0n,
  0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
  0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n,
]);

export type PointProblem = 'length' | 'non-canonical' | 'not-on-curve' | 'small-order' | 'mixed-order';

/** The little-endian y (top bit cleared) and the sign bit of an encoded point. */
function split(enc: Uint8Array): { y: bigint; sign: number } {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? (enc[i] as number) & 0x7f : (enc[i] as number));
  return { y, sign: (enc[31] as number) >> 7 };
}

/**
 * Why `enc` is not acceptable as an Ed25519 public key, or undefined when it
 * is: exactly 32 bytes, y < p, decompresses to a curve point (x = 0 with the
 * sign bit set refused), not of small order, and in the prime-order subgroup
 * ([L]A = identity; every key made as [s]B is).
 */
export function publicKeyProblem(enc: Uint8Array): PointProblem | undefined {
  if (enc.length !== 32) return 'length';
  const { y, sign } = split(enc);
  if (y >= P) return 'non-canonical';
  const x = recoverX(y, sign);
  if (x === undefined) return 'not-on-curve';
  const pt: Point = [x, y, 1n, mod(x * y)];
  if (isIdentity(double(double(double(pt))))) return 'small-order';
  if (!isIdentity(multiply(pt, ED25519_L))) return 'mixed-order';
  return undefined;
}

/** 32-byte little-endian encodings (sign bit clear) of the small-order y values. */
const SMALL_ORDER_Y_BYTES: readonly Uint8Array[] = [...SMALL_ORDER_Y].map((y) => littleEndian(y));
const P_BYTES = littleEndian(P);
const L_BYTES = littleEndian(ED25519_L);

/**
 * Cheap checks of a signature's R (byte comparisons, no field arithmetic):
 * canonical (y < p) and not one of the small-order points. A well-made
 * signature never fails them.
 */
export function isAcceptableR(enc: Uint8Array): boolean {
  if (enc.length !== 32) return false;
  if (compare(enc, P_BYTES, 0x7f) >= 0) return false;
  for (const y of SMALL_ORDER_Y_BYTES) if (compare(enc, y, 0x7f) === 0) return false;
  return true;
}

/** True when the little-endian scalar S is canonical (S < L). */
export function isCanonicalScalar(enc: Uint8Array): boolean {
  return enc.length === 32 && compare(enc, L_BYTES, 0xff) < 0;
}

/** Compares two 32-byte little-endian numbers, the top byte of `a` masked with `topMask`. */
function compare(a: Uint8Array, b: Uint8Array, topMask: number): number {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 ? (a[i] as number) & topMask : (a[i] as number);
    const y = b[i] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function littleEndian(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** x from y and its sign bit (RFC 8032 §5.1.3 steps 2-4); undefined when no point has this y. */
function recoverX(y: bigint, sign: number): bigint | undefined {
  const y2 = mod(y * y);
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  const v3 = mod(v * v * v);
  let x = mod(u * v3 * pow(mod(u * v3 * v3 * v), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) {
    // x is a root
  } else if (vx2 === mod(-u)) {
    x = mod(x * SQRT_M1);
  } else {
    return undefined;
  }
  if (x === 0n && sign === 1) return undefined;
  if (Number(x & 1n) !== sign) x = P - x;
  return x;
}

/** Extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z. */
type Point = [bigint, bigint, bigint, bigint];

function isIdentity([x, y, z]: Point): boolean {
  return x === 0n && y === z;
}

function add([x1, y1, z1, t1]: Point, [x2, y2, z2, t2]: Point): Point {
  const a = mod((y1 - x1) * (y2 - x2));
  const b = mod((y1 + x1) * (y2 + x2));
  const c = mod(2n * D * t1 * t2);
  const d = mod(2n * z1 * z2);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

function double(pt: Point): Point {
  return add(pt, pt);
}

function multiply(pt: Point, k: bigint): Point {
  let acc: Point = [0n, 1n, 1n, 0n];
  let q = pt;
  while (k > 0n) {
    if (k & 1n) acc = add(acc, q);
    q = double(q);
    k >>= 1n;
  }
  return acc;
}

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function pow(base: bigint, exp: bigint): bigint {
  let r = 1n;
  let b = mod(base);
  while (exp > 0n) {
    if (exp & 1n) r = (r * b) % P;
    b = (b * b) % P;
    exp >>= 1n;
  }
  return r;
}

function inverse(a: bigint): bigint {
  return pow(a, P - 2n);
}
