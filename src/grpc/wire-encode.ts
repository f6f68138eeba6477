/**
 * A hand-written protobuf writer for the `WireCheckResponse` shape (the answers
 * that repeat are encoded once, by check-answers.ts, which keeps their bytes).
 *
 * The writer follows protobufjs's rules (a field is written when its value is
 * neither undefined nor null, fields in field-number order, map entries with
 * both key and value), so its bytes equal the proto-loader encoder's for every
 * shape it accepts (test/grpc/wire-encode.test.ts checks both the bytes and the
 * decoding with the official Envoy protos). It refuses, with a TypeError, any
 * property it does not know (a shape extended later, an enum given by name):
 * the caller (check-answers.ts) then falls back to the proto-loader encoder, so an extension of
 * the answer can never be dropped silently.
 */
import type { WireCheckResponse } from './check-messages.js';

type Obj = Record<string, unknown>;

class Writer {
  readonly #parts: Buffer[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  #push(buf: Buffer): void {
    this.#parts.push(buf);
    this.#size += buf.length;
  }

  varint(n: number): void {
    const out: number[] = [];
    if (n < 0) {
      // int32/enum negatives are sign-extended to 10 bytes.
      let lo = n >>> 0;
      let hi = 0xffffffff;
      for (let i = 0; i < 9; i++) {
        out.push((lo & 0x7f) | 0x80);
        lo = ((lo >>> 7) | (hi << 25)) >>> 0;
        hi >>>= 7;
      }
      out.push(1);
    } else {
      while (n > 0x7f) {
        out.push((n & 0x7f) | 0x80);
        n = Math.floor(n / 128);
      }
      out.push(n);
    }
    this.#push(Buffer.from(out));
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  bytes(field: number, data: Buffer): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.#push(data);
  }

  string(field: number, s: string): void {
    this.bytes(field, Buffer.from(s, 'utf8'));
  }

  message(field: number, inner: Writer): void {
    this.bytes(field, inner.finish());
  }

  double(field: number, x: number): void {
    this.tag(field, 1);
    const buf = Buffer.alloc(8);
    buf.writeDoubleLE(x);
    this.#push(buf);
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts, this.#size);
  }
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function only(o: unknown, what: string, keys: readonly string[]): Obj {
  if (typeof o !== 'object' || o === null) throw new TypeError(`${what}: not an object`);
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw new TypeError(`${what}.${k}: not supported by the wire encoder`);
  }
  return o as Obj;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new TypeError(`${what}: not a string`);
  return v;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${what}: not an integer`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${what}: not a boolean`);
  return v;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new TypeError(`${what}: not an array`);
  return v;
}

/** google.rpc.Status */
function status(o: unknown): Writer {
  const s = only(o, 'status', ['code', 'message', 'details']);
  const w = new Writer();
  if (present(s.code)) {
    w.tag(1, 0);
    w.varint(int(s.code, 'status.code'));
  }
  if (present(s.message)) w.string(2, str(s.message, 'status.message'));
  if (present(s.details) && list(s.details, 'status.details').length > 0) {
    throw new TypeError('status.details: not supported by the wire encoder');
  }
  return w;
}

/** envoy.config.core.v3.HeaderValueOption */
function headerOption(o: unknown): Writer {
  const h = only(o, 'header option', ['header', 'append', 'append_action', 'keep_empty_value']);
  const w = new Writer();
  if (present(h.header)) {
    const hv = only(h.header, 'header', ['key', 'value', 'raw_value']);
    const inner = new Writer();
    if (present(hv.key)) inner.string(1, str(hv.key, 'header.key'));
    if (present(hv.value)) inner.string(2, str(hv.value, 'header.value'));
    if (present(hv.raw_value)) {
      if (!Buffer.isBuffer(hv.raw_value)) throw new TypeError('header.raw_value: not a Buffer');
      inner.bytes(3, hv.raw_value);
    }
    w.message(1, inner);
  }
  if (present(h.append)) {
    const a = only(h.append, 'append', ['value']);
    const inner = new Writer();
    if (present(a.value)) {
      inner.tag(1, 0);
      inner.varint(bool(a.value, 'append.value') ? 1 : 0);
    }
    w.message(2, inner);
  }
  if (present(h.append_action)) {
    w.tag(3, 0);
    w.varint(int(h.append_action, 'append_action'));
  }
  if (present(h.keep_empty_value)) {
    w.tag(4, 0);
    w.varint(bool(h.keep_empty_value, 'keep_empty_value') ? 1 : 0);
  }
  return w;
}

