/**
 * The admin API's error codes and their HTTP status: the one table both the
 * HTTP layer and the docs follow. Body shape: {"error":{"code","message"}}.
 */
import { InvalidInputError } from '../consumers/errors.js';

export const ADMIN_ERRORS = Object.freeze({
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  consumer_not_found: 404,
  route_not_found: 404,
  key_not_found: 404,
  method_not_allowed: 405,
  consumer_exists: 409,
  credential_conflict: 409,
  route_match_conflict: 409,
  quota_not_set: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  store_unavailable: 503,
  internal_error: 500,
} as const);

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** An admin request refused; `message` is safe to show (never a secret). */
export class AdminError extends Error {
  readonly code: AdminErrorCode;
  readonly status: number;
  /** The request field at fault, e.g. `auth.source.name`. */
  readonly field: string | undefined;

  constructor(code: AdminErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'AdminError';
    this.code = code;
    this.status = ADMIN_ERRORS[code];
    this.field = field;
  }
}

/**
 * The one place a refusal becomes an admin API error: an AdminError as is, the
 * model's input error as `invalid_request` (400) with its field; anything else
 * is not a refusal (undefined: the caller answers 500 and logs it).
 */
export function adminErrorOf(err: unknown): AdminError | undefined {
  if (err instanceof AdminError) return err;
  if (err instanceof InvalidInputError) return new AdminError('invalid_request', err.message, err.field);
  return undefined;
}
