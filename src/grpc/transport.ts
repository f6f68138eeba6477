/**
 * gRPC over HTTP/2 on node:http2, for the server side only: request framing
 * (length-prefixed messages, compression), response headers and trailers,
 * status codes, deadlines, and the bounds an unauthenticated port needs.
 *
 * It knows paths and bytes, never protobuf: a handler gets the request message
 * as a Buffer and answers with an encoded message (unary) or a sequence of them
 * (server streaming). Follows gRPC's PROTOCOL-HTTP2.md:
 * - `content-type` must be `application/grpc` (optionally `+proto` or with
 *   parameters); anything else is HTTP 415, method other than POST HTTP 405.
 * - `te: trailers` is required (INTERNAL otherwise, as C-core's server does).
 * - `grpc-timeout` becomes a deadline (DEADLINE_EXCEEDED once passed).
 * - `grpc-encoding` identity, gzip and deflate are accepted; another is
 *   UNIMPLEMENTED with `grpc-accept-encoding`. A message whose compressed flag
 *   is set without an encoding, or with a reserved flag bit, is INTERNAL.
 * - A message over 4 MiB, compressed or decompressed, is RESOURCE_EXHAUSTED.
 * - A unary call with no message, a truncated one, or two is INTERNAL.
 * - An error before any answer is a Trailers-Only response; `grpc-message` is
 *   percent-encoded.
 * Answers are never compressed.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import zlib from 'node:zlib';

/** gRPC status codes used here (the full table lives in the gRPC spec). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/**
 * Bounds on what one peer can make the process hold. The port needs no
 * credential, so every one of them is reached by an attacker first; the
 * defaults leave Envoy (a few connections, many multiplexed streams, each
 * request a few hundred bytes sent at once) far from all of them.
 */
export interface TransportLimits {
  /** Largest request message, compressed or not (gRPC's default, 4 MiB). */
  maxMessageBytes: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams open at once on one connection. */
  maxConcurrentStreams: number;
  /** Streams open at once on the whole server; past it the oldest one still waiting for its request is cancelled. */
  maxOpenStreams: number;
  /** Connections at once; further ones are closed on accept. */
  maxConnections: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: Envoy's ext_authz call carries the request headers in the body, not here. */
  maxHeaderListBytes: number;
  /** nghttp2's own buffers per connection (MB, node's maxSessionMemory). */
  maxSessionMemoryMb: number;
  /** Request bytes buffered (not yet a whole message) per connection, and on the whole server. */
  maxBufferedBytesPerConnection: number;
  maxBufferedBytes: number;
  /** A stream whose request is not complete this long after its headers is cancelled. */
  requestTimeoutMs: number;
  /** A connection with no frame at all for this long is closed with GOAWAY. */
  idleConnectionMs: number;
  /**
   * Abuse budgets per connection, as token buckets (burst, refill per second):
   * streams reset by the peer before their request was complete (rapid reset),
   * PING frames and SETTINGS frames. Spent → GOAWAY ENHANCE_YOUR_CALM.
   */
  resetBurst: number;
  resetPerSecond: number;
  pingBurst: number;
  pingPerSecond: number;
  settingsBurst: number;
  settingsPerSecond: number;
}

export const DEFAULT_LIMITS: TransportLimits = Object.freeze({
  maxMessageBytes: 4 * 1024 * 1024,
  maxConcurrentStreams: 100,
  maxOpenStreams: 10_000,
  maxConnections: 2048,
  maxHeaderListBytes: 16 * 1024,
  maxSessionMemoryMb: 10,
  maxBufferedBytesPerConnection: 16 * 1024 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  idleConnectionMs: 5 * 60_000,
  resetBurst: 200,
  resetPerSecond: 100,
  pingBurst: 200,
  pingPerSecond: 100,
  settingsBurst: 100,
  settingsPerSecond: 20,
});

