/**
 * secret-seal: AES-256-GCM envelopes under a keyring. Each way an envelope
 * can fail to open has its own code; the nearest wrong inputs are refused.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  derivedKekId,
  Keyring,
  SealError,
  seal,
  sealedKeyId,
  secretAad,
  unseal,
  type Kek,
} from '../../src/consumers/secret-seal.js';

const kek = (id: string, bytes = randomBytes(32)): Kek => ({ id, key: createSecretKey(bytes) });
const SECRET = Buffer.from('an HS256 secret of thirty-two b!');
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const AAD = secretAad('csm_alice', 'hs-1');

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SealError);
    const e = err as SealError;
    // never the secret or key bytes in a message
    expect(e.message).not.toContain(SECRET.toString());
    return e.code;
  }
  throw new Error('expected a SealError');
}

/** Replaces part `i` (0-based) of an envelope. */
function withPart(env: string, i: number, f: (p: string) => string): string {
  const parts = env.split('.');
  parts[i] = f(parts[i] as string);
  return parts.join('.');
}

/** Flips one bit of a base64url part, keeping it canonical. */
function flip(p: string, byte = 0): string {
  const b = Buffer.from(p, 'base64url');
  b[byte] = (b[byte] as number) ^ 0x01;
  return b.toString('base64url');
}

describe('secret-seal', () => {
  const a = kek('kek-a');
  const b = kek('kek-b');
  const ring = new Keyring([a, b]);

  it('round-trips under the primary, naming it; each seal has a fresh iv', () => {
    const env = seal(ring, SECRET, AAD);
    expect(env.startsWith('v1.kek-a.')).toBe(true);
    expect(sealedKeyId(env)).toBe('kek-a');
    expect(unseal(ring, env, AAD).equals(SECRET)).toBe(true);
    expect(seal(ring, SECRET, AAD)).not.toBe(env);
    expect(env).not.toContain(SECRET.toString('base64url'));
  });

  it('a non-primary KEK of the ring still opens what it sealed (rotation)', () => {
    const old = seal(new Keyring([b]), SECRET, AAD);
    expect(unseal(ring, old, AAD).equals(SECRET)).toBe(true);
  });

  it('unknown kid → unknown_key, naming it', () => {
    const env = seal(new Keyring([kek('kek-z')]), SECRET, AAD);
    expect(code(() => unseal(ring, env, AAD))).toBe('unknown_key');
    try {
      unseal(ring, env, AAD);
    } catch (err) {
      expect((err as SealError).keyId).toBe('kek-z');
    }
  });

  it('same id, other key bytes → wrong_key', () => {
    const env = seal(new Keyring([kek('kek-a')]), SECRET, AAD);
    expect(code(() => unseal(ring, env, AAD))).toBe('wrong_key');
  });

  it('other AAD (another consumer, another kid) → auth_failed', () => {
    const env = seal(ring, SECRET, AAD);
    expect(code(() => unseal(ring, env, secretAad('csm_mallory', 'hs-1')))).toBe('auth_failed');
    expect(code(() => unseal(ring, env, secretAad('csm_alice', 'hs-2')))).toBe('auth_failed');
  });

  it('tampered ciphertext, tag or iv → auth_failed; a tampered check → wrong_key', () => {
    const env = seal(ring, SECRET, AAD);
    const ctLen = Buffer.from(env.split('.')[4] as string, 'base64url').length;
    expect(code(() => unseal(ring, withPart(env, 4, (p) => flip(p, 0)), AAD))).toBe('auth_failed'); // ciphertext
    expect(code(() => unseal(ring, withPart(env, 4, (p) => flip(p, ctLen - 1)), AAD))).toBe('auth_failed'); // tag
    expect(code(() => unseal(ring, withPart(env, 3, (p) => flip(p, 5)), AAD))).toBe('auth_failed'); // iv
    expect(code(() => unseal(ring, withPart(env, 2, (p) => flip(p, 0)), AAD))).toBe('wrong_key'); // check
  });

  it('malformed envelopes → malformed', () => {
    const env = seal(ring, SECRET, AAD);
    const cases = [
      '',
      'k',
      env.replace(/^v1\./, 'v2.'),
      env.split('.').slice(0, 4).join('.'),
      `${env}.x`,
      withPart(env, 1, () => 'bad id!'),
      withPart(env, 3, (p) => p.slice(0, -2)), // iv of the wrong length
      withPart(env, 3, (p) => `${p}=`), // padding
      withPart(env, 4, () => Buffer.alloc(8).toString('base64url')), // shorter than a tag
      withPart(env, 2, (p) => p.slice(0, -1) + B64[B64.indexOf(p.slice(-1)) ^ 1]), // a stray bit after the 8 bytes (non-canonical)
    ];
    for (const c of cases) expect(code(() => unseal(ring, c, AAD)), c).toBe('malformed');
    expect(sealedKeyId('v1.no')).toBeUndefined();
  });

  it('keyring refuses bad KEKs: no key, bad id, wrong length, duplicate id', () => {
    expect(() => new Keyring([])).toThrow(TypeError);
    expect(() => new Keyring([kek('has.dot')])).toThrow(/KEK id/);
    expect(() => new Keyring([{ id: 'short', key: createSecretKey(randomBytes(16)) }])).toThrow(/32-byte/);
    expect(() => new Keyring([kek('same'), kek('same')])).toThrow(/duplicate/);
    expect(ring.ids).toEqual(['kek-a', 'kek-b']);
  });

  it('derived ids are stable per key and differ between keys; printing a KEK shows no key bytes', () => {
    const bytes = randomBytes(32);
    expect(derivedKekId(createSecretKey(bytes))).toBe(derivedKekId(createSecretKey(Buffer.from(bytes))));
    expect(derivedKekId(createSecretKey(bytes))).toMatch(/^env-[0-9a-f]{12}$/);
    expect(derivedKekId(createSecretKey(randomBytes(32)))).not.toBe(derivedKekId(createSecretKey(bytes)));
    const shown = JSON.stringify(a) + String(a.key) + JSON.stringify(ring);
    expect(shown).not.toContain(a.key.export().toString('base64'));
    expect(shown).not.toContain(a.key.export().toString('hex'));
  });
});
