/**
 * Validation of admin input. Each check names the field and the problem; a
 * request that fails any check changes nothing. Unknown fields are refused so
 * a typo never silently falls back to a default.
 */
import { invalid } from './errors.js';
import { routeMatchRules, type RouteMatchRule } from './route-match.js';
import type { ClaimHeader, CredentialSource, JwtClaimsPolicy, JwtIdentity, KeyGeneration, TokenLocation } from './model.js';

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

/**
 * A route's `match` field: undefined (absent: keep what the route has), null
 * (remove its rules) or a list of rules (route-match.ts says what a rule may
 * hold; an empty list removes them too). Errors name the rule and field, e.g.
 * `match[1].path.prefix`.
 */
export function routeMatch(v: unknown, field = 'match'): readonly RouteMatchRule[] | null | undefined {
  if (v === undefined || v === null) return v;
  const rules = routeMatchRules(v, field);
  return rules.length === 0 ? null : rules;
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

/**
 * RFC 3339 `date-time` (§5.6): full-date "T" full-time, seconds required,
 * optional fraction, "Z" or a ±hh:mm offset. Upper-case T and Z only.
 */
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Epoch ms of an RFC 3339 timestamp, or undefined when it is not one or names
 * an instant that does not exist. Every field is range-checked instead of
 * being left to Date.parse, which rolls `2030-02-30` over into March: month
 * 1-12, day within the month (Feb 29 only in leap years), hour 0-23, minute
 * 0-59, second 0-59 (a leap second cannot be placed, so 60 is refused), offset
 * at most 23:59. The fraction is kept to the millisecond.
 */
export function parseRfc3339(v: string): number | undefined {
  const m = RFC3339_RE.exec(v);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMin = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  const local = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC maps years 0-99 to 1900-1999; such dates are not worth supporting.
  if (year < 1970) return undefined;
  return local - offsetMin * 60_000;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** An optional future instant, normalised to ISO-8601 UTC. */
export function expiresAt(v: unknown, field: string, nowMs: number): string | null {
  if (v === undefined || v === null) return null;
  const ms = typeof v === 'string' ? parseRfc3339(v) : undefined;
  if (ms === undefined) {
    throw invalid(field, 'must be an RFC 3339 date-time that exists, with seconds and a time zone, e.g. 2027-01-31T00:00:00Z');
  }
  if (ms <= nowMs) throw invalid(field, 'must be in the future');
  return new Date(ms).toISOString();
}

export function limit(v: string | null, dflt: number, max: number): number {
  if (v === null) return dflt;
  if (!/^\d{1,6}$/.test(v) || Number(v) < 1 || Number(v) > max) throw invalid('limit', `must be an integer from 1 to ${max}`);
  return Number(v);
}

// --- JWT consumers ----------------------------------------------------------

const COOKIE_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
/** Claim names: printable ASCII without spaces (namespaced URLs allowed). */
const CLAIM_RE = /^[\x21-\x7e]{1,128}$/;
const FORBIDDEN_CLAIMS = new Set(['__proto__', 'constructor', 'prototype']);
export const MAX_CLAIM_HEADERS = 16;
export const MAX_CLOCK_SKEW_SECONDS = 600;
const MAX_PREFIX = 32;

/** `auth.token`: where a JWT consumer's token is read from, with defaults applied. */
export function tokenLocation(v: unknown, field: string): TokenLocation {
  if (v === undefined) return { in: 'header', name: 'authorization', prefix: 'Bearer ', passthrough: false };
  const o = object(v, field);
  onlyFields(o, ['in', 'name', 'prefix', 'passthrough'], field);
  const where = o.in ?? 'header';
  const passthrough = bool(o.passthrough, `${field}.passthrough`, false);
  const prefix = (dflt: string): string => {
    if (o.prefix === undefined) return dflt;
    if (typeof o.prefix !== 'string' || o.prefix.length > MAX_PREFIX || !/^[\x20-\x7e]*$/.test(o.prefix)) {
      throw invalid(`${field}.prefix`, `must be at most ${MAX_PREFIX} printable ASCII characters`);
    }
    // Exactly one space between prefix and token, as in "Bearer <token>": "Token" and "Token " are one
    // prefix. Blank means the raw token.
    const word = o.prefix.trim();
    return word === '' ? '' : `${word} `;
  };
  switch (where) {
    case 'header': {
      if (o.name === undefined) return { in: 'header', name: 'authorization', prefix: prefix('Bearer '), passthrough };
      if (typeof o.name !== 'string') throw invalid(`${field}.name`, 'must be a string');
      const name = o.name.toLowerCase();
      if (!HEADER_RE.test(name)) throw invalid(`${field}.name`, 'must be an HTTP header name of at most 64 characters');
      // Authorization is the usual home of a JWT; the other reserved headers are not.
      if (name !== 'authorization' && isReservedHeader(name)) {
        throw invalid(`${field}.name`, `"${name}" is reserved; choose another header (for cookies use {"in":"cookie"})`);
      }
      return { in: 'header', name, prefix: prefix(name === 'authorization' ? 'Bearer ' : ''), passthrough };
    }
    case 'query':
      if (typeof o.name !== 'string' || !QUERY_RE.test(o.name)) {
        throw invalid(`${field}.name`, 'is required for "query": 1-64 characters of A-Z a-z 0-9 . _ ~ -');
      }
      return { in: 'query', name: o.name, prefix: prefix(''), passthrough };
    case 'cookie':
      if (typeof o.name !== 'string' || !COOKIE_RE.test(o.name)) {
        throw invalid(`${field}.name`, 'is required for "cookie": a cookie name of 1-64 characters');
      }
      return { in: 'cookie', name: o.name, prefix: prefix(''), passthrough };
    default:
      throw invalid(`${field}.in`, 'must be "header", "query" or "cookie"');
  }
}

/** A claim name (identity claim or claims-to-headers source). */
export function claimName(v: unknown, field: string): string {
  if (typeof v !== 'string' || !CLAIM_RE.test(v) || FORBIDDEN_CLAIMS.has(v)) {
    throw invalid(field, 'must be a claim name of 1-128 printable ASCII characters without spaces');
  }
  return v;
}

/** `auth.identity`: the claim key and the value that names this consumer. */
export function jwtIdentity(v: unknown, field: string, randomValue: () => string): JwtIdentity {
  const o = v === undefined ? {} : object(v, field);
  onlyFields(o, ['claim', 'value'], field);
  const claim = o.claim === undefined ? 'uid' : claimName(o.claim, `${field}.claim`);
  let value: string;
  if (o.value === undefined) value = randomValue();
  else {
    if (typeof o.value !== 'string' || o.value.length === 0 || o.value.length > 256) {
      throw invalid(`${field}.value`, 'must be a string of 1-256 characters');
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(o.value)) throw invalid(`${field}.value`, 'must not contain control characters');
    value = o.value;
  }
  return { claim, value };
}

const ISSUER_MAX = 512;

/** `auth.claims`: what a token's registered claims must satisfy. */
export function jwtClaims(v: unknown, field: string): JwtClaimsPolicy {
  const o = v === undefined ? {} : object(v, field);
  onlyFields(o, ['requireExp', 'issuer', 'audience', 'clockSkewSeconds'], field);
  const text = (x: unknown, f: string): string | undefined => {
    if (x === undefined) return undefined;
    // eslint-disable-next-line no-control-regex
    if (typeof x !== 'string' || x.length === 0 || x.length > ISSUER_MAX || /[\u0000-\u001f\u007f]/.test(x)) {
      throw invalid(f, `must be a string of 1-${ISSUER_MAX} characters without control characters`);
    }
    return x;
  };
  const skew = o.clockSkewSeconds ?? 60;
  if (typeof skew !== 'number' || !Number.isInteger(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SECONDS) {
    throw invalid(`${field}.clockSkewSeconds`, `must be an integer from 0 to ${MAX_CLOCK_SKEW_SECONDS}`);
  }
  const out: { requireExp: boolean; issuer?: string; audience?: string; clockSkewSeconds: number } = {
    requireExp: bool(o.requireExp, `${field}.requireExp`, true),
    clockSkewSeconds: skew,
  };
  const issuer = text(o.issuer, `${field}.issuer`);
  const audience = text(o.audience, `${field}.audience`);
  if (issuer !== undefined) out.issuer = issuer;
  if (audience !== undefined) out.audience = audience;
  return out;
}

/** `auth.claimsToHeaders`: claims copied (sanitized) into upstream headers. */
export function claimsToHeaders(v: unknown, field: string): ClaimHeader[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(field, 'must be an array of {"claim","header"}');
  if (v.length > MAX_CLAIM_HEADERS) throw invalid(field, `must have at most ${MAX_CLAIM_HEADERS} entries`);
  const seen = new Set<string>();
  return v.map((item, i) => {
    const f = `${field}[${i}]`;
    const o = object(item, f);
    onlyFields(o, ['claim', 'header'], f);
    const claim = claimName(o.claim, `${f}.claim`);
    if (typeof o.header !== 'string') throw invalid(`${f}.header`, 'is required and must be a string');
    const header = o.header.toLowerCase();
    if (!HEADER_RE.test(header)) throw invalid(`${f}.header`, 'must be an HTTP header name of at most 64 characters');
    if (isReservedHeader(header)) throw invalid(`${f}.header`, `"${header}" is reserved; choose another header`);
    if (seen.has(header)) throw invalid(`${f}.header`, `"${header}" is mapped twice`);
    seen.add(header);
    return { claim, header };
  });
}

function isReservedHeader(name: string): boolean {
  return name.startsWith(':') || RESERVED_HEADERS.has(name) || name.startsWith('x-envoy-');
}
