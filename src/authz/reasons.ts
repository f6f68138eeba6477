/**
 * The one table that maps a Check denial reason to what Envoy and the client
 * see: the HTTP status of the denied response and the gRPC status code put in
 * `CheckResponse.status`. Tests and docs assert these codes; they are stable.
 */

/** gRPC status codes used in `CheckResponse.status` (google.rpc.Code). */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** Why a request was denied. */
export type Reason =
  | 'missing_credential'
  | 'invalid_credential'
  | 'expired_credential'
  | 'consumer_disabled'
  | 'route_forbidden'
  | 'grant_expired'
  | 'route_mismatch'
  | 'path_not_normal'
  | 'rate_limited'
  | 'quota_exhausted'
  | 'authz_unavailable';

export interface ReasonInfo {
  readonly http: 400 | 401 | 403 | 429 | 503;
  readonly grpc: GrpcCode;
  /** Default client-facing message; never names a consumer or a secret. */
  readonly message: string;
}

export const REASONS: Readonly<Record<Reason, ReasonInfo>> = Object.freeze({
  missing_credential: { http: 401, grpc: GrpcCode.UNAUTHENTICATED, message: 'No credential was found in the request.' },
  invalid_credential: { http: 401, grpc: GrpcCode.UNAUTHENTICATED, message: 'The credential is not valid.' },
  expired_credential: { http: 401, grpc: GrpcCode.UNAUTHENTICATED, message: 'The credential has expired or is not yet valid.' },
  consumer_disabled: { http: 403, grpc: GrpcCode.PERMISSION_DENIED, message: 'The consumer is disabled.' },
  route_forbidden: { http: 403, grpc: GrpcCode.PERMISSION_DENIED, message: 'The consumer is not allowed on this route.' },
  grant_expired: { http: 403, grpc: GrpcCode.PERMISSION_DENIED, message: 'The consumer\'s access to this route has expired.' },
  // The route named in context_extensions.route is not the one the match rules name (ROUTE_MISMATCH=deny).
  route_mismatch: { http: 403, grpc: GrpcCode.PERMISSION_DENIED, message: 'The request does not match the route it was sent to.' },
  // A route would be named from a path (or host) that is not in normal form: refused, never matched loosely.
  path_not_normal: { http: 400, grpc: GrpcCode.INVALID_ARGUMENT, message: 'The request path is not in normal form.' },
  // The consumer's rate limit (or its limit on this route) has no request left now; Retry-After says when.
  rate_limited: { http: 429, grpc: GrpcCode.RESOURCE_EXHAUSTED, message: 'Too many requests: the rate limit is reached.' },
  quota_exhausted: { http: 429, grpc: GrpcCode.RESOURCE_EXHAUSTED, message: 'The request quota is used up.' },
  authz_unavailable: { http: 503, grpc: GrpcCode.UNAVAILABLE, message: 'Authorization is temporarily unavailable.' },
});

export const ALL_REASONS = Object.keys(REASONS) as Reason[];
