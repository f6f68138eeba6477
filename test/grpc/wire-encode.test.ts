/**
 * The hand-written CheckResponse writer: byte-identical to the proto-loader
 * encoder for every answer the codec builds, the same object when decoded with
 * the official Envoy protos, and a fallback for shapes it does not know.
 */
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/authz/decision.js';
import { deny } from '../../src/authz/decision.js';
import { ALL_REASONS } from '../../src/authz/reasons.js';
import type { ApiKeyAuth, ConsumerRecord } from '../../src/consumers/model.js';
import { toCheckResponse, type WireCheckResponse } from '../../src/grpc/check-messages.js';
import { encodeCheckResponse, encodedCheckResponse } from '../../src/grpc/wire-encode.js';
import type { CredentialEntry } from '../../src/replica/consumer-replica.js';
import { decodeOfficialResponse, encodeOwnResponse } from '../helpers/official.js';

function entry(name: string, expiresAt: string | null = null): CredentialEntry {
  const auth: ApiKeyAuth = {
    type: 'api-key',
    source: { in: 'bearer' },
    keys: [{ id: `key_${name}`, hash: 'h', hint: 'cak_…abcd', generation: 'system', createdAt: '2026-01-01T00:00:00.000Z', expiresAt }],
  };
  const record: ConsumerRecord = {
    id: `csm_${name}`,
    name,
    description: '',
    enabled: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    version: 1,
    auth,
  };
  const key = auth.keys[0]!;
  return { consumer: { record }, credentialId: key.id };
}

const DECISIONS: Array<[string, Decision]> = [
  ['allow, bearer', { allow: true, entry: entry('alice'), strip: { header: 'authorization' } }],
  ['allow, header', { allow: true, entry: entry('bob.ünï'), strip: { header: 'x-api-key' } }],
  ['allow, query', { allow: true, entry: entry('carol'), strip: { query: 'api_key' } }],
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

  it('refuses what it does not know; the cache then uses the fallback encoder', () => {
    const extended = { ...toCheckResponse(deny('invalid_credential')), extra: 1 } as unknown as WireCheckResponse;
    expect(() => encodeCheckResponse(extended)).toThrow(TypeError);
    const byName = { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'a', value: 'b' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] } } as unknown as WireCheckResponse;
    expect(() => encodeCheckResponse(byName)).toThrow(TypeError);
    let calls = 0;
    const fallback = (r: WireCheckResponse) => {
      calls++;
      return encodeOwnResponse(r);
    };
    const a = encodedCheckResponse(byName, fallback);
    const b = encodedCheckResponse(byName, fallback);
    expect(a).toBe(b);
    expect(calls).toBe(1);
    expect(a.equals(encodeOwnResponse(byName))).toBe(true);
  });

  it('repeated answers are encoded once (same Buffer)', () => {
    const d: Decision = { allow: true, entry: entry('dave'), strip: { header: 'authorization' } };
    const fail = () => {
      throw new Error('fallback not expected');
    };
    expect(encodedCheckResponse(toCheckResponse(d), fail)).toBe(encodedCheckResponse(toCheckResponse(d), fail));
    expect(encodedCheckResponse(toCheckResponse(deny('route_forbidden')), fail)).toBe(
      encodedCheckResponse(toCheckResponse(deny('route_forbidden')), fail),
    );
  });
});
