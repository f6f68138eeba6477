/**
 * The hand-written CheckResponse writer: byte-identical to the proto-loader
 * encoder for every answer the codec builds, the same object when decoded with
 * the official Envoy protos, and a fallback for shapes it does not know.
 */
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/authz/decision.js';
import { deny } from '../../src/authz/decision.js';
import type { Identity } from '../../src/authz/identity.js';
import { ALL_REASONS } from '../../src/authz/reasons.js';
import { answerFrame, encodeAnswer } from '../../src/grpc/check-answers.js';
import { toCheckResponse, type WireCheckResponse } from '../../src/grpc/check-messages.js';
import { encodeCheckResponse } from '../../src/grpc/wire-encode.js';
import type { OfficialCheckResponse } from '../helpers/envoy.js';
import { decodeOfficialResponse, encodeOwnResponse } from '../helpers/official.js';

function identity(name: string): Identity {
  return { consumerId: `csm_${name}`, consumerName: name, credentialId: `key_${name}`, authType: 'api-key' };
}

/** The allow inside a framed answer, decoded with the official protos. */
function okOf(f: Buffer): NonNullable<OfficialCheckResponse['ok_response']> {
  const ok = (decodeOfficialResponse(unframe(f)) as OfficialCheckResponse).ok_response;
  if (!ok) throw new Error('not an allow');
  return ok;
}

/** The message inside a gRPC frame, after checking the 5-byte prefix. */
function unframe(f: Buffer): Buffer {
  expect(f[0]).toBe(0);
  expect(f.readUInt32BE(1)).toBe(f.length - 5);
  return f.subarray(5);
}

const DECISIONS: Array<[string, Decision]> = [
  ['allow, bearer', { allow: true, identity: identity('alice'), strip: { header: 'authorization' } }],
  ['allow, header', { allow: true, identity: identity('bob.ünï'), strip: { header: 'x-api-key' } }],
  ['allow, query', { allow: true, identity: identity('carol'), strip: { query: 'api_key' } }],
  ...ALL_REASONS.map((r): [string, Decision] => [`deny ${r}`, deny(r)]),
];

