/**
 * A hand-written protobuf reader for envoy.service.auth.v3.CheckRequest that
 * extracts only what a decision needs and skips everything else by wire type:
 *
 *   CheckRequest.attributes(1)
 *     .request(4).http(2) .id(1) .method(2) .headers(3, map) .path(4)
 *                         .header_map(13).headers(1).{key(1), value(2), raw_value(3)}
 *     .context_extensions(10, map)  → only the `route` entry
 *
 * It yields the same AuthzRequest as `toAuthzRequest(protoLoaderObject)` for
 * every well-formed request (test/grpc/wire-decode.test.ts proves it against
 * the official Envoy protos). Differences exist only on malformed input, which
 * this reader refuses instead of guessing: a truncated varint, a length past
 * the end of its enclosing message, a known field with the wrong wire type, an
 * end-group without its start, groups nested deeper than MAX_GROUP_DEPTH.
 *
 * Never throws and never reads outside `buf`: every read is bounds-checked
 * against the end of the enclosing message. A refusal is a value (`undefined`).
 *
 * Repeated singular fields follow protobuf rules: scalars keep the last value,
 * messages merge, map entries accumulate (a repeated key keeps the last value).
 */
import type { AuthzRequest } from '../authz/request.js';

/** Deepest nesting of (deprecated) groups the reader will skip. */
export const MAX_GROUP_DEPTH = 32;

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_SGROUP = 3;
const WT_EGROUP = 4;
const WT_I32 = 5;

// The reader's cursor. Decoding is synchronous and never re-entered, so one
// private cursor serves every call without allocating a reader object.
let b: Buffer = Buffer.alloc(0);
let p = 0;
/** Last varint read (a length or a tag): valid only when the read returned true. */
let v = 0;

// What the walk collected.
let id: string | undefined;
let method: string | undefined;
let path: string | undefined;
let route: string | undefined;
let headers: Record<string, string> | undefined;
let rawHeaders: Record<string, string> | undefined;

/** Reads a varint that must fit in 32 bits (tags, lengths) into `v`. */
function varint32(end: number): boolean {
  let result = 0;
  let shift = 0;
  while (p < end) {
    const byte = b[p++] as number;
    if (shift < 28) {
      result |= (byte & 0x7f) << shift;
    } else if (shift === 28) {
      // Fifth byte: four more bits fit; the rest must be zero (or continuation
      // bytes of a sign-extended value, which is not a valid length or tag).
      if ((byte & 0x70) !== 0) return false;
      result = (result >>> 0) + (byte & 0x0f) * 0x10000000;
      if (byte & 0x80) return false;
      v = result;
      return true;
    }
    if ((byte & 0x80) === 0) {
      v = result >>> 0;
      return true;
    }
    shift += 7;
  }
  return false; // truncated
}

/** Skips a varint of up to 10 bytes. */
function skipVarint(end: number): boolean {
  const limit = Math.min(end, p + 10);
  while (p < limit) {
    if (((b[p++] as number) & 0x80) === 0) return true;
  }
  return false;
}

/** Skips one field's payload whose tag (already read) is `tag`. */
function skipField(tag: number, end: number, depth: number): boolean {
  switch (tag & 7) {
    case WT_VARINT:
      return skipVarint(end);
    case WT_I64:
      if (end - p < 8) return false;
      p += 8;
      return true;
    case WT_LEN:
      if (!varint32(end) || v > end - p) return false;
      p += v;
      return true;
    case WT_I32:
      if (end - p < 4) return false;
      p += 4;
      return true;
    case WT_SGROUP: {
      if (depth >= MAX_GROUP_DEPTH) return false;
      const field = tag >>> 3;
      while (p < end) {
        if (!varint32(end)) return false;
        const t = v;
        if ((t & 7) === WT_EGROUP) return t >>> 3 === field;
        if (t >>> 3 === 0 || !skipField(t, end, depth + 1)) return false;
      }
      return false;
    }
    default:
      return false; // a stray end-group, or wire types 6 and 7
  }
}

/**
 * Reads the length of a length-delimited field into `v` and checks it fits
 * before `end`; the payload is then [p, p + v).
 */
function len(tag: number, end: number): boolean {
  return (tag & 7) === WT_LEN && varint32(end) && v <= end - p;
}

