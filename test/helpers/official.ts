/**
 * Serializers of the OFFICIAL Envoy ext_authz protos (from @grpc/grpc-js-xds
 * deps/) and of the service's own proto subset, for codec equivalence tests
 * and the benchmark: bytes built here are what Envoy puts on the wire.
 */
import type * as grpc from '@grpc/grpc-js';
import { authPackage } from '../../src/grpc/protos.js';
import { OFFICIAL_AUTH_DEF } from './envoy.js';

const CHECK = 'envoy.service.auth.v3.Authorization';

const official = OFFICIAL_AUTH_DEF;
const officialCheck = (official[CHECK] as grpc.ServiceDefinition).Check as grpc.MethodDefinition<unknown, unknown>;
const ownCheck = (authPackage()[CHECK] as grpc.ServiceDefinition).Check as grpc.MethodDefinition<unknown, unknown>;

/** A CheckRequest object (official field names) → protobuf bytes, as Envoy encodes it. */
export function encodeOfficialRequest(req: unknown): Buffer {
  return officialCheck.requestSerialize(req);
}

/** CheckResponse bytes → object, decoded with the official protos (defaults filled in). */
export function decodeOfficialResponse(buf: Buffer): unknown {
  return officialCheck.responseDeserialize(buf);
}

/** The service's previous request path: proto-loader over proto/ (what toAuthzRequest takes). */
export function decodeOwnRequest(buf: Buffer): unknown {
  return ownCheck.requestDeserialize(buf);
}

/** The service's previous response path: proto-loader's encoder over proto/. */
export function encodeOwnResponse(res: unknown): Buffer {
  return ownCheck.responseSerialize(res);
}

/** 5-byte gRPC frame header (uncompressed) + message. */
export function grpcFrame(msg: Buffer): Buffer {
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}
