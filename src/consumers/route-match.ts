/**
 * Match rules of a route: how the service names the route of a CheckRequest
 * that carries no `context_extensions.route` (Istio's CUSTOM action cannot set
 * one). A rule is hosts × path × methods; a route may carry several rules.
 *
 * This file holds the model, its validation, the conflict check made when a
 * route is saved, and the normal-form check of a request path. The compiled
 * lookup structure is in route-matcher.ts. Pure, no I/O.
 */
import { invalid } from './errors.js';

/** A path rule: exact, prefix on segment boundaries, or a template (`{name}` matches one segment). */
export type RoutePath = { readonly exact: string } | { readonly prefix: string } | { readonly template: string };

export interface RouteMatchRule {
  /** Exact host names or `*.suffix` wildcards (one or more labels), lower case; absent or empty: any host. */
  readonly hosts?: readonly string[];
  /** Absent: any path (the same as `{ prefix: '/' }`). */
  readonly path?: RoutePath;
  /** Upper-case HTTP methods; absent or empty: any method. */
  readonly methods?: readonly string[];
}

export const MAX_MATCH_RULES = 16;
const MAX_LIST = 32;
const HOST_RE = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const METHOD_RE = /^[A-Z]{1,20}$/;
const PARAM_RE = /^\{[A-Za-z_][A-Za-z0-9_]{0,63}\}$/;

/** Validates `input` as a route's `match` list; returns a frozen copy. Throws InvalidInputError. */
export function routeMatchRules(input: unknown, field = 'match'): RouteMatchRule[] {
  if (!Array.isArray(input)) throw invalid(field, 'must be a list of match rules');
  if (input.length > MAX_MATCH_RULES) throw invalid(field, `at most ${MAX_MATCH_RULES} rules`);
  return input.map((r, i) => matchRule(r, `${field}[${i}]`));
}

function matchRule(r: unknown, field: string): RouteMatchRule {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw invalid(field, 'must be an object');
  const o = r as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'hosts' && k !== 'path' && k !== 'methods') throw invalid(`${field}.${k}`, 'is not a match rule field (hosts, path, methods)');
  }
  const out: { hosts?: string[]; path?: RoutePath; methods?: string[] } = {};
  if (o.hosts !== undefined) {
    const hosts = stringList(o.hosts, `${field}.hosts`);
    for (const [i, h] of hosts.entries()) {
      if (h.length > 253 || !HOST_RE.test(h)) {
        throw invalid(`${field}.hosts[${i}]`, 'must be a lower-case host name or "*." and a host name, without port or trailing dot');
      }
    }
    if (hosts.length > 0) out.hosts = [...new Set(hosts)];
  }
  if (o.path !== undefined) out.path = routePath(o.path, `${field}.path`);
  if (o.methods !== undefined) {
    const methods = stringList(o.methods, `${field}.methods`);
    for (const [i, m] of methods.entries()) {
      if (!METHOD_RE.test(m)) throw invalid(`${field}.methods[${i}]`, 'must be an upper-case HTTP method');
    }
    if (methods.length > 0) out.methods = [...new Set(methods)];
  }
  return Object.freeze(out);
}

function stringList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalid(field, 'must be a list of strings');
  if (v.length > MAX_LIST) throw invalid(field, `at most ${MAX_LIST} entries`);
  return v as string[];
}

