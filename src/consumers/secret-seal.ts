/**
 * Sealing of secrets at rest (the HS256 secrets of symmetric JWT consumers)
 * under a key-encryption key (KEK): AES-256-GCM from node:crypto, no I/O.
 *
 * Envelope (one compact string, every part base64url):
 *   v1.<kekId>.<check>.<iv>.<ciphertext+tag>
 *   kekId  names the KEK that sealed it (rotation: any KEK of the ring opens
 *          what it sealed; only the primary seals)
 *   check  the first 8 bytes of HMAC-SHA256(kek, "consumer-authz kek check v1"):
 *          tells "this is not the key that sealed it" apart from tampering,
 *          and commits the envelope to one key
 *   iv     12 random bytes;  tag: the 16-byte GCM tag, after the ciphertext
 * The additional authenticated data binds the secret to where it is stored
 * (`secretAad`: consumer id and JWK kid), so a ciphertext moved to another
 * consumer or key does not open.
 *
 * Errors carry a stable code: `malformed` (not an envelope of this format),
 * `unknown_key` (no KEK with that id in the ring), `wrong_key` (a KEK with
 * that id but other key bytes), `auth_failed` (the GCM tag does not verify:
 * tampered iv/ciphertext/tag, or other AAD — GCM cannot tell which). No
 * message ever holds key material or plaintext.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

/** Bytes of a KEK (AES-256). */
export const KEK_BYTES = 32;
/** What a KEK id may be: it is written into every envelope. */
export const KEK_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const CHECK_BYTES = 8;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;

export type SealErrorCode = 'malformed' | 'unknown_key' | 'wrong_key' | 'auth_failed';

/** A sealed value that does not open; `keyId` is the KEK it names (when readable). */
export class SealError extends Error {
  readonly code: SealErrorCode;
  readonly keyId: string | undefined;
  constructor(code: SealErrorCode, message: string, keyId?: string) {
    super(message);
    this.name = 'SealError';
    this.code = code;
    this.keyId = keyId;
  }
}

/** One key-encryption key. `key` is a secret KeyObject: printing it shows no bytes. */
export interface Kek {
  readonly id: string;
  readonly key: KeyObject;
}

/** The KEKs an instance holds: the first (primary) seals, every one opens. */
export class Keyring {
  readonly primary: Kek;
  readonly #byId = new Map<string, { kek: Kek; check: Buffer }>();

  constructor(keks: readonly Kek[]) {
    const first = keks[0];
    if (!first) throw new TypeError('a keyring needs at least one KEK');
    for (const k of keks) {
      if (!KEK_ID_RE.test(k.id)) throw new TypeError(`KEK id ${JSON.stringify(k.id)} must be 1-64 characters of A-Z a-z 0-9 _ -`);
      if (k.key.type !== 'secret' || k.key.symmetricKeySize !== KEK_BYTES) throw new TypeError(`KEK ${k.id} must be a ${KEK_BYTES}-byte secret key`);
      if (this.#byId.has(k.id)) throw new TypeError(`duplicate KEK id ${k.id}`);
      this.#byId.set(k.id, { kek: k, check: keyCheck(k.key) });
    }
    this.primary = first;
  }

  /** Ids of every KEK, primary first. */
  get ids(): string[] {
    return [...this.#byId.keys()];
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** @internal */
  entry(id: string): { kek: Kek; check: Buffer } | undefined {
    return this.#byId.get(id);
  }
}

/** AAD of a JWK secret: binds it to its consumer (by id, never reused) and key id. */
export function secretAad(consumerId: string, kid: string): string {
  return `consumer-authz/jwk-k/v1\u0000${consumerId}\u0000${kid}`;
}

/** A stable id for a KEK given without one (SECRETS_KEK): `env-` and 12 hex of its SHA-256. */
export function derivedKekId(key: KeyObject): string {
  return `env-${createHash('sha256').update(key.export()).digest('hex').slice(0, 12)}`;
}

/** Seals `plaintext` under the ring's primary KEK. */
export function seal(ring: Keyring, plaintext: Buffer, aad: string): string {
  const { kek, check } = ring.entry(ring.primary.id) as { kek: Kek; check: Buffer };
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return [VERSION, kek.id, b64(check), b64(iv), b64(ct)].join('.');
}

/** The KEK id an envelope names, or undefined when it is not an envelope. */
export function sealedKeyId(envelope: string): string | undefined {
  const parts = envelope.split('.');
  return parts.length === 5 && parts[0] === VERSION && KEK_ID_RE.test(parts[1] as string) ? parts[1] : undefined;
}

/** Opens an envelope made by `seal` with the same AAD. Throws SealError. */
export function unseal(ring: Keyring, envelope: string, aad: string): Buffer {
  const parts = envelope.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) throw new SealError('malformed', `not a ${VERSION} sealed value`);
  const [, id, checkText, ivText, ctText] = parts as [string, string, string, string, string];
  if (!KEK_ID_RE.test(id)) throw new SealError('malformed', 'the sealed value names no valid KEK id');
  const check = unb64(checkText);
  const iv = unb64(ivText);
  const ct = unb64(ctText);
  if (!check || check.length !== CHECK_BYTES || !iv || iv.length !== IV_BYTES || !ct || ct.length < TAG_BYTES) {
    throw new SealError('malformed', 'the sealed value has a part of the wrong length or encoding', id);
  }
  const entry = ring.entry(id);
  if (!entry) throw new SealError('unknown_key', `sealed under KEK "${id}", which this instance does not have`, id);
  if (!timingSafeEqual(check, entry.check)) {
    throw new SealError('wrong_key', `KEK "${id}" of this instance is not the key that sealed this value`, id);
  }
  const decipher = createDecipheriv('aes-256-gcm', entry.kek.key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealError('auth_failed', `the sealed value under KEK "${id}" does not authenticate (tampered, or moved from another consumer or key)`, id);
  }
}

function keyCheck(key: KeyObject): Buffer {
  return createHmac('sha256', key).update('consumer-authz kek check v1').digest().subarray(0, CHECK_BYTES);
}

function b64(b: Buffer): string {
  return b.toString('base64url');
}

/** Strict base64url: re-encodes to the same text (no padding, no stray bits). */
function unb64(s: string): Buffer | undefined {
  if (!B64URL_RE.test(s)) return undefined;
  const b = Buffer.from(s, 'base64url');
  return b.toString('base64url') === s ? b : undefined;
}
