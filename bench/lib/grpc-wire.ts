/** The raw gRPC-over-HTTP/2 request the load generators send (what h2load sends too). */
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

export const REQUEST_HEADERS = {
  ':method': 'POST',
  ':path': CHECK_PATH,
  ':scheme': 'http',
  'content-type': 'application/grpc',
  te: 'trailers',
} as const;

/** 5-byte gRPC frame header (uncompressed) + message. */
export function frame(msg: Buffer): Buffer {
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** The message inside one uncompressed gRPC frame, or undefined when the bytes are not exactly one frame. */
export function unframe(buf: Buffer): Buffer | undefined {
  if (buf.length < 5 || buf[0] !== 0) return undefined;
  const n = buf.readUInt32BE(1);
  return buf.length === 5 + n ? buf.subarray(5) : undefined;
}