describe('encoded answers', () => {
  for (const [what, decision] of DECISIONS) {
    it(`${what}: same bytes as proto-loader, same official decoding`, () => {
      const res = toCheckResponse(decision);
      const mine = encodeCheckResponse(res);
      const theirs = encodeOwnResponse(res);
      expect(mine.equals(theirs)).toBe(true);
      expect(decodeOfficialResponse(mine)).toEqual(decodeOfficialResponse(theirs));
    });
  }

  it('covers every field of the shape (raw values, numbers, nested structs, lists, negative codes)', () => {
    const res = {
      status: { code: -1, message: '' },
      ok_response: {
        headers: [{ header: { key: 'k', value: '', raw_value: Buffer.from([0, 255]) }, append: { value: true }, append_action: 2, keep_empty_value: true }],
        dynamic_metadata: { fields: { n: { numberValue: 1.5 } } },
        headers_to_remove: ['a', 'b'],
        response_headers_to_add: [{ header: { key: 'x', value: 'y' }, append: {} }],
        query_parameters_to_set: [{ key: 'q', value: 'v' }, {}],
        query_parameters_to_remove: [],
      },
      dynamic_metadata: {
        fields: {
          s: { stringValue: 'x' },
          b: { boolValue: false },
          z: { nullValue: 0 },
          nested: { structValue: { fields: { l: { listValue: { values: [{ numberValue: -0 }, { stringValue: 'é' }] } } } } },
        },
      },
    } as unknown as WireCheckResponse;
    const mine = encodeCheckResponse(res);
    expect(mine.equals(encodeOwnResponse(res))).toBe(true);
  });

  it('refuses what it does not know; encodeAnswer then uses the fallback encoder', () => {
    const extended = { ...toCheckResponse(deny('invalid_credential')), extra: 1 } as unknown as WireCheckResponse;
    expect(() => encodeCheckResponse(extended)).toThrow(TypeError);
    const byName = { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'a', value: 'b' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] } } as unknown as WireCheckResponse;
    expect(() => encodeCheckResponse(byName)).toThrow(TypeError);
    let calls = 0;
    const fallback = (r: WireCheckResponse) => {
      calls++;
      return encodeOwnResponse(r);
    };
    expect(encodeAnswer(byName, fallback).equals(encodeOwnResponse(byName))).toBe(true);
    expect(calls).toBe(1);
    // The default fallback is proto-loader's own encoder.
    expect(encodeAnswer(byName).equals(encodeOwnResponse(byName))).toBe(true);
    expect(encodeAnswer(toCheckResponse(deny('route_forbidden')), fallback).equals(encodeCheckResponse(toCheckResponse(deny('route_forbidden'))))).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('the answer cache (answerFrame)', () => {
  it('frames the encoded answer of every decision', () => {
    for (const [, decision] of DECISIONS) {
      expect(unframe(answerFrame(decision)).equals(encodeCheckResponse(toCheckResponse(decision)))).toBe(true);
    }
  });

  it('repeated answers are the same Buffer: one per reason, one per credential and strip', () => {
    const who = identity('dave');
    const d: Decision = { allow: true, identity: who, strip: { header: 'authorization' } };
    expect(answerFrame(d)).toBe(answerFrame({ allow: true, identity: who, strip: { header: 'authorization' } }));
    expect(answerFrame(deny('route_forbidden'))).toBe(answerFrame(deny('route_forbidden')));
    const named = { ...deny('route_forbidden'), consumer: 'dave', authType: 'api-key' };
    expect(answerFrame(named)).toBe(answerFrame(deny('route_forbidden')));
  });

  it('never answers one credential with a cached answer built for another strip or another identity', () => {
    const who = identity('frank');
    const header = answerFrame({ allow: true, identity: who, strip: { header: 'x-api-key' } });
    const query = answerFrame({ allow: true, identity: who, strip: { query: 'x-api-key' } });
    const none = answerFrame({ allow: true, identity: who, strip: { none: true } });
    const removed = (f: Buffer) => {
      const ok = okOf(f);
      return [ok.headers_to_remove, ok.query_parameters_to_remove ?? []];
    };
    expect(removed(header)).toEqual([['x-api-key'], []]);
    expect(removed(query)).toEqual([[], ['x-api-key']]);
    expect(removed(none)).toEqual([[], []]);
    // The same values under another Identity object: its own answer, equal bytes.
    const twin = answerFrame({ allow: true, identity: { ...who }, strip: { header: 'x-api-key' } });
    expect(twin).not.toBe(answerFrame({ allow: true, identity: who, strip: { header: 'x-api-key' } }));
    expect(twin.equals(header)).toBe(true);
  });

  it('allows that differ per request (cookie rewritten, claim headers) are built each time, never shared', () => {
    const who = identity('gina');
    const cookie = (rest: string) => answerFrame({ allow: true, identity: who, strip: { cookie: 'session', rest } });
    const a = cookie('theme=dark');
    const b = cookie('theme=light');
    expect(a.equals(b)).toBe(false);
    expect(okOf(b).headers.find((h) => h.header.key === 'cookie')?.header.value).toBe('theme=light');
    const claims = (v: string) => answerFrame({ allow: true, identity: who, strip: { header: 'authorization' }, headers: [['x-tenant', v]] });
    expect(okOf(claims('t2')).headers.find((h) => h.header.key === 'x-tenant')?.header.value).toBe('t2');
    expect(claims('t1')).not.toBe(claims('t1'));
    // And the credential's cacheable allow is untouched by them.
    const plain = answerFrame({ allow: true, identity: who, strip: { header: 'authorization' } });
    expect(okOf(plain).headers.map((h) => h.header.key)).not.toContain('x-tenant');
  });
});
