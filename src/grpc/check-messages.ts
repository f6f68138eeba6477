/**
 * The edge between Envoy's wire types and the core: CheckRequest → AuthzRequest,
 * Decision → CheckResponse. Nothing else in the service knows these shapes.
 *
 * Allow answers set the identity headers with `append: false` (overwrite, the
 * form every Envoy release honours; `append_action` is left unset), strip the
 * credential, and carry the consumer in dynamic metadata. It builds a new
 * object for each call: check-answers.ts keeps the answers that repeat, as
 * bytes.
 */
import type { Allow, Decision, Deny } from '../authz/decision.js';
import { GrpcCode, REASONS, type Reason } from '../authz/reasons.js';
import type { AuthzRequest } from '../authz/request.js';

/** The identity headers set on every allowed request (client copies are overwritten). */
export const IDENTITY_HEADERS = ['x-consumer-id', 'x-consumer-name', 'x-mse-consumer', 'x-credential-id'] as const;

export const REALM = 'consumer-authz';

// --- request --------------------------------------------------------------

interface WireHeaderValue {
  key?: string;
  value?: string;
  raw_value?: Buffer;
}

/** The parts of a decoded CheckRequest this service reads. */
export interface WireCheckRequest {
  attributes?: {
    request?: {
      http?: {
        id?: string;
        method?: string;
        path?: string;
        headers?: Record<string, string>;
        header_map?: { headers?: WireHeaderValue[] };
      };
    };
    context_extensions?: Record<string, string>;
  };
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export function toAuthzRequest(req: WireCheckRequest): AuthzRequest {
  const attrs = req.attributes;
  const http = attrs?.request?.http;
  let headers = http?.headers;
  if (!headers && http?.header_map?.headers) headers = fromHeaderMap(http.header_map.headers);
  headers ??= NO_HEADERS;
  return {
    id: http?.id || headers['x-request-id'] || '',
    method: http?.method ?? '',
    path: http?.path ?? '',
    headers,
    route: attrs?.context_extensions?.route ?? '',
  };
}

/** `header_map` (Envoy's `encode_raw_headers`): lower-case keys, repeats joined with commas. */
function fromHeaderMap(list: WireHeaderValue[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const h of list) {
    if (!h.key) continue;
    const key = h.key.toLowerCase();
    const value = h.raw_value && h.raw_value.length > 0 ? h.raw_value.toString('latin1') : (h.value ?? '');
    out[key] = out[key] === undefined ? value : `${out[key]},${value}`;
  }
  return out;
}

// --- response -------------------------------------------------------------

interface WireHeaderOption {
  header: { key: string; value: string };
  append?: { value: boolean };
}

/** google.protobuf.Struct; protobufjs defines the well-known types with camelCase names. */
interface WireStruct {
  fields: Record<string, { stringValue: string }>;
}

/** The CheckResponse shape handed to the protobuf encoder. */
export interface WireCheckResponse {
  status: { code: number; message?: string };
  ok_response?: {
    headers: WireHeaderOption[];
    headers_to_remove: string[];
    query_parameters_to_remove: string[];
    response_headers_to_add?: WireHeaderOption[];
  };
  denied_response?: {
    status: { code: number };
    headers: WireHeaderOption[];
    body: string;
  };
  dynamic_metadata?: WireStruct;
}

function overwrite(key: string, value: string): WireHeaderOption {
  return { header: { key, value }, append: { value: false } };
}

function struct(values: Record<string, string>): WireStruct {
  const fields: WireStruct['fields'] = {};
  for (const [k, v] of Object.entries(values)) fields[k] = { stringValue: v };
  return { fields };
}

function allowResponse(d: Allow): WireCheckResponse {
  const who = d.identity;
  const headers = [
    overwrite('x-consumer-id', who.consumerId),
    overwrite('x-consumer-name', who.consumerName),
    overwrite('x-mse-consumer', who.consumerName),
    overwrite('x-credential-id', who.credentialId),
  ];
  const headersToRemove: string[] = [];
  const s = d.strip;
  if ('header' in s) headersToRemove.push(s.header);
  else if ('cookie' in s) {
    if (s.rest === undefined) headersToRemove.push('cookie');
    else headers.push(overwrite('cookie', s.rest));
  }
  // A claim header without a usable value is removed, so a client-sent copy never reaches the upstream.
  for (const [name, value] of d.headers ?? []) {
    if (value === undefined) headersToRemove.push(name);
    else headers.push(overwrite(name, value));
  }
  const ok: NonNullable<WireCheckResponse['ok_response']> = {
    headers,
    headers_to_remove: headersToRemove,
    query_parameters_to_remove: 'query' in s ? [s.query] : [],
  };
  // Headers for the client's response (Envoy adds them to what the upstream answers).
  if (d.responseHeaders) ok.response_headers_to_add = d.responseHeaders.map(([name, value]) => overwrite(name, value));
  return {
    status: { code: GrpcCode.OK },
    ok_response: ok,
    dynamic_metadata: struct({
      consumer_id: who.consumerId,
      consumer_name: who.consumerName,
      credential_id: who.credentialId,
      auth_type: who.authType,
    }),
  };
}

function denyResponse(d: Deny): WireCheckResponse {
  const reason: Reason = d.reason;
  const info = REASONS[reason];
  const headers = [overwrite('content-type', 'application/json'), overwrite('cache-control', 'no-store')];
  for (const [name, value] of d.headers ?? []) headers.push(overwrite(name, value));
  if (info.http === 401) {
    const error = reason === 'missing_credential' ? '' : ', error="invalid_token"';
    headers.push(overwrite('www-authenticate', `Bearer realm="${REALM}"${error}`));
  }
  if (info.http === 503) headers.push(overwrite('retry-after', '1'));
  return {
    status: { code: info.grpc, message: reason },
    denied_response: {
      status: { code: info.http },
      headers,
      body: JSON.stringify({ error: { code: reason, message: info.message } }),
    },
    dynamic_metadata: struct({ deny_reason: reason }),
  };
}

/** The CheckResponse of a decision, as the encoders take it (a new object each call). */
export function toCheckResponse(d: Decision): WireCheckResponse {
  return d.allow ? allowResponse(d) : denyResponse(d);
}