/** Node's native slicers on Buffer (what Buffer#toString calls after validating its arguments). */
interface Slicers {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

function utf8(start: number, stop: number): string {
  return start === stop ? '' : (b as unknown as Slicers).utf8Slice(start, stop);
}

function latin1(start: number, stop: number): string {
  return start === stop ? '' : (b as unknown as Slicers).latin1Slice(start, stop);
}

/** Calls `fn(tag, end)` for each field of the message [p, end); false if malformed. */
function fields(end: number, fn: (tag: number, end: number) => boolean): boolean {
  while (p < end) {
    if (!varint32(end)) return false;
    const tag = v;
    if (tag >>> 3 === 0) return false; // field number 0 is invalid
    if (!fn(tag, end)) return false;
  }
  return p === end;
}

function skip(tag: number, end: number): boolean {
  return skipField(tag, end, 0);
}

/** A map<string,string> entry [p, end) → [key, value] (defaults ''), or false. */
let entryKey = 0;
let entryKeyEnd = 0;
let entryVal = 0;
let entryValEnd = 0;
function mapEntry(end: number): boolean {
  entryKey = entryKeyEnd = entryVal = entryValEnd = 0;
  return fields(end, mapEntryField);
}
function mapEntryField(tag: number, end: number): boolean {
  const f = tag >>> 3;
  if (f === 1 || f === 2) {
    if (!len(tag, end)) return false;
    if (f === 1) {
      entryKey = p;
      entryKeyEnd = p + v;
    } else {
      entryVal = p;
      entryValEnd = p + v;
    }
    p += v;
    return true;
  }
  return skip(tag, end);
}

// HeaderValue inside header_map: key(1), value(2) string, raw_value(3) bytes.
let hvRaw = 0;
let hvRawEnd = 0;
function headerValueField(tag: number, end: number): boolean {
  const f = tag >>> 3;
  if (f >= 1 && f <= 3) {
    if (!len(tag, end)) return false;
    if (f === 1) {
      entryKey = p;
      entryKeyEnd = p + v;
    } else if (f === 2) {
      entryVal = p;
      entryValEnd = p + v;
    } else {
      hvRaw = p;
      hvRawEnd = p + v;
    }
    p += v;
    return true;
  }
  return skip(tag, end);
}

function headerMapField(tag: number, end: number): boolean {
  if (tag >>> 3 !== 1) return skip(tag, end);
  if (!len(tag, end)) return false;
  const stop = p + v;
  entryKey = entryKeyEnd = entryVal = entryValEnd = hvRaw = hvRawEnd = 0;
  if (!fields(stop, headerValueField)) return false;
  if (entryKeyEnd === entryKey) return true; // no key: ignored, like the proto-loader path
  const key = utf8(entryKey, entryKeyEnd).toLowerCase();
  const value = hvRawEnd > hvRaw ? latin1(hvRaw, hvRawEnd) : utf8(entryVal, entryValEnd);
  rawHeaders ??= Object.create(null) as Record<string, string>;
  const prev = rawHeaders[key];
  rawHeaders[key] = prev === undefined ? value : `${prev},${value}`;
  return true;
}

function httpField(tag: number, end: number): boolean {
  switch (tag >>> 3) {
    case 1: // id
    case 2: // method
    case 4: {
      // path
      if (!len(tag, end)) return false;
      const s = utf8(p, p + v);
      p += v;
      const f = tag >>> 3;
      if (f === 1) id = s;
      else if (f === 2) method = s;
      else path = s;
      return true;
    }
    case 3: {
      // headers: map<string, string>
      if (!len(tag, end)) return false;
      if (!mapEntry(p + v)) return false;
      headers ??= Object.create(null) as Record<string, string>;
      headers[utf8(entryKey, entryKeyEnd)] = utf8(entryVal, entryValEnd);
      return true;
    }
    case 13: // header_map
      if (!len(tag, end)) return false;
      return fields(p + v, headerMapField);
    default:
      return skip(tag, end);
  }
}

function requestField(tag: number, end: number): boolean {
  if (tag >>> 3 !== 2) return skip(tag, end);
  if (!len(tag, end)) return false;
  return fields(p + v, httpField);
}

/** True when [start, stop) holds the ASCII bytes of "route". */
function isRoute(start: number, stop: number): boolean {
  return (
    stop - start === 5 &&
    b[start] === 0x72 &&
    b[start + 1] === 0x6f &&
    b[start + 2] === 0x75 &&
    b[start + 3] === 0x74 &&
    b[start + 4] === 0x65
  );
}

function attributesField(tag: number, end: number): boolean {
  switch (tag >>> 3) {
    case 4: // request
      if (!len(tag, end)) return false;
      return fields(p + v, requestField);
    case 10: // context_extensions: map<string, string>
      if (!len(tag, end)) return false;
      if (!mapEntry(p + v)) return false;
      if (isRoute(entryKey, entryKeyEnd)) route = utf8(entryVal, entryValEnd);
      return true;
    default:
      return skip(tag, end);
  }
}

function checkRequestField(tag: number, end: number): boolean {
  if (tag >>> 3 !== 1) return skip(tag, end);
  if (!len(tag, end)) return false;
  return fields(p + v, attributesField);
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

/**
 * Decodes a serialized CheckRequest into the request model, or returns
 * undefined when the bytes are not a well-formed protobuf message.
 */
export function decodeCheckRequest(buf: Uint8Array): AuthzRequest | undefined {
  // A Buffer view of the same bytes (no copy) for the native string slicers.
  b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  p = 0;
  id = method = path = route = undefined;
  headers = rawHeaders = undefined;
  let ok: boolean;
  try {
    ok = fields(buf.length, checkRequestField);
  } catch {
    ok = false; // not reachable by construction; a refusal rather than a throw if it ever is
  }
  b = EMPTY; // do not keep the caller's buffer alive
  if (!ok) {
    headers = rawHeaders = undefined;
    return undefined;
  }
  const h = headers ?? rawHeaders ?? NO_HEADERS;
  headers = rawHeaders = undefined;
  return {
    id: id || h['x-request-id'] || '',
    method: method ?? '',
    path: path ?? '',
    headers: h,
    route: route ?? '',
  };
}

const EMPTY = Buffer.alloc(0);