/** One server call as a handler sees it. */
export interface ServerCall {
  /** Request headers (metadata). */
  readonly headers: http2.IncomingHttpHeaders;
  /** True once the call is over (answered, failed, cancelled or timed out). */
  readonly done: boolean;
  /** Unary answer, or one message of a server stream: a length-prefixed message (see frame()). */
  send(frame: Buffer): void;
  /** Ends the call with a status (OK ends a stream normally). */
  end(code: number, message?: string): void;
  /** Told once if the call ends without the handler ending it (cancel, deadline, drain). */
  onCancel?: () => void;
}

export interface Method {
  /** Unary: one answer then OK. Server streaming: any number of send(), then end(). */
  readonly streaming: boolean;
  handle(request: Buffer, call: ServerCall): void;
}

export interface TransportOptions {
  /** `/package.Service/Method` → handler. */
  methods: ReadonlyMap<string, Method>;
  limits?: Partial<TransportLimits>;
  /** Told of abuse that closed a connection (for a log line). */
  onAbuse?: (what: string) => void;
  /** Serve TLS (h2 ALPN only, TLS 1.2+) instead of h2c; with `ca`, clients need a certificate it signed. */
  tls?: TransportTls;
}

/** PEM material of the TLS server (see config/grpc-tls.ts). */
export interface TransportTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer | undefined;
}

/** The secure-context part of the server options: set at creation and again on each reload. */
function secureContextOptions(t: TransportTls): tls.SecureContextOptions {
  return { cert: t.cert, key: t.key, ca: t.ca, minVersion: 'TLSv1.2' };
}

const ACCEPT_ENCODING = 'identity,deflate,gzip';
const ENHANCE_YOUR_CALM = http2.constants.NGHTTP2_ENHANCE_YOUR_CALM;
const CANCEL = http2.constants.NGHTTP2_CANCEL;
const REFUSED_STREAM = http2.constants.NGHTTP2_REFUSED_STREAM;

/** Header values of an answer are built once. */
const OK_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });
const RESPOND_OPTIONS = Object.freeze({ waitForTrailers: true });

/** Percent-encodes a grpc-message value: bytes outside printable ASCII, and '%'. */
export function encodeGrpcMessage(msg: string): string {
  let plain = true;
  for (let i = 0; i < msg.length; i++) {
    const c = msg.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return msg;
  let out = '';
  for (const b of Buffer.from(msg, 'utf8')) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}

/**
 * `grpc-timeout`: 1 to 8 digits and a unit (H M S m u n) → milliseconds;
 * undefined when malformed.
 */
export function parseGrpcTimeout(v: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1000;
    case 'm':
      return n;
    case 'u':
      return n / 1000;
    default:
      return n / 1_000_000;
  }
}

/** A token bucket: `take()` false once the burst is spent faster than the refill. */
class Budget {
  #tokens: number;
  #at = performance.now();
  constructor(
    readonly burst: number,
    readonly perSecond: number,
  ) {
    this.#tokens = burst;
  }
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) * this.perSecond) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Per-connection state. */
class Connection {
  buffered = 0;
  readonly resets: Budget;
  readonly pings: Budget;
  readonly settings: Budget;
  constructor(
    readonly session: http2.ServerHttp2Session,
    l: TransportLimits,
  ) {
    this.resets = new Budget(l.resetBurst, l.resetPerSecond);
    this.pings = new Budget(l.pingBurst, l.pingPerSecond);
    this.settings = new Budget(l.settingsBurst, l.settingsPerSecond);
  }
}

const enum Phase {
  /** Waiting for (the rest of) the request message. */
  Reading,
  /** Request handed to the handler; waiting for its answer. */
  Handling,
  /** Over. */
  Done,
}

/** One stream. Implements ServerCall for the handler. */
class Call implements ServerCall {
  phase = Phase.Reading;
  /** Request bytes received so far, while they are not a whole message. */
  #chunks: Buffer[] | undefined;
  #have = 0;
  /** Bytes of the whole frame (prefix included), once the prefix is known. */
  #want = 0;
  #message: Buffer | undefined;
  #headersSent = false;
  #timer: NodeJS.Timeout | undefined;
  /** performance.now() at the headers, for the request timeout sweep. */
  readonly openedAt = performance.now();
  onCancel?: () => void;

