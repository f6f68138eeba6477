/**
 * The admin API client. The admin token lives in sessionStorage (gone when
 * the tab closes) and is sent as a bearer token; an empty token is a valid
 * sign-in when the server runs without ADMIN_TOKEN.
 */
import type { ErrorBody, Page } from '../../src/admin/views.js';

const TOKEN_KEY = 'consumer-authz.admin-token';

/** An API answer other than 2xx: the server's `{"error":{code,message,field?}}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function signedIn(): boolean {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

export function signIn(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Called when the server refuses the token (the app shows the sign-in page). */
let onUnauthorized: (err: ApiError) => void = () => {};
export function setUnauthorizedHandler(fn: (err: ApiError) => void): void {
  onUnauthorized = fn;
}

export interface RequestOptions {
  /** Token to try instead of the stored one (sign-in); a 401 then does not sign out. */
  token?: string;
  /** If-Match: write only if the resource still has this ETag (else 412 precondition_failed). */
  ifMatch?: string;
  /** If-None-Match: `*` writes only if the resource does not exist yet. */
  ifNoneMatch?: string;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  return (await apiTagged<T>(method, path, body, opts)).body;
}

/** `api`, also answering the response's ETag (routes answer one on GET and PUT). */
export async function apiTagged<T = unknown>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<{ body: T; etag: string | undefined }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = opts.token ?? sessionStorage.getItem(TOKEN_KEY) ?? '';
  if (token !== '') headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (opts.ifMatch !== undefined) headers['if-match'] = opts.ifMatch;
  if (opts.ifNoneMatch !== undefined) headers['if-none-match'] = opts.ifNoneMatch;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network_error', 'The service could not be reached. Is it running?');
  }
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.ok) return { body: json as T, etag: res.headers.get('etag') ?? undefined };
  const e: Partial<ErrorBody['error']> = json?.error ?? {};
  const err = new ApiError(
    res.status,
    typeof e.code === 'string' ? e.code : `http_${res.status}`,
    typeof e.message === 'string' ? e.message : `The request failed with HTTP ${res.status}.`,
    typeof e.field === 'string' ? e.field : undefined,
  );
  if (res.status === 401 && opts.token === undefined) {
    signOut();
    onUnauthorized(err);
  }
  throw err;
}

/** Every item of a cursor-paged list. */
export async function listAll<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page: Page<T> = await api<Page<T>>('GET', `${path}?limit=1000${q}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

// The answers' types are the server's own (src/admin/views.ts), imported as
// types only: esbuild erases them, nothing of src/ reaches the bundle.
export type { ApiKeyView, AuthView, CredentialSource, Page, TokenLocation } from '../../src/admin/views.js';
export type { ConsumerView as Consumer, JwtKeyView as JwkView, RouteMatchRuleView as MatchRule, RouteView as RouteGrants } from '../../src/admin/views.js';

export function consumerPath(name: string): string {
  return `/v1/consumers/${encodeURIComponent(name)}`;
}

export function routePath(route: string): string {
  return `/v1/routes/${encodeURIComponent(route)}`;
}
