/**
 * The CheckRequest Envoy sends for one HTTP request, built from the options of
 * `consumer-authz check`, and its protobuf encoding.
 *
 * Filled the way Envoy's ext_authz filter fills it (AttributeContext docs):
 * `request.http` carries method, path (with the query string; `query` and
 * `fragment` stay empty), host (= `:authority`), scheme, protocol and the
 * headers with lower-case names, pseudo-headers included; repeated headers are
 * joined with "," (cookies with "; "). Source and destination are socket
 * addresses; `context_extensions.route` names the route when one is given.
 *
 * The encoder is written against the field numbers of the official protos
 * (envoy/service/auth/v3/attribute_context.proto, envoy/config/core/v3/
 * address.proto): the service's own proto subset has no `Peer.address`.
 */
import { randomUUID } from 'node:crypto';

/** What the user asked to send. */
export interface CheckInput {
  method: string;
  /** Path with the raw query string, as in `:path`. */
  path: string;
  /** `:authority`. */
  host: string;
  /** Extra headers in the order given; names as typed (lower-cased here). */
  headers: ReadonlyArray<readonly [string, string]>;
  /** `context_extensions.route`, or undefined for none. */
  route?: string;
}

export interface SocketAddress {
  address: string;
  port_value: number;
}

/** The CheckRequest as an object with the official field names (what `--json` would show). */
export interface CheckRequestObject {
  attributes: {
    source: { address: { socket_address: SocketAddress } };
    destination: { address: { socket_address: SocketAddress } };
    request: {
      time: { seconds: number; nanos: number };
      http: {
        id: string;
        method: string;
        headers: Record<string, string>;
        path: string;
        host: string;
        scheme: string;
        protocol: string;
      };
    };
    context_extensions: Record<string, string>;
  };
}

/** A header name as HTTP allows it (RFC 9110 token). */
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class CheckInputError extends Error {}

/** Parses one `-H 'name: value'` (curl's form); the value loses its leading and trailing blanks. */
export function parseHeaderOption(s: string): [string, string] {
  const colon = s.indexOf(':');
  if (colon <= 0) throw new CheckInputError(`-H ${JSON.stringify(s)}: write it as 'name: value'`);
  const name = s.slice(0, colon).trim().toLowerCase();
  const value = s.slice(colon + 1).trim();
  if (!TOKEN_RE.test(name)) throw new CheckInputError(`-H ${JSON.stringify(s)}: "${name}" is not an HTTP header name`);
  if (/[\r\n\0]/.test(value)) throw new CheckInputError(`-H ${name}: the value may not hold CR, LF or NUL`);
  return [name, value];
}

/** Checks the request line parts; throws {@link CheckInputError} naming the option. */
export function validateInput(input: CheckInput): void {
  if (!TOKEN_RE.test(input.method)) throw new CheckInputError(`--method ${JSON.stringify(input.method)}: not an HTTP method`);
  if (!input.path.startsWith('/') || /[\s\0]/.test(input.path)) {
    throw new CheckInputError(`--path ${JSON.stringify(input.path)}: must start with "/" and hold no spaces (percent-encode them)`);
  }
  if (input.host === '' || /[\s\0/]/.test(input.host)) throw new CheckInputError(`--host ${JSON.stringify(input.host)}: not a host[:port]`);
  if (input.route !== undefined && input.route === '') throw new CheckInputError('--route: give the route name');
}

/** The CheckRequest Envoy would send for `input` (validated first). */
export function buildCheckRequest(input: CheckInput, now = Date.now()): CheckRequestObject {
  validateInput(input);
  const method = input.method.toUpperCase();
  const id = randomUUID();
  let host = input.host;
  const extra: Record<string, string> = {};
  for (const [name, value] of input.headers) {
    if (name === 'host') {
      host = value; // an HTTP/1.1 Host header becomes :authority in Envoy
      continue;
    }
    const prev = extra[name];
    extra[name] = prev === undefined ? value : `${prev}${name === 'cookie' ? '; ' : ','}${value}`;
  }
  const headers: Record<string, string> = {
    ':authority': host,
    ':method': method,
    ':path': input.path,
    ':scheme': 'http',
    'user-agent': 'consumer-authz-check',
    accept: '*/*',
    'x-forwarded-proto': 'http',
    'x-request-id': id,
    ...extra,
  };
  return {
    attributes: {
      source: { address: { socket_address: { address: '127.0.0.1', port_value: 54321 } } },
      destination: { address: { socket_address: { address: '127.0.0.1', port_value: 10000 } } },
      request: {
        time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 },
        http: { id, method, headers, path: input.path, host, scheme: 'http', protocol: 'HTTP/1.1' },
      },
      context_extensions: input.route === undefined ? {} : { route: input.route },
    },
  };
}

// --- protobuf encoding -----------------------------------------------------

/** A minimal protobuf writer: varints, length-delimited fields, nested messages. */
class Writer {
  readonly #parts: Buffer[] = [];

  #varint(n: number): void {
    const bytes: number[] = [];
    let v = n;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.#parts.push(Buffer.from(bytes));
  }

  uint(field: number, n: number): this {
    if (n === 0) return this; // proto3 default: not on the wire
    this.#varint(field * 8);
    this.#varint(n);
    return this;
  }

  bytes(field: number, b: Buffer): this {
    this.#varint(field * 8 + 2);
    this.#varint(b.length);
    this.#parts.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return s === '' ? this : this.bytes(field, Buffer.from(s, 'utf8'));
  }

  message(field: number, build: (w: Writer) => void): this {
    const w = new Writer();
    build(w);
    return this.bytes(field, w.finish());
  }

  map(field: number, m: Record<string, string>): this {
    for (const [k, v] of Object.entries(m)) this.message(field, (e) => e.string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

function peer(w: Writer, a: SocketAddress): void {
  // Peer.address (1) → Address.socket_address (1) → SocketAddress {protocol 1 = TCP (0), address 2, port_value 3}
  w.message(1, (addr) => addr.message(1, (s) => s.string(2, a.address).uint(3, a.port_value)));
}

/** Protobuf bytes of a CheckRequest (field numbers of the official Envoy protos). */
export function encodeCheckRequest(req: CheckRequestObject): Buffer {
  const a = req.attributes;
  const h = a.request.http;
  return new Writer()
    .message(1, (attrs) =>
      attrs
        .message(1, (w) => peer(w, a.source.address.socket_address))
        .message(2, (w) => peer(w, a.destination.address.socket_address))
        .message(4, (r) =>
          r
            .message(1, (t) => t.uint(1, a.request.time.seconds).uint(2, a.request.time.nanos))
            .message(2, (w) =>
              w
                .string(1, h.id)
                .string(2, h.method)
                .map(3, h.headers)
                .string(4, h.path)
                .string(5, h.host)
                .string(6, h.scheme)
                .string(10, h.protocol),
            ),
        )
        .map(10, a.context_extensions),
    )
    .finish();
}
