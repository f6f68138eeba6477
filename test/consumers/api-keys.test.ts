/** System key format, checksum and entropy; hints; custom key rules. */
import { describe, expect, it } from 'vitest';
import {
  customKeyProblem,
  generateSystemKey,
  hashKey,
  isMalformedSystemKey,
  keyHint,
  MAX_KEY_LENGTH,
  MIN_CUSTOM_KEY_LENGTH,
  newId,
  SYSTEM_KEY_LENGTH,
  SYSTEM_KEY_PREFIX,
} from '../../src/consumers/api-keys.js';

const BASE62 = /^[0-9A-Za-z]+$/;

describe('system keys', () => {
  const keys = Array.from({ length: 1000 }, generateSystemKey);

  it('have the prefix, a fixed length and only base62 after the prefix', () => {
    expect(SYSTEM_KEY_PREFIX).toBe('cak_');
    expect(SYSTEM_KEY_LENGTH).toBe(4 + 32 + 6);
    for (const k of keys) {
      expect(k.startsWith('cak_')).toBe(true);
      expect(k).toHaveLength(SYSTEM_KEY_LENGTH);
      expect(k.slice(4)).toMatch(BASE62);
    }
  });

  it('1000 keys are all different', () => {
    expect(new Set(keys).size).toBe(1000);
    // and so are their random bodies (not just the checksums)
    expect(new Set(keys.map((k) => k.slice(4, 36))).size).toBe(1000);
  });

  it('carry at least 128 random bits (32 base62 chars) and use the whole alphabet', () => {
    expect(32 * Math.log2(62)).toBeGreaterThanOrEqual(128);
    const seen = new Set(keys.flatMap((k) => [...k.slice(4, 36)]));
    expect(seen.size).toBe(62);
    // each body position varies (no fixed characters)
    for (let i = 4; i < 36; i++) expect(new Set(keys.map((k) => k[i])).size).toBeGreaterThan(40);
  });

  it('pass their own checksum', () => {
    for (const k of keys) expect(isMalformedSystemKey(k)).toBe(false);
  });

  it('any single-character change, truncation or extension is detected by the checksum or length', () => {
    const k = keys[0] as string;
    for (let i = 4; i < k.length; i++) {
      const c = k[i] === 'a' ? 'b' : 'a';
      expect(isMalformedSystemKey(k.slice(0, i) + c + k.slice(i + 1)), `position ${i}`).toBe(true);
    }
    expect(isMalformedSystemKey(k.slice(0, -1))).toBe(true);
    expect(isMalformedSystemKey(`${k}a`)).toBe(true);
    expect(isMalformedSystemKey('cak_')).toBe(true);
  });

  it('keys without the system prefix are never "malformed system keys"', () => {
    expect(isMalformedSystemKey('some-custom-key-0001')).toBe(false);
    expect(isMalformedSystemKey('CAK_' + 'a'.repeat(38))).toBe(false);
  });
});

describe('hashKey', () => {
  it('is SHA-256 lower-case hex and deterministic', () => {
    expect(hashKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashKey('abc')).toBe(hashKey('abc'));
    expect(hashKey('abd')).not.toBe(hashKey('abc'));
  });
});

describe('keyHint', () => {
  it('reveals at most the last 4 characters (plus the public prefix)', () => {
    const k = generateSystemKey();
    const hint = keyHint(k);
    expect(hint).toBe(`cak_…${k.slice(-4)}`);
    const revealed = hint.replace('cak_', '').replace('…', '');
    expect(revealed.length).toBeLessThanOrEqual(4);
    expect(keyHint('my-custom-key-12345678')).toBe('…5678');
    expect(keyHint('my-custom-key-12345678')).not.toContain('my-custom');
  });
});

describe('custom key rules', () => {
  it('accepts 16..512 printable ASCII characters without whitespace or commas', () => {
    expect(MIN_CUSTOM_KEY_LENGTH).toBe(16);
    expect(MAX_KEY_LENGTH).toBe(512);
    expect(customKeyProblem('a'.repeat(16))).toBeUndefined();
    expect(customKeyProblem('a'.repeat(512))).toBeUndefined();
    expect(customKeyProblem('!#$%&()*+-./:;<=>?@[]^_`{|}~"\'0')).toBeUndefined();
  });

  it.each([
    ['not a string', 12345678901234567, /string/],
    ['undefined', undefined, /string/],
    ['15 characters', 'a'.repeat(15), /at least 16/],
    ['513 characters', 'a'.repeat(513), /at most 512/],
    ['a space', 'abcdefgh ijklmnopq', /whitespace or commas/],
    ['a tab', 'abcdefgh\tijklmnopq', /whitespace or commas/],
    ['a comma', 'abcdefgh,ijklmnopq', /whitespace or commas/],
    ['non-ASCII', 'abcdefghijklmnopé', /printable ASCII/],
    ['a NUL byte', 'abcdefghijklmnop\u0000', /printable ASCII/],
    ['the system prefix', 'cak_abcdefghijklmnop', /system prefix/],
  ])('refuses %s', (_label, key, problem) => {
    expect(customKeyProblem(key)).toMatch(problem);
  });
});

describe('newId', () => {
  it('prefix + 16 hex chars, unique', () => {
    const ids = Array.from({ length: 500 }, () => newId('key_'));
    for (const id of ids) expect(id).toMatch(/^key_[0-9a-f]{16}$/);
    expect(new Set(ids).size).toBe(500);
  });
});
