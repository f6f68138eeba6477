/**
 * The hand-written CheckRequest reader: equivalent to the proto-loader path for
 * Envoy-shaped requests encoded with the official protos, and safe on any
 * input (never throws, never reads past the end of what it was given).
 */
import { describe, expect, it } from 'vitest';
import { toAuthzRequest, type WireCheckRequest } from '../../src/grpc/check-messages.js';
import { decodeCheckRequest, MAX_GROUP_DEPTH } from '../../src/grpc/wire-decode.js';
import { envoyCheckRequest } from '../helpers/envoy.js';
import { decodeOwnRequest, encodeOfficialRequest } from '../helpers/official.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick };
}

const NAMES = ['authorization', 'x-api-key', 'X-Api-Key', 'cookie', 'user-agent', 'accept', 'x-request-id', 'x-forwarded-for', 'content-type', 'Host', 'x-empty', '', 'route', 'x-ünïcode'];
const VALUES = ['Bearer cak_abc', '', 'a,b', 'value with spaces', 'ünïcödé ✓', 'x'.repeat(300), '1.2.3.4, 5.6.7.8', 'session=1; theme=dark', '\u0000nul'];

function randomRequest(r: ReturnType<typeof rng>): unknown {
  const headerCount = r.int(12);
  const raw = r.next() < 0.4;
  const http: Record<string, unknown> = {};
  if (r.next() < 0.8) http.id = r.pick(['req-1', '', 'ünï-id']);
  if (r.next() < 0.9) http.method = r.pick(['GET', 'POST', '']);
  if (r.next() < 0.9) http.path = r.pick(['/', '/v1/chat?api_key=k&x=1', '/ünï?a=%20', '']);
  if (r.next() < 0.5) http.host = 'api.example.com';
  if (r.next() < 0.3) http.body = 'b'.repeat(r.int(2000));
  if (r.next() < 0.3) http.raw_body = Buffer.from([1, 2, 3, 0xff]);
  if (r.next() < 0.3) http.size = String(r.int(1e9));
  if (raw) {
    const list = [];
    for (let i = 0; i < headerCount; i++) {
      const h: Record<string, unknown> = { key: r.pick(NAMES) };
      const value = r.pick(VALUES);
      const mode = r.int(3);
      if (mode === 0) h.value = value;
      else if (mode === 1) h.raw_value = Buffer.from(value, 'utf8');
      else h.raw_value = Buffer.from([0xe9, 0x41, 0xff]); // latin1 bytes, not UTF-8
      list.push(h);
    }
    http.header_map = { headers: list };
    if (r.next() < 0.2) http.headers = {}; // empty map alongside: header_map is used
  } else if (headerCount > 0 || r.next() < 0.5) {
    const headers: Record<string, string> = {};
    for (let i = 0; i < headerCount; i++) headers[r.pick(NAMES).toLowerCase()] = r.pick(VALUES);
    http.headers = headers;
  }
  const context_extensions: Record<string, string> = {};
  if (r.next() < 0.6) context_extensions.route = r.pick(['chat', '', 'ünï']);
  if (r.next() < 0.4) context_extensions.tenant = 'acme';
  const attributes: Record<string, unknown> = {
    source: { address: { socket_address: { address: '10.0.0.7', port_value: 51234 } }, labels: { a: 'b' }, principal: 'spiffe://x' },
    destination: { address: { socket_address: { address: '10.0.0.2', port_value: 10000 } } },
    context_extensions,
    metadata_context: r.next() < 0.5 ? {} : { filter_metadata: { f: { fields: { k: { string_value: 'v' } } } } },
  };
  if (r.next() < 0.95) attributes.request = { time: { seconds: '1700000000', nanos: 5 }, http };
  if (r.next() < 0.3) attributes.tls_session = { sni: 'api.example.com' };
  return r.next() < 0.97 ? { attributes } : {};
}

function viaProtoLoader(bytes: Buffer) {
  return toAuthzRequest(decodeOwnRequest(bytes) as WireCheckRequest);
}

describe('equivalence with the proto-loader path (requests encoded with the official Envoy protos)', () => {
  it('envoyCheckRequest() shapes: headers map and header_map', () => {
    for (const rawHeaders of [false, true]) {
      const bytes = encodeOfficialRequest(
        envoyCheckRequest({
          rawHeaders,
          path: '/v1/chat?api_key=abc',
          route: 'chat',
          extensions: { tenant: 'acme' },
          headers: { authorization: 'Bearer cak_x', 'X-Api-Key': 'k' },
        }),
      );
      const mine = decodeCheckRequest(bytes);
      expect(mine).toEqual(viaProtoLoader(bytes));
      expect(mine?.route).toBe('chat');
      expect(mine?.headers.authorization).toBe('Bearer cak_x');
    }
  });

  it('2000 random Envoy-shaped requests decode to the same AuthzRequest', () => {
    const r = rng(42);
    for (let i = 0; i < 2000; i++) {
      const bytes = encodeOfficialRequest(randomRequest(r));
      const want = viaProtoLoader(bytes);
      const got = decodeCheckRequest(bytes);
      expect(got, `request #${i}`).toEqual(want);
      expect({ ...got!.headers }, `request #${i} headers`).toEqual({ ...want.headers });
    }
  });

  it('an empty message is a request without anything', () => {
    expect(decodeCheckRequest(Buffer.alloc(0))).toEqual({ id: '', method: '', path: '', headers: {}, route: '' });
  });
});

