/** Strict JSON: a repeated member name anywhere refuses the text (tokens and admin bodies). */
import { describe, expect, it } from 'vitest';
import { duplicateMember, parseStrictObject } from '../../src/consumers/strict-json.js';

describe('duplicateMember: the path of the first repeated name', () => {
  it.each([
    ['{"enabled":true,"enabled":false}', 'enabled'],
    ['{"a":{"b":1,"c":{"d":1,"d":2}}}', 'a.c.d'],
    ['{"k":[1,{"x":"[,]"},{"y":1,"y":2}]}', 'k[2].y'],
    ['{"k":[[1,2],[3,{"z":[{},{"q":1,"q":1}]}]]}', 'k[1][1].z[1].q'],
    ['{"a":"{\\"a\\":1}","b":1,"a\u0000":1,"\u0062":2}', 'b'],
    ['[{"a":1},{"a":1}]', undefined],
    ['{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}', undefined],
  ])('%s → %s', (text, path) => {
    expect(duplicateMember(text)).toBe(path);
  });
});

describe('parseStrictObject', () => {
  it.each([
    ['{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', true],
    ['{"a":"x\\"y","b":"\\\\","c":"a:b"}', true],
    ['{"a":1,"a":2}', false],
    ['{ "a" : 1 , "a" : 2 }', false],
    ['{"a":1,"\\u0061":2}', false],
    ['{"x":[{"a":1,"a":2}]}', false],
    ['{"x":{"y":{"z":1,"z":1}}}', false],
    ['[1,2]', false],
    ['"s"', false],
    ['null', false],
    ['{"a":', false],
  ])('%s → %s', (text, ok) => {
    expect(parseStrictObject(text) !== undefined).toBe(ok);
  });
});