  constructor(
    readonly transport: GrpcTransport,
    readonly conn: Connection,
    readonly stream: http2.ServerHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
    readonly method: Method,
    readonly encoding: string | undefined,
    deadlineMs: number | undefined,
  ) {
    if (deadlineMs !== undefined) {
      this.#timer = setTimeout(() => this.fail(Status.DEADLINE_EXCEEDED, 'deadline exceeded'), Math.max(0, deadlineMs));
    }
  }

  get done(): boolean {
    return this.phase === Phase.Done;
  }

  /** A DATA chunk of the request. */
  data(chunk: Buffer): void {
    if (this.phase !== Phase.Reading) return;
    if (this.#message !== undefined) {
      this.fail(Status.INTERNAL, 'unary call with more than one request message');
      return;
    }
    // Fast path: the whole frame in one chunk, nothing buffered before.
    if (this.#chunks === undefined && chunk.length >= 5) {
      const len = chunk.readUInt32BE(1);
      if (chunk.length === 5 + len) {
        if (this.#checkPrefix(chunk[0] as number, len)) this.#message = chunk;
        return;
      }
    }
    const l = this.transport.limits;
    if (this.conn.buffered + chunk.length > l.maxBufferedBytesPerConnection || this.transport.buffered + chunk.length > l.maxBufferedBytes) {
      this.fail(Status.RESOURCE_EXHAUSTED, 'too many request bytes buffered');
      return;
    }
    const before = this.#have;
    (this.#chunks ??= []).push(chunk);
    this.#have += chunk.length;
    this.conn.buffered += chunk.length;
    this.transport.buffered += chunk.length;
    if (this.#have < 5) return;
    if (before < 5) {
      // The 5-byte prefix is complete now (it may span several DATA frames).
      const head = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#have);
      if (this.#chunks.length > 1) this.#chunks = [head];
      this.#want = 5 + head.readUInt32BE(1);
      if (!this.#checkPrefix(head[0] as number, this.#want - 5)) return;
    }
    if (this.#have > this.#want) {
      this.fail(Status.INTERNAL, 'unary call with more than one request message');
    } else if (this.#have === this.#want) {
      const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#have);
      this.#release();
      this.#message = all;
    }
  }

  /** Validates a frame's flags and length; fails the call and returns false when they are refused. */
  #checkPrefix(flags: number, len: number): boolean {
    if ((flags & 0xfe) !== 0) {
      this.fail(Status.INTERNAL, 'reserved flag bits set in a message frame');
      return false;
    }
    if (flags === 1 && this.encoding === undefined) {
      this.fail(Status.INTERNAL, 'compressed flag set without grpc-encoding');
      return false;
    }
    if (len > this.transport.limits.maxMessageBytes) {
      this.fail(Status.RESOURCE_EXHAUSTED, `request message larger than ${this.transport.limits.maxMessageBytes} bytes`);
      return false;
    }
    return true;
  }

  #release(): void {
    if (this.#chunks !== undefined) {
      this.conn.buffered -= this.#have;
      this.transport.buffered -= this.#have;
      this.#chunks = undefined;
      this.#have = 0;
    }
  }

  /** Ends the call with a status (the handler's side). */
  end(code: number, message?: string): void {
    this.#finish(code, message);
  }

  /** END_STREAM of the request: decode (decompress) and hand over. */
  requestEnded(): void {
    if (this.phase !== Phase.Reading) return;
    const frame = this.#message;
    if (frame === undefined) {
      this.fail(Status.INTERNAL, this.#have === 0 ? 'request without a message' : 'truncated request message');
      return;
    }
    this.phase = Phase.Handling;
    this.transport.waiting.delete(this);
    const body = frame.subarray(5);
    if (frame[0] === 1) {
      this.#inflate(body);
      return;
    }
    this.#dispatch(body);
  }

  #inflate(body: Buffer): void {
    const opts = { maxOutputLength: this.transport.limits.maxMessageBytes };
    const done = (err: Error | null, out: Buffer) => {
      if (this.phase !== Phase.Handling) return;
      if (err !== null) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          this.fail(Status.RESOURCE_EXHAUSTED, `decompressed request message larger than ${opts.maxOutputLength} bytes`);
        } else {
          this.fail(Status.INTERNAL, `request message not valid ${this.encoding}`);
        }
        return;
      }
      this.#dispatch(out);
    };
    if (this.encoding === 'gzip') zlib.gunzip(body, opts, done);
    else zlib.inflate(body, opts, done);
  }

  #dispatch(body: Buffer): void {
    try {
      this.method.handle(body, this);
    } catch {
      if (this.phase !== Phase.Done) this.fail(Status.INTERNAL, 'handler failed');
    }
  }