/** Known malformed inputs, each refused. */
const MALFORMED: Array<[string, number[]]> = [
  ['truncated tag varint', [0x80]],
  ['truncated length varint', [0x0a, 0x80]],
  ['length past the end', [0x0a, 0x05, 0x22, 0x00]],
  ['nested length past its parent', [0x0a, 0x02, 0x22, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00]],
  ['length over 32 bits', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f]],
  ['six-byte length varint', [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
  ['field number 0', [0x02, 0x00]],
  ['known field with the wrong wire type', [0x08, 0x01]],
  ['wire type 6', [0x0e]],
  ['wire type 7', [0x0f]],
  ['stray end group', [0x0c]],
  ['unterminated group', [0x0b, 0x10, 0x01]],
  ['group closed by another field number', [0x1b, 0x24]],
  ['fixed64 truncated', [0x11, 0x00, 0x00]],
  ['fixed32 truncated', [0x15, 0x00]],
  ['varint of 11 bytes', [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
];

describe('malformed input is refused, never thrown', () => {
  for (const [what, bytes] of MALFORMED) {
    it(what, () => {
      expect(decodeCheckRequest(Buffer.from(bytes))).toBeUndefined();
    });
  }

  it('groups: skipped when well-formed, refused when nested deeper than the limit', () => {
    const nest = (depth: number) => {
      const open = Array.from({ length: depth }, () => 0x1b); // field 3, start group
      const close = Array.from({ length: depth }, () => 0x1c); // field 3, end group
      return Buffer.from([...open, ...close]);
    };
    expect(decodeCheckRequest(nest(3))).toBeDefined();
    expect(decodeCheckRequest(nest(MAX_GROUP_DEPTH))).toBeDefined();
    expect(decodeCheckRequest(nest(MAX_GROUP_DEPTH + 1))).toBeUndefined();
    expect(decodeCheckRequest(nest(100_000))).toBeUndefined();
  });
});

/**
 * Decodes `bytes` as a view into a larger buffer whose surrounding bytes are
 * garbage: a reader that looked past the view would see them and answer
 * differently from the decode of an exact copy.
 */
function decodeBoth(bytes: Uint8Array) {
  const padded = Buffer.alloc(bytes.length + 64, 0x0a);
  padded.set(bytes, 32);
  const view = padded.subarray(32, 32 + bytes.length);
  const a = decodeCheckRequest(view);
  const b = decodeCheckRequest(Buffer.from(bytes));
  expect(a).toEqual(b);
  if (a) {
    for (const k of ['id', 'method', 'path', 'route'] as const) expect(typeof a[k]).toBe('string');
  }
  return a;
}

describe('fuzz: random, truncated and mutated bytes', () => {
  const r = rng(7);
  const valid = Array.from({ length: 40 }, () => encodeOfficialRequest(randomRequest(r)));

  it('every prefix of valid requests', () => {
    for (const bytes of valid.slice(0, 15)) {
      for (let n = 0; n <= bytes.length; n++) decodeBoth(bytes.subarray(0, n));
    }
  });

  it('random byte mutations of valid requests', () => {
    for (let i = 0; i < 20_000; i++) {
      const bytes = Buffer.from(r.pick(valid));
      const flips = 1 + r.int(4);
      for (let j = 0; j < flips; j++) bytes[r.int(bytes.length)] = r.int(256);
      decodeBoth(bytes);
    }
  });

  it('random bytes', () => {
    for (let i = 0; i < 20_000; i++) {
      const bytes = Buffer.alloc(r.int(64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = r.int(256);
      decodeBoth(bytes);
    }
  });

  it('random well-formed protobuf structure with random field numbers and wire types', () => {
    const gen = (depth: number): number[] => {
      const out: number[] = [];
      const n = r.int(6);
      for (let i = 0; i < n; i++) {
        const field = 1 + r.int(14);
        const wt = r.pick([0, 1, 2, 2, 2, 5]);
        out.push((field << 3) | wt);
        if (wt === 0) out.push(r.int(128));
        else if (wt === 1) out.push(...Array.from({ length: 8 }, () => r.int(256)));
        else if (wt === 5) out.push(...Array.from({ length: 4 }, () => r.int(256)));
        else {
          const inner = depth < 5 && r.next() < 0.6 ? gen(depth + 1) : Array.from({ length: r.int(8) }, () => r.int(256));
          out.push(inner.length & 0x7f, ...inner.slice(0, 127));
        }
      }
      return out;
    };
    for (let i = 0; i < 20_000; i++) decodeBoth(Uint8Array.from(gen(0)));
  });
});
