/**
 * The one JWS-shape rule, and the places that use it agree: a custom API key
 * is refused for its shape exactly when the authorizer would take it for a
 * JWT, and the authorizer routes such a value to the JWT resolver.
 */
import { describe, expect, it } from 'vitest';
import { customKeyProblem } from '../../src/consumers/api-keys.js';
import { isJwsShaped } from '../../src/consumers/jws-shape.js';

const SHAPED = ['eyJ.', 'eyJhbGciOiJIUzI1NiJ9.e30.sig', 'eyJ-_09azAZ.x', 'Bearer eyJa.b', 'bearer   eyJ.', 'Token eyJx.y.z'];
const NOT_SHAPED = [
  '',
  'eyJ', // no dot
  'eyJabc', // no dot
  'eyj.x', // case matters: {" encodes to eyJ
  'EYJ.x',
  'eyJ!x.y', // a character outside base64url before the dot
  'eyJa+b.c', // standard base64, not base64url
  'xeyJ.a', // not at the start
  ' eyJ.a', // a space but no scheme word
  'Bearer\teyJ.a', // a tab is not the separator
  'two words eyJ.a', // at most one scheme word
  'Bearer eyJ', // no dot after the header
  '.eyJ.',
];

describe('isJwsShaped', () => {
  it('takes the compact JWS header shape, after at most one scheme word', () => {
    for (const v of SHAPED) expect(isJwsShaped(v), v).toBe(true);
  });

  it('refuses the nearest values that are not that shape', () => {
    for (const v of NOT_SHAPED) expect(isJwsShaped(v), v).toBe(false);
  });
});

describe('custom API keys follow the same rule', () => {
  const jwsProblem = (k: string) => customKeyProblem(k)?.includes('JWT') ?? false;

  it('a custom key of the JWS shape is refused, naming the reason', () => {
    for (const k of ['eyJcustomkeypadding.0001', 'eyJ.0123456789abcdef', 'eyJ-_-_-_-_-_-_-_-.x']) {
      expect(isJwsShaped(k)).toBe(true);
      expect(customKeyProblem(k)).toMatch(/must not look like a JWT/);
    }
  });

  it('a custom key that only resembles it is accepted (the authorizer takes it as an API key)', () => {
    for (const k of ['eyJ!custom-key.0001', 'eyJcustomkeywithoutdot', 'xeyJcustom.key-0001', 'EYJcustom.key-00001']) {
      expect(isJwsShaped(k)).toBe(false);
      expect(customKeyProblem(k)).toBeUndefined();
    }
  });

  it('for any printable key, refused for its shape exactly when it is JWS-shaped', () => {
    const chars = 'eyJEYj.-_!+/0aZ';
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      let k = next() % 2 === 0 ? 'eyJ' : '';
      while (k.length < 20) k += chars[next() % chars.length];
      expect(jwsProblem(k), k).toBe(isJwsShaped(k));
    }
  });
});