function headerOptions(w: Writer, field: number, v: unknown, what: string): void {
  if (!present(v)) return;
  for (const h of list(v, what)) w.message(field, headerOption(h));
}

function strings(w: Writer, field: number, v: unknown, what: string): void {
  if (!present(v)) return;
  for (const s of list(v, what)) w.string(field, str(s, what));
}

/** google.protobuf.Value (protobufjs names the well-known types' fields in camelCase). */
function value(o: unknown, depth: number): Writer {
  if (depth > 32) throw new TypeError('dynamic_metadata: nested too deeply');
  const x = only(o, 'value', ['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue']);
  const w = new Writer();
  if (present(x.nullValue)) {
    w.tag(1, 0);
    w.varint(int(x.nullValue, 'nullValue'));
  }
  if (present(x.numberValue)) {
    if (typeof x.numberValue !== 'number') throw new TypeError('numberValue: not a number');
    w.double(2, x.numberValue);
  }
  if (present(x.stringValue)) w.string(3, str(x.stringValue, 'stringValue'));
  if (present(x.boolValue)) {
    w.tag(4, 0);
    w.varint(bool(x.boolValue, 'boolValue') ? 1 : 0);
  }
  if (present(x.structValue)) w.message(5, struct(x.structValue, depth + 1));
  if (present(x.listValue)) {
    const l = only(x.listValue, 'listValue', ['values']);
    const inner = new Writer();
    if (present(l.values)) for (const item of list(l.values, 'values')) inner.message(1, value(item, depth + 1));
    w.message(6, inner);
  }
  return w;
}

/** google.protobuf.Struct */
function struct(o: unknown, depth = 0): Writer {
  const s = only(o, 'struct', ['fields']);
  const w = new Writer();
  if (present(s.fields)) {
    const fields = only(s.fields, 'struct.fields', Object.keys(s.fields as Obj));
    for (const [k, item] of Object.entries(fields)) {
      const entry = new Writer();
      entry.string(1, k);
      entry.message(2, value(item, depth));
      w.message(1, entry);
    }
  }
  return w;
}

/**
 * Encodes a CheckResponse. Throws TypeError on a shape it does not know
 * (callers fall back to the proto-loader encoder).
 */
export function encodeCheckResponse(res: WireCheckResponse): Buffer {
  const r = only(res, 'response', ['status', 'denied_response', 'ok_response', 'dynamic_metadata']);
  const w = new Writer();
  if (present(r.status)) w.message(1, status(r.status));
  if (present(r.denied_response)) {
    const d = only(r.denied_response, 'denied_response', ['status', 'headers', 'body']);
    const inner = new Writer();
    if (present(d.status)) {
      const st = only(d.status, 'denied_response.status', ['code']);
      const sw = new Writer();
      if (present(st.code)) {
        sw.tag(1, 0);
        sw.varint(int(st.code, 'denied_response.status.code'));
      }
      inner.message(1, sw);
    }
    headerOptions(inner, 2, d.headers, 'denied_response.headers');
    if (present(d.body)) inner.string(3, str(d.body, 'denied_response.body'));
    w.message(2, inner);
  }
  if (present(r.ok_response)) {
    const ok = only(r.ok_response, 'ok_response', [
      'headers',
      'dynamic_metadata',
      'headers_to_remove',
      'response_headers_to_add',
      'query_parameters_to_set',
      'query_parameters_to_remove',
    ]);
    const inner = new Writer();
    headerOptions(inner, 2, ok.headers, 'ok_response.headers');
    if (present(ok.dynamic_metadata)) inner.message(3, struct(ok.dynamic_metadata));
    strings(inner, 5, ok.headers_to_remove, 'ok_response.headers_to_remove');
    headerOptions(inner, 6, ok.response_headers_to_add, 'ok_response.response_headers_to_add');
    if (present(ok.query_parameters_to_set)) {
      for (const q of list(ok.query_parameters_to_set, 'query_parameters_to_set')) {
        const qp = only(q, 'query parameter', ['key', 'value']);
        const qw = new Writer();
        if (present(qp.key)) qw.string(1, str(qp.key, 'query parameter key'));
        if (present(qp.value)) qw.string(2, str(qp.value, 'query parameter value'));
        inner.message(7, qw);
      }
    }
    strings(inner, 8, ok.query_parameters_to_remove, 'ok_response.query_parameters_to_remove');
    w.message(3, inner);
  }
  if (present(r.dynamic_metadata)) w.message(4, struct(r.dynamic_metadata));
  return w.finish();
}
