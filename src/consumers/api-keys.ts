/**
 * API key generation, hashing and shape checks.
 *
 * System keys look like `cak_<32 base62 chars><6 base62 checksum chars>`:
 * 32 base62 characters carry 190 random bits; the checksum is CRC-32 of the
 * prefix and body, so a typo or a truncated key is refused without a lookup
 * and secret scanners can recognise leaked keys.
 */
import { hash, randomBytes, randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { isJwsShaped } from './jws-shape.js';

export const SYSTEM_KEY_PREFIX = 'cak_';
const BODY_LEN = 32;
const CHECK_LEN = 6;
export const SYSTEM_KEY_LENGTH = SYSTEM_KEY_PREFIX.length + BODY_LEN + CHECK_LEN;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Longest credential the service looks at; longer ones are refused unread. */
export const MAX_KEY_LENGTH = 512;
export const MIN_CUSTOM_KEY_LENGTH = 16;

function base62Fixed(n: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function checksum(s: string): string {
  return base62Fixed(crc32(s), CHECK_LEN);
}

/** A fresh system key (shown once, then only its hash is kept). */
export function generateSystemKey(): string {
  let body = '';
  for (let i = 0; i < BODY_LEN; i++) body += ALPHABET[randomInt(62)];
  const head = SYSTEM_KEY_PREFIX + body;
  return head + checksum(head);
}

/** True when `key` has the system prefix but a wrong length or checksum. */
export function isMalformedSystemKey(key: string): boolean {
  if (!key.startsWith(SYSTEM_KEY_PREFIX)) return false;
  if (key.length !== SYSTEM_KEY_LENGTH) return true;
  const head = key.slice(0, SYSTEM_KEY_LENGTH - CHECK_LEN);
  return checksum(head) !== key.slice(SYSTEM_KEY_LENGTH - CHECK_LEN);
}

/** SHA-256 hex of a key: how keys are stored and looked up. */
export function hashKey(key: string): string {
  // One-shot crypto.hash (Node ≥ 20.12): no Hash object per call; this runs on every Check.
  return hash('sha256', key, 'hex');
}

/** The SHA-256 of a key as 32 latin1 characters (what the replica is keyed by; `hashKey` in binary). */
export function keyDigest(key: string): string {
  // `latin1` works at run time (any Buffer encoding); the typings list only the text-to-binary ones.
  return hash('sha256', key, 'latin1' as 'hex');
}

/** Display hint: the system prefix (if any) and the last 4 characters. */
export function keyHint(key: string): string {
  const head = key.startsWith(SYSTEM_KEY_PREFIX) ? SYSTEM_KEY_PREFIX : '';
  return `${head}…${key.slice(-4)}`;
}

/** Why a custom key is unacceptable, or undefined when it is fine. */
export function customKeyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'must be a string';
  if (key.length < MIN_CUSTOM_KEY_LENGTH) return `must be at least ${MIN_CUSTOM_KEY_LENGTH} characters`;
  if (key.length > MAX_KEY_LENGTH) return `must be at most ${MAX_KEY_LENGTH} characters`;
  // Printable ASCII without space or comma: Envoy joins repeated headers with
  // commas, so a comma would make a key ambiguous on the wire.
  if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(key)) return 'must be printable ASCII without whitespace or commas';
  if (key.startsWith(SYSTEM_KEY_PREFIX)) return `must not start with the system prefix "${SYSTEM_KEY_PREFIX}"`;
  if (isJwsShaped(key)) return 'must not look like a JWT ("eyJ" and base64url characters up to a dot): where a JWT consumer reads the same place, it would be taken for one';
  return undefined;
}

/** A short random id with a readable prefix, e.g. `key_1f2e3d4c5b6a`. */
export function newId(prefix: string): string {
  return prefix + randomBytes(8).toString('hex');
}