  send(frame: Buffer): void {
    if (this.phase === Phase.Done || this.stream.destroyed) return;
    const stream = this.stream;
    if (!this.#headersSent) {
      this.#headersSent = true;
      stream.respond(OK_HEADERS, RESPOND_OPTIONS);
    }
    if (this.method.streaming) {
      stream.write(frame);
      return;
    }
    this.phase = Phase.Done;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    stream.once('wantTrailers', sendOkTrailers);
    stream.end(frame);
  }

  /** Ends the call with an error status (also used for the handler's end(code)). */
  fail(code: number, message: string): void {
    this.#finish(code, message);
  }

  /**
   * Marks the call done and gives back what it held (its slot, its place
   * among the streams waiting for a body, its timer). Answers whether it was
   * still reading its request, or undefined when it was already done.
   */
  #settle(): boolean | undefined {
    if (this.phase === Phase.Done) return undefined;
    const wasReading = this.phase === Phase.Reading;
    this.phase = Phase.Done;
    this.#release();
    if (wasReading) this.transport.waiting.delete(this);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    return wasReading;
  }

  #finish(code: number, message?: string): void {
    const wasReading = this.#settle();
    if (wasReading === undefined) return;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    if (!this.#headersSent) {
      // Trailers-Only: status in the only HEADERS frame.
      this.#headersSent = true;
      const h: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code) };
      if (message !== undefined) h['grpc-message'] = encodeGrpcMessage(message);
      if (code === Status.UNIMPLEMENTED) h['grpc-accept-encoding'] = ACCEPT_ENCODING;
      stream.respond(h, { endStream: true });
      // A request still being sent is not read any further.
      if (wasReading) stream.close(http2.constants.NGHTTP2_NO_ERROR);
      return;
    }
    const t: http2.OutgoingHttpHeaders =
      code === Status.OK && message === undefined ? OK_TRAILERS : { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message ?? '') };
    stream.once('wantTrailers', () => stream.sendTrailers(t));
    stream.end();
  }

  /** The stream closed under us (peer reset, connection gone, request timeout). */
  closed(): void {
    if (this.#settle() === undefined) return;
    this.onCancel?.();
  }
}

/** The HTTP/2 server carrying gRPC. */
export class GrpcTransport {
  readonly limits: TransportLimits;
  readonly #methods: ReadonlyMap<string, Method>;
  readonly #server: http2.Http2Server | http2.Http2SecureServer;
  readonly #connections = new Set<Connection>();
  readonly #bySession = new WeakMap<http2.ServerHttp2Session, Connection>();
  /** Calls whose request is not complete yet, oldest first. */
  readonly waiting = new Set<Call>();
  /** Calls not over yet (for drain and the open-stream bound). */
  readonly #open = new Set<Call>();
  /** Request bytes buffered across all connections. */
  buffered = 0;
  #draining = false;
  #sweep: NodeJS.Timeout | undefined;
  readonly #onAbuse: (what: string) => void;
  #drained: (() => void) | undefined;

