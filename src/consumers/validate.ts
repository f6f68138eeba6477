/**
 * Validation of admin input. Each check names the field and the problem; a
 * request that fails any check changes nothing. Unknown fields are refused so
 * a typo never silently falls back to a default.
 */
import { invalid } from '../admin/errors.js';
import type { CredentialSource, KeyGeneration } from './model.js';

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ROUTE_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const HEADER_RE = /^[a-z0-9][a-z0-9!#$%&'*+.^_`|~-]{0,63}$/;
const QUERY_RE = /^[A-Za-z0-9._~-]{1,64}$/;
export const MAX_DESCRIPTION = 256;
export const MAX_KEYS_PER_CONSUMER = 16;

/** Headers a key may not be read from: they carry routing, identity or other credentials. */
const RESERVED_HEADERS = new Set([
  'authorization', 'cookie', 'host', 'content-length', 'content-type', 'transfer-encoding', 'connection',
  'te', 'upgrade', 'keep-alive', 'proxy-authorization', 'x-request-id', 'x-consumer-id', 'x-consumer-name',
  'x-mse-consumer', 'x-credential-id',
]);

export type Json = Record<string, unknown>;

export function object(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'must be a JSON object');
  return v as Json;
}

/** Refuses fields outside `allowed`. */
export function onlyFields(o: Json, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw invalid(field ? `${field}.${k}` : k, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

export function consumerName(v: unknown, field = 'name'): string {
  if (typeof v !== 'string') throw invalid(field, 'is required and must be a string');
  if (!NAME_RE.test(v)) throw invalid(field, 'must be 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit');
  return v;
}

export function routeName(v: unknown, field = 'route'): string {
  if (typeof v !== 'string' || !ROUTE_RE.test(v)) {
    throw invalid(field, 'must be 1-128 characters of A-Z a-z 0-9 . _ : - and start with a letter or digit');
  }
  return v;
}

export function description(v: unknown, field = 'description'): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw invalid(field, 'must be a string');
  if (v.length > MAX_DESCRIPTION) throw invalid(field, `must be at most ${MAX_DESCRIPTION} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw invalid(field, 'must not contain control characters');
  return v;
}

export function bool(v: unknown, field: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalid(field, 'must be true or false');
  return v;
}

export function generation(v: unknown, field: string): KeyGeneration {
  if (v === undefined) return 'system';
  if (v !== 'system' && v !== 'custom') throw invalid(field, 'must be "system" or "custom"');
  return v;
}

export function credentialSource(v: unknown, field: string): CredentialSource {
  if (v === undefined) return { in: 'bearer' };
  const o = object(v, field);
  onlyFields(o, ['in', 'name'], field);
  switch (o.in) {
    case 'bearer':
      if (o.name !== undefined) throw invalid(`${field}.name`, 'is not used with "bearer"');
      return { in: 'bearer' };
    case 'header': {
      if (typeof o.name !== 'string') throw invalid(`${field}.name`, 'is required for "header"');
      const name = o.name.toLowerCase();
      if (!HEADER_RE.test(name)) throw invalid(`${field}.name`, 'must be an HTTP header name of at most 64 characters');
      if (name.startsWith(':') || RESERVED_HEADERS.has(name) || name.startsWith('x-envoy-')) {
        throw invalid(`${field}.name`, `"${name}" is reserved; choose another header (for Authorization use {"in":"bearer"})`);
      }
      return { in: 'header', name };
    }
    case 'query': {
      if (typeof o.name !== 'string' || !QUERY_RE.test(o.name)) {
        throw invalid(`${field}.name`, 'must be 1-64 characters of A-Z a-z 0-9 . _ ~ -');
      }
      return { in: 'query', name: o.name };
    }
    default:
      throw invalid(`${field}.in`, 'must be "bearer", "header" or "query"');
  }
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An optional future instant, normalised to ISO-8601 UTC. */
export function expiresAt(v: unknown, field: string, nowMs: number): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !ISO_RE.test(v) || Number.isNaN(Date.parse(v))) {
    throw invalid(field, 'must be an ISO-8601 date-time with a time zone, e.g. 2027-01-31T00:00:00Z');
  }
  const ms = Date.parse(v);
  if (ms <= nowMs) throw invalid(field, 'must be in the future');
  return new Date(ms).toISOString();
}

export function limit(v: string | null, dflt: number, max: number): number {
  if (v === null) return dflt;
  if (!/^\d{1,6}$/.test(v) || Number(v) < 1 || Number(v) > max) throw invalid('limit', `must be an integer from 1 to ${max}`);
  return Number(v);
}
