/** queryValues: the query parser Check reads keys with. */
import { describe, expect, it } from 'vitest';
import { queryValues } from '../../src/authz/request.js';

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

  it('decodes %XX in values and names; an encoded name is another occurrence', () => {
    expect(queryValues('/p?api_key=a%26b%3Dc%25d', 'api_key')).toEqual(['a&b=c%d']);
    expect(queryValues('/p?api%5Fkey=k1', 'api_key')).toEqual(['k1']);
    expect(queryValues('/p?api_key=k1&api%5fkey=k2', 'api_key')).toEqual(['k1', 'k2']);
  });

  it("keeps '+' literally (keys never contain spaces)", () => {
    expect(queryValues('/p?api_key=a+b', 'api_key')).toEqual(['a+b']);
  });

  it('no "=" or an empty value gives an empty string', () => {
    expect(queryValues('/p?api_key', 'api_key')).toEqual(['']);
    expect(queryValues('/p?api_key=', 'api_key')).toEqual(['']);
  });

  it('bad percent-encoding gives a value no key can equal', () => {
    const [v] = queryValues('/p?api_key=%zz', 'api_key') ?? [];
    expect(v).toBeDefined();
    expect(v).not.toBe('%zz');
    expect(v).toContain('\u0000');
  });

  it('a value containing "=" keeps it', () => {
    expect(queryValues('/p?api_key=abc==', 'api_key')).toEqual(['abc==']);
  });
});
