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
  const q = path.indexOf('?');
  const end = q < 0 ? path.length : q;
  if (path.indexOf('#') >= 0) return 'a fragment (#)';
  if (end === 0 || path.charCodeAt(0) !== 47) return 'does not start with /';
  let segStart = 1;
  for (let i = 1; i <= end; i++) {
    const c = i < end ? path.charCodeAt(i) : 47;
    if (c === 47) {
      const len = i - segStart;
      if (len === 0 && i < end) return 'an empty segment (//)';
      if (len === 1 && path.charCodeAt(segStart) === 46) return 'a "." segment';
      if (len === 2 && path.charCodeAt(segStart) === 46 && path.charCodeAt(segStart + 1) === 46) return 'a ".." segment';
      segStart = i + 1;
      continue;
    }
    if (c < 0x21 || c > 0x7e) return 'a character outside printable ASCII';
    if (c === 92) return 'a backslash';
    if (c === 59) return 'a ";" parameter';
    if (c === 37) {
      const r = percentRun(path, i, end);
      if (typeof r === 'string') return r;
      i = r - 1;
    }
  }
  // Query strings are not matched on, but may not carry what would end the path elsewhere.
  for (let i = end + 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return 'a character outside printable ASCII in the query';
  }
  return undefined;
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