  constructor(opts: TransportOptions) {
    const l = (this.limits = Object.freeze({ ...DEFAULT_LIMITS, ...opts.limits }));
    this.#methods = opts.methods;
    this.#onAbuse = opts.onAbuse ?? (() => {});
    const options: http2.ServerOptions = {
      maxSessionMemory: l.maxSessionMemoryMb,
      // PINGs and SETTINGS the server itself has sent and not seen acknowledged.
      maxOutstandingPings: 10,
      maxSettings: 32,
      settings: {
        maxConcurrentStreams: l.maxConcurrentStreams,
        maxHeaderListSize: l.maxHeaderListBytes,
        enablePush: false,
      },
      maxHeaderListPairs: 128,
    };
    // Only the server's creation differs with TLS: sessions and streams take the same path.
    this.#server =
      opts.tls === undefined
        ? http2.createServer(options)
        : http2.createSecureServer({
            ...options,
            ...secureContextOptions(opts.tls),
            requestCert: opts.tls.ca !== undefined,
            rejectUnauthorized: opts.tls.ca !== undefined,
            allowHTTP1: false,
            ALPNProtocols: ['h2'],
          });
    // A TLS client that negotiated no h2 (no ALPN at all): refused at once.
    this.#server.on('unknownProtocol', (socket: Duplex) => socket.destroy());
    this.#server.maxConnections = l.maxConnections;
    this.#server.on('session', (s) => this.#session(s));
    this.#server.on('stream', (stream, headers) => this.#stream(stream, headers));
    // Sockets that never speak HTTP/2 (or TLS junk) are dropped by node after
    // unknownProtocolTimeout; socket errors are the peer's problem.
    this.#server.on('sessionError', () => {});
  }

  /** Binds; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        this.#sweep = setInterval(() => this.#expire(), Math.min(1000, Math.max(50, this.limits.requestTimeoutMs / 4)));
        this.#sweep.unref();
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * New certificate material for connections accepted from now on (a TLS
   * server only); connections already open keep theirs. Throws on bad material.
   */
  setSecureContext(t: TransportTls): void {
    if (!('setSecureContext' in this.#server)) throw new Error('not a TLS server');
    this.#server.setSecureContext(secureContextOptions(t));
  }

  /** Open connections (for tests and metrics). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Calls not yet over. */
  get openCalls(): number {
    return this.#open.size;
  }

  #session(session: http2.ServerHttp2Session): void {
    const conn = new Connection(session, this.limits);
    this.#connections.add(conn);
    this.#bySession.set(session, conn);
    session.on('error', () => {});
    session.on('close', () => this.#connections.delete(conn));
    session.setTimeout(this.limits.idleConnectionMs, () => {
      if (!session.closed) session.close();
    });
    session.on('ping', () => {
      if (!conn.pings.take()) this.#calm(conn, 'PING flood');
    });
    session.on('remoteSettings', () => {
      if (!conn.settings.take()) this.#calm(conn, 'SETTINGS flood');
    });
    if (this.#draining) session.close();
  }

  /** Abuse: GOAWAY ENHANCE_YOUR_CALM, then the connection is dropped. */
  #calm(conn: Connection, what: string): void {
    const s = conn.session;
    if (s.destroyed) return;
    this.#onAbuse(what);
    // The final GOAWAY carries the code; node flushes it before closing the socket.
    s.destroy(ENHANCE_YOUR_CALM as unknown as Error);
  }

  #stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', noop);
    const session = stream.session;
    const conn = session === undefined ? undefined : this.#bySession.get(session as http2.ServerHttp2Session);
    if (conn === undefined) {
      stream.close(CANCEL);
      return;
    }
    if (headers[':method'] !== 'POST') {
      stream.respond({ ':status': 405 }, { endStream: true });
      return;
    }
    const ct = headers['content-type'];
    if (ct === undefined || !isGrpcContentType(ct)) {
      stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: false });
      stream.end('unsupported content-type');
      return;
    }
    if (this.#draining) {
      trailersOnly(stream, Status.UNAVAILABLE, 'server is shutting down');
      return;
    }
    if (headers.te !== 'trailers') {
      trailersOnly(stream, Status.INTERNAL, 'missing "te: trailers"');
      return;
    }
    const method = this.#methods.get(headers[':path'] as string);
    if (method === undefined) {
      trailersOnly(stream, Status.UNIMPLEMENTED, `unknown method ${String(headers[':path'])}`);
      return;
    }
    let encoding = headers['grpc-encoding'] as string | undefined;
    if (encoding === 'identity') encoding = undefined;
    else if (encoding !== undefined && encoding !== 'gzip' && encoding !== 'deflate') {
      trailersOnly(stream, Status.UNIMPLEMENTED, `unsupported grpc-encoding ${encoding}`);
      return;
    }
    let deadline: number | undefined;
    const t = headers['grpc-timeout'];
    if (t !== undefined) {
      deadline = parseGrpcTimeout(t as string);
      if (deadline === undefined) {
        trailersOnly(stream, Status.INTERNAL, 'malformed grpc-timeout');
        return;
      }
    }
    // The server-wide bound: the oldest call still waiting for its request
    // makes room (an honest request is complete within milliseconds).
    if (this.#open.size >= this.limits.maxOpenStreams) {
      const oldest = this.waiting.values().next().value as Call | undefined;
      if (oldest === undefined) {
        stream.close(REFUSED_STREAM);
        return;
      }
      oldest.fail(Status.RESOURCE_EXHAUSTED, 'too many open streams');
    }
    const call = new Call(this, conn, stream, headers, method, encoding, deadline);
    this.#open.add(call);
    this.waiting.add(call);
    stream.on('data', (chunk: Buffer) => call.data(chunk));
    stream.on('end', () => call.requestEnded());
    stream.on('close', () => {
      this.#open.delete(call);
      if (call.phase === Phase.Reading && stream.rstCode !== undefined && stream.rstCode !== 0) {
        // Reset by the peer before its request was complete: rapid reset's shape.
        if (!conn.resets.take()) this.#calm(conn, 'rapid reset');
      }
      call.closed();
      if (this.#drained !== undefined && this.#open.size === 0) this.#drained();
    });
  }

