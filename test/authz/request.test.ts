/** queryValues: the query parser Check reads keys with. */
import { describe, expect, it } from 'vitest';
import { queryValues, UNUSABLE } from '../../src/authz/request.js';

describe('queryValues', () => {
  it('undefined without a query string or without the parameter', () => {
    expect(queryValues('/v1/models', 'api_key')).toBeUndefined();
    expect(queryValues('/v1/models?', 'api_key')).toBeUndefined();
    expect(queryValues('/v1/models?limit=5', 'api_key')).toBeUndefined();
    expect(queryValues('/v1/models?api_keyx=1&xapi_key=2', 'api_key')).toBeUndefined();
  });

  it('finds the value among other parameters', () => {
    expect(queryValues('/p?a=1&api_key=k1&b=2', 'api_key')).toEqual(['k1']);
    expect(queryValues('/p?api_key=k1', 'api_key')).toEqual(['k1']);
  });

  it('every occurrence, in order', () => {
    expect(queryValues('/p?api_key=k1&x=0&api_key=k2', 'api_key')).toEqual(['k1', 'k2']);
  });

  it('stops at the #fragment', () => {
    expect(queryValues('/p?api_key=k1#frag', 'api_key')).toEqual(['k1']);
    expect(queryValues('/p#frag?api_key=k1', 'api_key')).toBeUndefined();
    expect(queryValues('/p?x=1#api_key=k1', 'api_key')).toBeUndefined();
  });

  it('decodes %XX in values; names are literal, and an encoded copy of the name makes the parameter unusable', () => {
    expect(queryValues('/p?api_key=a%26b%3Dc%25d', 'api_key')).toEqual(['a&b=c%d']);
    expect(queryValues('/p?api%5Fkey=k1', 'api_key')).toBe(UNUSABLE);
    expect(queryValues('/p?%61pi_key=k1', 'api_key')).toBe(UNUSABLE);
    expect(queryValues('/p?api_key=k1&api%5fkey=k2', 'api_key')).toBe(UNUSABLE);
    expect(queryValues('/p?api%7Ekey=k1', 'api~key')).toBe(UNUSABLE);
    // A name that is encoded but decodes to something else is just another parameter.
    expect(queryValues('/p?api_key=k1&api%5Fkeyx=k2', 'api_key')).toEqual(['k1']);
    // A literal name that is not valid percent-encoding never equals a source name.
    expect(queryValues('/p?api_key=k1&api%zz=2', 'api_key')).toEqual(['k1']);
  });

  it("keeps '+' literally (keys never contain spaces)", () => {
    expect(queryValues('/p?api_key=a+b', 'api_key')).toEqual(['a+b']);
  });

  it('no "=" or an empty value gives an empty string', () => {
    expect(queryValues('/p?api_key', 'api_key')).toEqual(['']);
    expect(queryValues('/p?api_key=', 'api_key')).toEqual(['']);
  });

  it('a value that is not valid percent-encoding makes the parameter unusable', () => {
    expect(queryValues('/p?api_key=%zz', 'api_key')).toBe(UNUSABLE);
    expect(queryValues('/p?api_key=k1&api_key=%E0%A4%A', 'api_key')).toBe(UNUSABLE);
  });

  it('a value containing "=" keeps it', () => {
    expect(queryValues('/p?api_key=abc==', 'api_key')).toEqual(['abc==']);
  });
});
