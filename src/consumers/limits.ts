/**
 * Consumer limits as data: validation of what an admin sends, and the
 * arithmetic every instance must agree on (a window's length, a quota
 * period's bounds in its time zone). No I/O and no counters: those are
 * src/limits/ (the engine) and the stores (where the counts live).
 */
import { invalid } from './errors.js';
import type { ConsumerLimits, QuotaSpec, RateLimitSpec } from './views.js';
import { ROUTE_RE } from './validate.js';

export type { ConsumerLimits, QuotaSpec, RateLimitSpec } from './views.js';

export const MAX_LIMIT_REQUESTS = 1_000_000_000;
export const MAX_ROUTE_LIMITS = 64;

const WINDOW_MS = { second: 1_000, minute: 60_000, hour: 3_600_000 } as const;

/** The window of a rate limit in ms. */
export function windowMs(spec: RateLimitSpec): number {
  return WINDOW_MS[spec.per];
}

/** Tokens per ms a rate limit refills. */
export function ratePerMs(spec: RateLimitSpec): number {
  return spec.requests / WINDOW_MS[spec.per];
}

/** A rate limit's bucket size. */
export function burstOf(spec: RateLimitSpec): number {
  return spec.burst ?? spec.requests;
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'must be a JSON object');
  return v as Record<string, unknown>;
}

function only(o: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid(`${field}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
}

/** A request count an admin sends (a limit, a burst, a quota top-up): a whole number from 1 to MAX_LIMIT_REQUESTS. */
export function requestCount(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LIMIT_REQUESTS) {
    throw invalid(field, `must be a whole number from 1 to ${MAX_LIMIT_REQUESTS}`);
  }
  return v;
}

function rateLimit(v: unknown, field: string): RateLimitSpec {
  const o = obj(v, field);
  only(o, ['requests', 'per', 'burst'], field);
  const requests = requestCount(o.requests, `${field}.requests`);
  if (o.per !== 'second' && o.per !== 'minute' && o.per !== 'hour') throw invalid(`${field}.per`, 'must be "second", "minute" or "hour"');
  const spec: RateLimitSpec = { requests, per: o.per };
  if (o.burst !== undefined) spec.burst = requestCount(o.burst, `${field}.burst`);
  return spec;
}

/** Whether `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function quota(v: unknown, field: string): QuotaSpec {
  const o = obj(v, field);
  only(o, ['requests', 'period', 'timeZone'], field);
  const requests = requestCount(o.requests, `${field}.requests`);
  if (o.period !== 'day' && o.period !== 'month') throw invalid(`${field}.period`, 'must be "day" or "month"');
  const spec: QuotaSpec = { requests, period: o.period };
  if (o.timeZone !== undefined) {
    if (typeof o.timeZone !== 'string' || o.timeZone.length > 64 || !isTimeZone(o.timeZone)) {
      throw invalid(`${field}.timeZone`, 'must be an IANA time zone name, e.g. "UTC" or "Europe/Berlin"');
    }
    // Stored as the runtime spells it, so every instance computes the same periods.
    spec.timeZone = new Intl.DateTimeFormat('en-US', { timeZone: o.timeZone }).resolvedOptions().timeZone;
  }
  return spec;
}

/**
 * The `limits` field of a consumer: undefined (absent: keep), null (remove
 * them) or the limits. An object with nothing in it removes them too.
 */
export function consumerLimits(v: unknown, field = 'limits'): ConsumerLimits | null | undefined {
  if (v === undefined || v === null) return v;
  const o = obj(v, field);
  only(o, ['rate', 'routes', 'quota', 'headers'], field);
  const out: ConsumerLimits = {};
  if (o.rate !== undefined && o.rate !== null) out.rate = rateLimit(o.rate, `${field}.rate`);
  if (o.routes !== undefined && o.routes !== null) {
    const routes = obj(o.routes, `${field}.routes`);
    const names = Object.keys(routes);
    if (names.length > MAX_ROUTE_LIMITS) throw invalid(`${field}.routes`, `must name at most ${MAX_ROUTE_LIMITS} routes`);
    const byRoute: Record<string, RateLimitSpec> = {};
    for (const r of names.sort()) {
      if (!ROUTE_RE.test(r)) throw invalid(`${field}.routes.${r}`, 'is not a route name (1-128 characters of A-Z a-z 0-9 . _ : -)');
      byRoute[r] = rateLimit(routes[r], `${field}.routes.${r}`);
    }
    if (names.length > 0) out.routes = byRoute;
  }
  if (o.quota !== undefined && o.quota !== null) out.quota = quota(o.quota, `${field}.quota`);
  if (o.headers !== undefined) {
    if (typeof o.headers !== 'boolean') throw invalid(`${field}.headers`, 'must be true or false');
    if (o.headers) out.headers = true;
  }
  if (out.rate === undefined && out.routes === undefined && out.quota === undefined) {
    if (out.headers) throw invalid(`${field}.headers`, 'needs a rate, routes or quota limit to describe');
    return null;
  }
  return out;
}

/** One quota period: its id (`2026-12-03`, `2026-12`) and bounds in epoch ms, [startMs, endMs). */
export interface QuotaPeriod {
  readonly id: string;
  readonly startMs: number;
  readonly endMs: number;
}

const FORMATS = new Map<string, Intl.DateTimeFormat>();

function format(tz: string): Intl.DateTimeFormat {
  let f = FORMATS.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    FORMATS.set(tz, f);
  }
  return f;
}

/** Wall-clock fields of `ms` in `tz`. */
function wall(ms: number, tz: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const p: Record<string, number> = {};
  for (const part of format(tz).formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { y: p.year as number, mo: p.month as number, d: p.day as number, h: p.hour as number, mi: p.minute as number, s: p.second as number };
}

/** The zone's offset from UTC at `ms` (local wall time minus UTC, in ms). */
function offsetAt(ms: number, tz: string): number {
  const w = wall(ms, tz);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(ms / 1000) * 1000;
}

/** The instant a local wall time (given as if it were UTC) happens in `tz`. */
function instantOf(localAsUtc: number, tz: string): number {
  const guess = localAsUtc - offsetAt(localAsUtc, tz);
  // A second look: the offset at the answer may differ from the one at the guess (a DST change between them).
  return localAsUtc - offsetAt(guess, tz);
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The quota period `nowMs` falls in. */
export function quotaPeriod(spec: QuotaSpec, nowMs: number): QuotaPeriod {
  const tz = spec.timeZone ?? 'UTC';
  const w = wall(nowMs, tz);
  if (spec.period === 'day') {
    return { id: `${w.y}-${pad(w.mo)}-${pad(w.d)}`, startMs: instantOf(Date.UTC(w.y, w.mo - 1, w.d), tz), endMs: instantOf(Date.UTC(w.y, w.mo - 1, w.d + 1), tz) };
  }
  return { id: `${w.y}-${pad(w.mo)}`, startMs: instantOf(Date.UTC(w.y, w.mo - 1, 1), tz), endMs: instantOf(Date.UTC(w.y, w.mo, 1), tz) };
}
