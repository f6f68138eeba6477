/**
 * HTTP/2 clients for transport and abuse tests:
 * - `h2Call`: one gRPC call on a node:http2 session, with request bytes sent
 *   exactly as given (split, truncated, several messages), returning what came
 *   back (HTTP status, headers, trailers, body).
 * - `RawH2`: a connection that writes HTTP/2 frames itself over a socket, so
 *   it can do what no well-behaved client does (open streams and never send a
 *   body, reset them at once, flood PING or SETTINGS) at full speed.
 */
import http2 from 'node:http2';
import net from 'node:net';

export interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a Trailers-Only answer. */
  grpcStatus: number | undefined;
  grpcMessage: string | undefined;
  /** RST_STREAM code the stream ended with (0 when it ended normally). */
  rstCode: number;
}

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** A 5-byte gRPC prefix with the given flags byte, then the message. */
export function framed(msg: Buffer, flags = 0, declaredLength = msg.length): Buffer {
  const out = Buffer.alloc(5 + msg.length);
  out[0] = flags;
  out.writeUInt32BE(declaredLength, 1);
  msg.copy(out, 5);
  return out;
}

/** Sends `chunks` one write each (one DATA frame each, when small), then END_STREAM. */
export function h2Call(
  session: http2.ClientHttp2Session,
  chunks: Buffer[],
  headers: http2.OutgoingHttpHeaders = {},
  path = CHECK_PATH,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const all: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers };
    // A header given as undefined is left out.
    for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k];
    const req = session.request(all);
    let status = 0;
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const body: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h;
    });
    req.on('trailers', (h) => (trailers = h));
    req.on('data', (c: Buffer) => body.push(c));
    req.on('error', (err: Error & { code?: string }) => {
      // A reset after a complete answer is not a failure of the call.
      if (err.code !== 'ERR_HTTP2_STREAM_ERROR') reject(err);
    });
    req.on('close', () => {
      const src = trailers ?? resHeaders;
      const gs = src['grpc-status'];
      resolve({
        status,
        headers: resHeaders,
        trailers,
        body: Buffer.concat(body),
        grpcStatus: gs === undefined ? undefined : Number(gs),
        grpcMessage: src['grpc-message'] as string | undefined,
        rstCode: req.rstCode ?? 0,
      });
    });
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** Opens a node:http2 session and waits until it is connected. */
export async function h2Session(port: number): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  return s;
}

// --- raw frames -----------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;

function frameBytes(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  payload.copy(out, 9);
  return out;
}

/** HPACK literal header fields without indexing (no Huffman): stateless, so one block serves every stream. */
function hpack(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    if (n.length > 126 || v.length > 126) throw new RangeError('header too long for this encoder');
    parts.push(Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v);
  }
  return Buffer.concat(parts);
}

const CHECK_HEADERS = hpack([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', CHECK_PATH],
  [':authority', 'authz'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
]);

/** What the server sent on a RawH2 connection. */
export interface RawStats {
  /** SETTINGS frames (not ACKs) from the server: 1 once the connection is established. */
  settings: number;
  headers: number;
  rstStreams: number;
  pingAcks: number;
  goaway: { errorCode: number; lastStreamId: number } | undefined;
  closed: boolean;
}

export class RawH2 {
  readonly stats: RawStats = { settings: 0, headers: 0, rstStreams: 0, pingAcks: 0, goaway: undefined, closed: false };
  readonly #socket: net.Socket;
  #nextId = 1;
  #inbuf: Buffer = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (d: Buffer) => this.#read(d));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.stats.closed = true;
        resolve();
      }),
    );
  }

  /** Connects and sends the preface and an empty SETTINGS frame. */
  static connect(port: number): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        const c = new RawH2(socket);
        socket.write(Buffer.concat([PREFACE, frameBytes(FrameType.SETTINGS, 0, 0, Buffer.alloc(0))]));
        resolve(c);
      });
      socket.once('error', reject);
    });
  }

  #read(d: Buffer): void {
    this.#inbuf = this.#inbuf.length === 0 ? d : Buffer.concat([this.#inbuf, d]);
    let buf = this.#inbuf;
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3] as number;
      const flags = buf[4] as number;
      const payload = buf.subarray(9, 9 + len);
      if (type === FrameType.SETTINGS && (flags & 1) === 0) {
        this.stats.settings++;
        this.#write(frameBytes(FrameType.SETTINGS, 1, 0, Buffer.alloc(0)));
      }
      else if (type === FrameType.HEADERS) this.stats.headers++;
      else if (type === FrameType.RST_STREAM) this.stats.rstStreams++;
      else if (type === FrameType.PING && (flags & 1) === 1) this.stats.pingAcks++;
      else if (type === FrameType.GOAWAY) this.stats.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, errorCode: payload.readUInt32BE(4) };
      buf = buf.subarray(9 + len);
    }
    this.#inbuf = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  #write(b: Buffer): boolean {
    if (this.#socket.destroyed) return false;
    return this.#socket.write(b);
  }

  /** Resolves when the socket can take more (backpressure), or at once. */
  drained(): Promise<void> {
    if (!this.#socket.writableNeedDrain || this.#socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        resolve();
      };
      this.#socket.once('drain', done);
      this.#socket.once('close', done);
    });
  }

  /** Opens `n` Check streams: HEADERS (END_HEADERS), no body, no END_STREAM. Returns their ids. */
  openStreams(n: number, thenReset = false): number[] {
    const ids: number[] = [];
    const frames: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.#nextId;
      this.#nextId += 2;
      ids.push(id);
      frames.push(frameBytes(FrameType.HEADERS, 0x4, id, CHECK_HEADERS));
      if (thenReset) frames.push(frameBytes(FrameType.RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8])));
    }
    this.#write(Buffer.concat(frames));
    return ids;
  }

  /** PING frames (not ACKs), each with an 8-byte payload. */
  ping(n: number): void {
    const one = frameBytes(FrameType.PING, 0, 0, Buffer.alloc(8));
    this.#write(Buffer.concat(Array.from({ length: n }, () => one)));
  }

  /** SETTINGS frames, each setting INITIAL_WINDOW_SIZE. */
  settings(n: number): void {
    const payload = Buffer.alloc(6);
    payload.writeUInt16BE(4, 0);
    payload.writeUInt32BE(65535, 2);
    const one = frameBytes(FrameType.SETTINGS, 0, 0, payload);
    this.#write(Buffer.concat(Array.from({ length: n }, () => one)));
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