  /** Cancels calls whose request has not arrived within requestTimeoutMs. */
  #expire(): void {
    const cutoff = performance.now() - this.limits.requestTimeoutMs;
    for (const call of this.waiting) {
      if (call.openedAt > cutoff) break;
      call.fail(Status.DEADLINE_EXCEEDED, 'request not received in time');
    }
  }

  /**
   * Stops accepting connections and streams (GOAWAY on every connection),
   * lets open calls finish for up to `graceMs`, then closes what is left.
   * `beforeClose` runs first (health answers NOT_SERVING, Watch streams end).
   */
  drain(graceMs: number): Promise<void> {
    this.#draining = true;
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const c of this.#connections) c.session.close();
    const finished = new Promise<boolean>((resolve) => {
      if (this.#open.size === 0) resolve(true);
      else this.#drained = () => resolve(true);
      setTimeout(() => resolve(false), graceMs).unref();
    });
    return finished.then(async (clean) => {
      this.#drained = undefined;
      if (!clean) for (const c of this.#connections) c.session.destroy();
      await closed;
    });
  }

  /** True once drain() has begun. */
  get draining(): boolean {
    return this.#draining;
  }
}

function noop(): void {}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** A message with its 5-byte prefix (uncompressed), as send() takes it. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

function isGrpcContentType(ct: string): boolean {
  if (!ct.startsWith('application/grpc')) return false;
  const rest = ct.slice(16);
  return rest === '' || rest === '+proto' || rest.startsWith(';') || rest.startsWith('+proto;');
}

function trailersOnly(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  const h: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) };
  if (code === Status.UNIMPLEMENTED) h['grpc-accept-encoding'] = ACCEPT_ENCODING;
  stream.respond(h, { endStream: true });
  // The request body, if any, is not read.
  stream.close(http2.constants.NGHTTP2_NO_ERROR);
}
