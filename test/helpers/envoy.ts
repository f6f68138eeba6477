/**
 * An ext_authz client built from the OFFICIAL Envoy protos (shipped by
 * @grpc/grpc-js-xds under deps/), so requests are encoded and answers decoded
 * exactly as Envoy does. Requests look like Envoy's: lower-case header keys,
 * pseudo-headers, `path` with the raw query string.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
export const OFFICIAL_PROTO_DIRS = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(DEPS, d));

/** The official ext_authz package definition (field names as in the protos, defaults and oneofs on). */
export const OFFICIAL_AUTH_DEF = loadSync('envoy/service/auth/v3/external_auth.proto', {
  includeDirs: OFFICIAL_PROTO_DIRS,
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const pkg = grpc.loadPackageDefinition(OFFICIAL_AUTH_DEF) as unknown as {
  envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
};

export interface HeaderOption {
  header: { key: string; value: string; raw_value: Buffer };
  append: { value: boolean } | null;
  append_action: string;
  keep_empty_value: boolean;
}

/** A CheckResponse decoded with the official protos (defaults filled in). */
export interface OfficialCheckResponse {
  status: { code: number; message: string } | null;
  http_response?: 'ok_response' | 'denied_response';
  ok_response?: {
    headers: HeaderOption[];
    headers_to_remove: string[];
    query_parameters_to_remove: string[];
    query_parameters_to_set: unknown[];
    response_headers_to_add: HeaderOption[];
  };
  denied_response?: { status: { code: string }; headers: HeaderOption[]; body: string };
  dynamic_metadata: { fields: Record<string, { stringValue?: string; kind?: string }> } | null;
}

export interface EnvoyRequest {
  method?: string;
  /** Path with the raw query string. */
  path?: string;
  host?: string;
  /** Extra headers; keys are lower-cased like Envoy's. */
  headers?: Record<string, string>;
  /** context_extensions.route */
  route?: string;
  /** Send headers in `header_map` (Envoy's encode_raw_headers) instead of the map. */
  rawHeaders?: boolean;
  /** Any extra context_extensions. */
  extensions?: Record<string, string>;
}

let seq = 0;

/** The CheckRequest Envoy would send for this request. */
export function envoyCheckRequest(r: EnvoyRequest): unknown {
  const method = r.method ?? 'GET';
  const path = r.path ?? '/';
  const host = r.host ?? 'api.example.com';
  const id = `req-${++seq}`;
  const headers: Record<string, string> = {
    ':authority': host,
    ':method': method,
    ':path': path,
    ':scheme': 'http',
    'user-agent': 'curl/8.5.0',
    accept: '*/*',
    'x-forwarded-proto': 'http',
    'x-request-id': id,
  };
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  const q = path.indexOf('?');
  const http: Record<string, unknown> = {
    id,
    method,
    path,
    host,
    scheme: 'http',
    protocol: 'HTTP/1.1',
    query: q < 0 ? '' : path.slice(q + 1),
  };
  if (r.rawHeaders) {
    http.header_map = { headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) };
  } else {
    http.headers = headers;
  }
  const context_extensions: Record<string, string> = { ...(r.extensions ?? {}) };
  if (r.route !== undefined) context_extensions.route = r.route;
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 51234 } } },
      destination: { address: { socket_address: { address: '10.0.0.2', port_value: 10000 } } },
      request: { time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 }, http },
      context_extensions,
      metadata_context: {},
    },
  };
}

export class EnvoyClient {
  readonly #client: grpc.Client & { Check: Function };

  constructor(port: number) {
    this.#client = new pkg.envoy.service.auth.v3.Authorization(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & { Check: Function };
  }

  /**
   * Sends a raw CheckRequest object (encoded with the official protos).
   * `deadlineMs` is how long the caller waits for the answer, as Envoy's
   * ext_authz `timeout` does (an answer later than that is an error).
   */
  checkRaw(req: unknown, deadlineMs = 5000): Promise<OfficialCheckResponse> {
    return new Promise((resolve, reject) => {
      this.#client.Check(req, { deadline: Date.now() + deadlineMs }, (err: Error | null, res: OfficialCheckResponse) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  check(r: EnvoyRequest, deadlineMs?: number): Promise<OfficialCheckResponse> {
    return this.checkRaw(envoyCheckRequest(r), deadlineMs);
  }

  close(): void {
    this.#client.close();
  }
}

/** The HTTP status Envoy would return to the client (200 = forwarded upstream). */
export function httpStatus(res: OfficialCheckResponse): number {
  if (res.http_response === 'denied_response' && res.denied_response) {
    const code = res.denied_response.status.code;
    return typeof code === 'number' ? code : STATUS_NAMES[code] ?? -1;
  }
  return res.status?.code === 0 ? 200 : 403;
}

const STATUS_NAMES: Record<string, number> = {
  Unauthorized: 401,
  Forbidden: 403,
  ServiceUnavailable: 503,
  BadRequest: 400,
  TooManyRequests: 429,
  InternalServerError: 500,
};

/** Header value set by an allow or deny answer. */
export function header(opts: HeaderOption[] | undefined, name: string): string | undefined {
  return opts?.find((h) => h.header.key === name)?.header.value;
}

/** The reason code of a denial, from its JSON body. */
export function denyCode(res: OfficialCheckResponse): string | undefined {
  if (!res.denied_response) return undefined;
  return (JSON.parse(res.denied_response.body) as { error: { code: string } }).error.code;
}