function routePath(v: unknown, field: string): RoutePath {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(field, 'must be {"exact": …}, {"prefix": …} or {"template": …}');
  const keys = Object.keys(v);
  const kind = keys[0];
  if (keys.length !== 1 || (kind !== 'exact' && kind !== 'prefix' && kind !== 'template')) {
    throw invalid(field, 'must have exactly one of "exact", "prefix", "template"');
  }
  const p = (v as Record<string, unknown>)[kind];
  const f = `${field}.${kind}`;
  if (typeof p !== 'string' || p.length > 1024) throw invalid(f, 'must be a path of at most 1024 characters');
  if (p !== '/' && p.endsWith('/')) throw invalid(f, 'must not end with "/" (a trailing slash is matched anyway)');
  const problem = pathProblem(p);
  if (problem) throw invalid(f, `must be a path in normal form: ${problem}`);
  const segs = p.split('/').slice(1);
  if (kind === 'template') {
    if (!segs.some((s) => s.includes('{'))) throw invalid(f, 'a template needs a {name} segment (use "exact" otherwise)');
    const names = new Set<string>();
    for (const s of segs) {
      if (!s.includes('{') && !s.includes('}')) continue;
      if (!PARAM_RE.test(s)) throw invalid(f, `"${s}": a parameter is a whole segment {name}`);
      if (names.has(s)) throw invalid(f, `parameter ${s} appears twice`);
      names.add(s);
    }
  } else if (p.includes('{') || p.includes('}')) {
    throw invalid(f, '"{" and "}" are only for templates');
  }
  return kind === 'exact' ? { exact: p } : kind === 'prefix' ? { prefix: p } : { template: p };
}

// --- conflicts --------------------------------------------------------------

/** One host × path × method-class of a rule: the unit precedence is decided on. */
interface Atom {
  readonly host: string; // '' any, 'exact:<h>', 'wild:<suffix>'
  readonly path: string; // 'exact:<p>' | 'prefix:<p>' | 'template:<shape>' (case folded: paths differing only in case conflict)
  readonly methods: readonly string[] | undefined;
}

function atoms(rules: readonly RouteMatchRule[]): Atom[] {
  const out: Atom[] = [];
  for (const r of rules) {
    const path = pathKey(r.path);
    const hosts = r.hosts ?? [];
    for (const h of hosts.length > 0 ? hosts : ['']) {
      const host = h === '' ? '' : h.startsWith('*.') ? `wild:${h.slice(2)}` : `exact:${h}`;
      out.push({ host, path, methods: r.methods });
    }
  }
  return out;
}

function pathKey(p: RoutePath | undefined): string {
  if (!p) return 'prefix:/';
  if ('exact' in p) return `exact:${p.exact.toLowerCase()}`;
  if ('prefix' in p) return `prefix:${p.prefix.toLowerCase()}`;
  return `template:${p.template.replace(/\{[^}]*\}/g, '{}').toLowerCase()}`;
}

function methodsOverlap(a: readonly string[] | undefined, b: readonly string[] | undefined): string | undefined {
  if (!a && !b) return 'any method';
  if (!a || !b) return undefined; // method-specific beats any: no tie
  return a.find((m) => b.includes(m));
}

/**
 * The first conflict between a route's rules and other routes': two rules of
 * the same specificity that a request can match at once (same host, same
 * path rule up to case and parameter names, overlapping methods), which the
 * precedence order could not decide. Returns the other route and a message
 * naming both routes.
 */
export function matchConflict(
  route: string,
  rules: readonly RouteMatchRule[],
  others: Iterable<{ route: string; match?: readonly RouteMatchRule[] }>,
): { route: string; message: string } | undefined {
  const mine = atoms(rules);
  if (mine.length === 0) return undefined;
  for (const o of others) {
    if (o.route === route || !o.match || o.match.length === 0) continue;
    for (const b of atoms(o.match)) {
      for (const a of mine) {
        if (a.host !== b.host || a.path !== b.path) continue;
        const m = methodsOverlap(a.methods, b.methods);
        if (m === undefined) continue;
        const host = a.host === '' ? 'any host' : a.host.replace(/^exact:/, '').replace(/^wild:/, '*.');
        return { route: o.route, message: `route "${route}" and route "${o.route}" both match ${host}, ${a.path.replace(':', ' ')}, ${m}` };
      }
    }
  }
  return undefined;
}

// --- the normal form of a request path ---------------------------------------

