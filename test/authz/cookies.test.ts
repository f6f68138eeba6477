/** The Cookie header as the credential finder reads it: values of one cookie, and the header without it. */
import { describe, expect, it } from 'vitest';
import { cookieValues, cookieWithout } from '../../src/authz/cookies.js';

describe('cookies', () => {
  it('finds values, strips quotes, reports repeats', () => {
    expect(cookieValues('a=1; jwt=abc; b=2', 'jwt')).toEqual(['abc']);
    expect(cookieValues('jwt="abc"', 'jwt')).toEqual(['abc']);
    expect(cookieValues('a=1', 'jwt')).toBeUndefined();
    expect(cookieValues('jwt=1; jwt=2', 'jwt')).toEqual(['1', '2']);
    expect(cookieValues('xjwt=1', 'jwt')).toBeUndefined();
  });

  it('removes one cookie, or everything when it was the only one', () => {
    expect(cookieWithout('a=1; jwt=abc; b=2', 'jwt')).toBe('a=1; b=2');
    expect(cookieWithout('jwt=abc', 'jwt')).toBeUndefined();
    expect(cookieWithout('jwt=abc;', 'jwt')).toBeUndefined();
    expect(cookieWithout('a=1;jwt=x', 'jwt')).toBe('a=1');
  });
});
