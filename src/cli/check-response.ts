/**
 * A CheckResponse as `consumer-authz check` reads it: decoded with the
 * service's proto definitions (proto/, wire-identical to Envoy's), turned into
 * JSON with the official field names (`--json`), and summed up as a
 * {@link CheckOutcome}.
 */
import { loadSync } from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';
import { PROTO_DIR } from '../grpc/protos.js';

export const CHECK_METHOD = '/envoy.service.auth.v3.Authorization/Check';

interface HeaderOption {
  header?: { key?: string; value?: string; raw_value?: string };
  append?: { value?: boolean };
  append_action?: string;
}

/** google.protobuf.Value as protobufjs decodes it. */
interface PbValue {
  nullValue?: string;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: PbStruct;
  listValue?: { values?: PbValue[] };
}
interface PbStruct {
  fields?: Record<string, PbValue>;
}

/** A decoded CheckResponse: official field names, enums as names, only the fields on the wire. */
export interface CheckResponseObject {
  status?: { code?: number; message?: string };
  denied_response?: { status?: { code?: string }; headers?: HeaderOption[]; body?: string };
  ok_response?: {
    headers?: HeaderOption[];
    headers_to_remove?: string[];
    query_parameters_to_remove?: string[];
    query_parameters_to_set?: Array<{ key?: string; value?: string }>;
    response_headers_to_add?: HeaderOption[];
    dynamic_metadata?: PbStruct;
  };
  dynamic_metadata?: PbStruct;
}

let deserialize: ((buf: Buffer) => CheckResponseObject) | undefined;

/** Decodes CheckResponse bytes. */
export function decodeCheckResponse(buf: Buffer): CheckResponseObject {
  if (!deserialize) {
    const def = loadSync('envoy/service/auth/v3/external_auth.proto', {
      includeDirs: [PROTO_DIR],
      keepCase: true,
      longs: Number,
      enums: String,
      bytes: String,
      defaults: false,
      oneofs: false,
    });
    const check = (def['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition).Check as grpc.MethodDefinition<unknown, CheckResponseObject>;
    deserialize = (b) => check.responseDeserialize(b);
  }
  return deserialize(buf);
}

/** google.protobuf.Struct → plain JSON (its proto3 JSON form). */
export function structToJson(s: PbStruct | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: PbValue): unknown {
  if (v.structValue !== undefined) return structToJson(v.structValue);
  if (v.listValue !== undefined) return (v.listValue.values ?? []).map(valueToJson);
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return null;
}

/** The response as JSON with the official field names; Structs in their JSON form. */
export function responseToJson(res: CheckResponseObject): unknown {
  const out: Record<string, unknown> = { ...res };
  if (res.dynamic_metadata) out.dynamic_metadata = structToJson(res.dynamic_metadata);
  if (res.ok_response?.dynamic_metadata) out.ok_response = { ...res.ok_response, dynamic_metadata: structToJson(res.ok_response.dynamic_metadata) };
  return out;
}

/** HTTP status numbers of envoy.type.v3.StatusCode names. */
const HTTP_STATUS: Record<string, number> = {
  OK: 200,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
};

export interface Header {
  name: string;
  value: string;
}

/** What Envoy does with the request, in the terms of the product contract. */
export type CheckOutcome =
  | {
      allow: true;
      consumer: { name?: string; id?: string; authType?: string };
      credentialId?: string;
      headersSet: Header[];
      headersRemoved: string[];
      queryRemoved: string[];
    }
  | {
      allow: false;
      /** The HTTP status the client gets. */
      status: number;
      /** `error.code` of the body (the reason), when the body is the service's JSON. */
      reason?: string;
      message?: string;
      headers: Header[];
      body: string;
    };

const headerList = (hs: HeaderOption[] | undefined): Header[] =>
  (hs ?? []).map((h) => ({ name: h.header?.key ?? '', value: h.header?.value ?? Buffer.from(h.header?.raw_value ?? '', 'base64').toString('latin1') }));

/** Sums up an answer. A response with neither ok nor denied part: Envoy allows on gRPC OK, else 403. */
export function outcomeOf(res: CheckResponseObject): CheckOutcome {
  const grpcOk = (res.status?.code ?? 0) === 0;
  if (res.denied_response || !grpcOk) {
    const d = res.denied_response ?? {};
    const body = d.body ?? '';
    let reason: string | undefined;
    let message: string | undefined;
    try {
      const e = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof e?.code === 'string') reason = e.code;
      if (typeof e?.message === 'string') message = e.message;
    } catch {
      // not the service's JSON: shown as it is
    }
    const code = d.status?.code;
    const status = code === undefined ? 403 : (HTTP_STATUS[code] ?? (Number(code) || 403));
    return { allow: false, status, reason, message, headers: headerList(d.headers), body };
  }
  const ok = res.ok_response ?? {};
  const meta = structToJson(res.dynamic_metadata);
  const set = headerList(ok.headers);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const fromHeader = (n: string) => set.find((h) => h.name === n)?.value;
  return {
    allow: true,
    consumer: {
      name: str(meta.consumer_name) ?? fromHeader('x-consumer-name'),
      id: str(meta.consumer_id) ?? fromHeader('x-consumer-id'),
      authType: str(meta.auth_type),
    },
    credentialId: str(meta.credential_id) ?? fromHeader('x-credential-id'),
    headersSet: set,
    headersRemoved: ok.headers_to_remove ?? [],
    queryRemoved: ok.query_parameters_to_remove ?? [],
  };
}