/**
 * Why `path` (as Envoy forwards it: path, then an optional `?query`) is not in
 * the normal form routes are matched on, or undefined when it is. Matching a
 * path in any other form could name a looser route than the upstream will
 * serve, so such a request is denied, never matched loosely. Refused:
 * not starting with `/`; a fragment (`#`); characters outside printable
 * ASCII (raw non-ASCII, controls, space); a backslash; an empty segment
 * (`//`); `.` and `..` segments; `;` parameters; percent-encoding that is
 * lower-case, malformed, of an unreserved character (`%41`, `%2E`), of a
 * delimiter an upstream might decode and act on (`/ \ ; ? #`), of a control
 * byte, or of bytes that are not UTF-8 in shortest form (overlong `%C0%AF`,
 * surrogates).
 */
export function pathProblem(path: string): string | undefined {
  return scanPath(path, undefined);
}

/**
 * The segments of a path in normal form, as `scanPath` found them: where each
 * starts and ends and its `segmentHash`, for the first `capacity` segments
 * (`count` tells how many there are in all). A trailing slash makes no
 * segment, nor does the query. Made once and refilled by every scan, so a
 * lookup allocates nothing.
 */
export class PathSegments {
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly hashes: Int32Array;
  count = 0;

  constructor(readonly capacity: number) {
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.hashes = new Int32Array(capacity);
  }
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;
/** Character classes of scanPath, by char code (one table read per character, no range test). */
const PLAIN = 0;
const SLASH = 1;
const PERCENT = 2;
const BAD = 3;
const CLASS = new Uint8Array(0x10000).fill(BAD);
CLASS.fill(PLAIN, 0x21, 0x7f);
CLASS[47] = SLASH;
CLASS[37] = PERCENT;
CLASS[92] = BAD; // backslash
CLASS[59] = BAD; // ;
CLASS[35] = BAD; // #

/**
 * FNV-1a over s[start, end) with each character's 0x20 bit set, as a small
 * integer: the key a literal segment is looked up by, the same whether the
 * matcher computes it from a rule or `scanPath` from a request. Setting the
 * bit folds ASCII case (and a few other pairs, told apart by the comparison
 * that follows every hash hit), so segments equal but for case share a key.
 */
export function segmentHash(s: string, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (s.charCodeAt(i) | 0x20), FNV_PRIME);
  return h & 0x3fffffff;
}

/**
 * pathProblem and, when `segs` is given and the path is in normal form, its
 * segments (boundaries and hashes) in the same single pass: the matcher's
 * lookup reads the path once. Allocates nothing.
 */
export function scanPath(path: string, segs: PathSegments | undefined): string | undefined {
  const q = path.indexOf('?');
  const end = q < 0 ? path.length : q;
  if (end === 0 || path.charCodeAt(0) !== 47) return problemOf(path, 'does not start with /');
  const cap = segs === undefined ? 0 : segs.capacity;
  let n = 0;
  let segStart = 1;
  let h = FNV_OFFSET;
  let i = 1;
  for (; i < end; i++) {
    const c = path.charCodeAt(i);
    const k = CLASS[c];
    if (k === PLAIN) {
      h = Math.imul(h ^ (c | 0x20), FNV_PRIME);
      continue;
    }
    if (k === SLASH) {
      const len = i - segStart;
      if (len === 0) return problemOf(path, 'an empty segment (//)');
      if (len <= 2 && isDots(path, segStart, len)) return problemOf(path, len === 1 ? 'a "." segment' : 'a ".." segment');
      if (n < cap) record(segs as PathSegments, n, segStart, i, h);
      n++;
      segStart = i + 1;
      h = FNV_OFFSET;
      continue;
    }
    if (k === PERCENT) {
      const r = percentRun(path, i, end);
      if (typeof r === 'string') return problemOf(path, r);
      for (; i < r; i++) h = Math.imul(h ^ (path.charCodeAt(i) | 0x20), FNV_PRIME);
      i = r - 1;
      continue;
    }
    if (c === 92) return problemOf(path, 'a backslash');
    if (c === 59) return problemOf(path, 'a ";" parameter');
    return problemOf(path, 'a character outside printable ASCII');
  }
  // The last segment; none after a trailing slash (or for the path "/").
  const len = i - segStart;
  if (len > 0) {
    if (len <= 2 && isDots(path, segStart, len)) return problemOf(path, len === 1 ? 'a "." segment' : 'a ".." segment');
    if (n < cap) record(segs as PathSegments, n, segStart, i, h);
    n++;
  }
  // Query strings are not matched on, but may not carry what would end the path elsewhere.
  for (let j = end + 1; j < path.length; j++) {
    const c = path.charCodeAt(j);
    if (c < 0x21 || c > 0x7e || c === 35) return problemOf(path, 'a character outside printable ASCII in the query');
  }
  if (segs !== undefined) segs.count = n;
  return undefined;
}

/** A segment of one or two characters: whether it is "." or "..". */
function isDots(path: string, start: number, len: number): boolean {
  return path.charCodeAt(start) === 46 && (len === 1 || path.charCodeAt(start + 1) === 46);
}

function record(segs: PathSegments, n: number, start: number, end: number, h: number): void {
  segs.starts[n] = start;
  segs.ends[n] = end;
  segs.hashes[n] = h & 0x3fffffff;
}

/** A fragment anywhere is the problem named first, whatever else the path has. */
function problemOf(path: string, problem: string): string {
  return path.indexOf('#') >= 0 ? 'a fragment (#)' : problem;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Encoded `/ \ ; ? #`: an upstream that decodes them would see another path. */
const ENCODED_DELIMITERS = new Set([0x2f, 0x5c, 0x3b, 0x3f, 0x23]);

/** Checks a run of `%XX` starting at `i`; returns the index after it or a problem. */
function percentRun(path: string, i: number, end: number): number | string {
  let need = 0; // continuation bytes still expected
  let cp = 0;
  let min = 0;
  for (;;) {
    if (i + 2 >= end) return 'malformed percent-encoding';
    const h1 = path.charCodeAt(i + 1);
    const h2 = path.charCodeAt(i + 2);
    if ((h1 >= 97 && h1 <= 102) || (h2 >= 97 && h2 <= 102)) return 'lower-case percent-encoding';
    const a = hexVal(h1);
    const b = hexVal(h2);
    if (a < 0 || b < 0) return 'malformed percent-encoding';
    const byte = a * 16 + b;
    i += 3;
    if (need === 0) {
      if (byte < 0x80) {
        if (byte < 0x20 || byte === 0x7f) return 'a percent-encoded control character';
        if (isUnreserved(byte)) return 'a percent-encoded unreserved character';
        if (ENCODED_DELIMITERS.has(byte)) return byte === 0x2f || byte === 0x5c ? 'a percent-encoded slash' : 'a percent-encoded delimiter';
      } else if (byte >= 0xc2 && byte <= 0xdf) {
        need = 1;
        cp = byte & 0x1f;
        min = 0x80;
      } else if (byte >= 0xe0 && byte <= 0xef) {
        need = 2;
        cp = byte & 0x0f;
        min = 0x800;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        need = 3;
        cp = byte & 0x07;
        min = 0x10000;
      } else {
        return 'percent-encoded bytes that are not UTF-8 in shortest form';
      }
    } else {
      if ((byte & 0xc0) !== 0x80) return 'percent-encoded bytes that are not UTF-8 in shortest form';
      cp = cp * 64 + (byte & 0x3f);
      if (--need === 0 && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) {
        return 'percent-encoded bytes that are not UTF-8 in shortest form';
      }
    }
    if (i >= end || path.charCodeAt(i) !== 37) {
      if (need > 0) return 'percent-encoded bytes that are not UTF-8 in shortest form';
      return i;
    }
  }
}

function isUnreserved(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}
