/**
 * The compiled form of every route's match rules: built once per change of
 * the routes, looked up on each Check that carries no route name. A lookup
 * walks a host map and one path-segment trie, so its cost depends on the
 * request (host labels, path segments), not on the number of routes; it
 * allocates nothing (segments are hashed in place and compared with
 * `startsWith`, never sliced).
 *
 * Precedence, most specific first, applied in this order:
 *   1. host: exact > wildcard (longer suffix first) > any host;
 *   2. path: exact > template > longer prefix > shorter prefix; among
 *      templates a literal segment beats a parameter, leftmost first;
 *   3. method: a rule listing the request's method > a rule for any method.
 * A host or path level with no rule for the request's method falls through
 * to the next one. Ties cannot exist: they are refused when saved
 * (matchConflict); a store that holds one anyway resolves it by route name
 * (the lower name wins), so the answer is deterministic.
 *
 * Exact and template rules also match the same path with one trailing slash.
 * Literal segments are compared case-sensitively, but a path that matches
 * a literal only when case is ignored gives CASE_MISMATCH (denied: an
 * upstream that ignores case would serve the route's resource outside it).
 * Hosts are compared ignoring case and without the port.
 */
import type { RouteMatchRule } from './route-match.js';

/** Lookup answer when the path matches a route literal only by ignoring case. */
export const CASE_MISMATCH: unique symbol = Symbol('case-mismatch');
/** Lookup answer when the host is not a plain host name (trailing dot, non-ASCII, empty label). */
export const BAD_HOST: unique symbol = Symbol('bad-host');
export type RouteLookup = string | undefined | typeof CASE_MISMATCH | typeof BAD_HOST;

/** Route names by method, and for any method. */
class Terminal {
  byMethod: Map<string, string> | undefined;
  any: string | undefined;

  add(route: string, methods: readonly string[] | undefined): void {
    if (!methods || methods.length === 0) {
      this.any = lower(this.any, route);
      return;
    }
    this.byMethod ??= new Map();
    for (const m of methods) this.byMethod.set(m, lower(this.byMethod.get(m), route));
  }

  pick(method: string): string | undefined {
    return (this.byMethod !== undefined ? this.byMethod.get(method) : undefined) ?? this.any;
  }
}

function lower(a: string | undefined, b: string): string {
  return a === undefined || b < a ? b : a;
}

interface Child {
  readonly seg: string;
  readonly node: PathNode;
}

class PathNode {
  /** Literal children by case-folded segment hash. */
  readonly lit = new Map<number, Child[]>();
  param: PathNode | undefined;
  exact: Terminal | undefined;
  template: Terminal | undefined;
  prefix: Terminal | undefined;

  child(seg: string): PathNode {
    if (seg.startsWith('{')) return (this.param ??= new PathNode());
    const h = foldHash(seg, 0, seg.length);
    let list = this.lit.get(h);
    if (!list) this.lit.set(h, (list = []));
    for (const c of list) if (c.seg === seg) return c.node;
    const node = new PathNode();
    list.push({ seg, node });
    return node;
  }
}

/** Per-host-class rules: one trie. */
class HostRules {
  readonly root = new PathNode();
}

/** Mutable state of one lookup; one per matcher (lookups are synchronous). */
interface Scratch {
  caseMismatch: boolean;
}

export class RouteMatcher {
  readonly #exactHosts = new FoldMap<HostRules>();
  readonly #wildHosts = new FoldMap<HostRules>();
  #anyHost: HostRules | undefined;
  readonly #scratch: Scratch = { caseMismatch: false };
  /** Number of routes with match rules. */
  readonly size: number;

  /** Compiles the rules of `routes` (routes without rules are skipped). */
  constructor(routes: Iterable<{ readonly route: string; readonly match?: readonly RouteMatchRule[] }>) {
    let n = 0;
    for (const r of routes) {
      if (!r.match || r.match.length === 0) continue;
      n++;
      for (const rule of r.match) {
        const hosts = rule.hosts && rule.hosts.length > 0 ? rule.hosts : undefined;
        if (!hosts) this.#add((this.#anyHost ??= new HostRules()), r.route, rule);
        else {
          for (const h of hosts) {
            const wild = h.startsWith('*.');
            const map = wild ? this.#wildHosts : this.#exactHosts;
            const key = wild ? h.slice(2) : h;
            let hr = map.get(key, 0, key.length);
            if (!hr) map.set(key, (hr = new HostRules()));
            this.#add(hr, r.route, rule);
          }
        }
      }
    }
    this.size = n;
  }

  #add(hr: HostRules, route: string, rule: RouteMatchRule): void {
    const p = rule.path ?? { prefix: '/' };
    const text = 'exact' in p ? p.exact : 'prefix' in p ? p.prefix : p.template;
    let node = hr.root;
    if (text !== '/') for (const seg of text.split('/').slice(1)) node = node.child(seg);
    const t = 'exact' in p ? (node.exact ??= new Terminal()) : 'prefix' in p ? (node.prefix ??= new Terminal()) : (node.template ??= new Terminal());
    t.add(route, rule.methods);
  }

  /**
   * Whether some rule could name a route on `host` (for some path and
   * method): rules for any host, for this exact host, or a wildcard covering
   * it. A host that is not a plain host name counts as covered (lookup
   * refuses it). Allocates nothing.
   */
  coversHost(host: string): boolean {
    if (this.#anyHost) return true;
    const hostEnd = hostEndOf(host);
    if (isBadHost(host, hostEnd)) return true;
    if (hostEnd === 0) return false;
    if (this.#exactHosts.size > 0 && this.#exactHosts.get(host, 0, hostEnd)) return true;
    if (this.#wildHosts.size > 0) {
      for (let i = 1; i < hostEnd; i++) {
        if (host.charCodeAt(i) === 46 && this.#wildHosts.get(host, i + 1, hostEnd)) return true;
      }
    }
    return false;
  }

  /**
   * The route the request belongs to, undefined when no rule matches,
   * CASE_MISMATCH or BAD_HOST when it must be denied. `path` must already be
   * in normal form (pathProblem); its query, if any, is ignored. `host` is
   * `:authority`, with or without a port.
   */
  lookup(host: string, method: string, path: string): RouteLookup {
    const hostEnd = hostEndOf(host);
    if (isBadHost(host, hostEnd)) return BAD_HOST;
    let end = path.indexOf('?');
    if (end < 0) end = path.length;
    const s = this.#scratch;
    s.caseMismatch = false;
    let found: string | undefined;
    if (hostEnd > 0 && this.#exactHosts.size > 0) {
      const hr = this.#exactHosts.get(host, 0, hostEnd);
      if (hr) found = matchPath(hr.root, method, path, end, s);
    }
    if (found === undefined && hostEnd > 0 && this.#wildHosts.size > 0) {
      // The first dot gives the longest suffix: the most specific wildcard.
      for (let i = 1; i < hostEnd && found === undefined; i++) {
        if (host.charCodeAt(i) !== 46) continue;
        const hr = this.#wildHosts.get(host, i + 1, hostEnd);
        if (hr) found = matchPath(hr.root, method, path, end, s);
      }
    }
    if (found === undefined && this.#anyHost) found = matchPath(this.#anyHost.root, method, path, end, s);
    if (s.caseMismatch) return CASE_MISMATCH;
    return found;
  }
}

/** Where the host name of `:authority` ends: before a `:port`, else its length. */
function hostEndOf(host: string): number {
  for (let i = host.length - 1; i >= 0; i--) {
    const c = host.charCodeAt(i);
    if (c === 58) return i;
    if (c < 48 || c > 57) break;
  }
  return host.length;
}

/** A trailing dot, an empty label, a space, a control or non-ASCII character. */
function isBadHost(host: string, hostEnd: number): boolean {
  if (hostEnd > 0 && host.charCodeAt(hostEnd - 1) === 46) return true;
  for (let i = 0; i < hostEnd; i++) {
    const c = host.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c === 46 && (i === 0 || host.charCodeAt(i - 1) === 46))) return true;
  }
  return false;
}

/** Lower-case keys looked up by a range of a string, ignoring ASCII case, without slicing it. */
class FoldMap<V> {
  readonly #buckets = new Map<number, Array<{ readonly key: string; readonly value: V }>>();
  size = 0;

  set(key: string, value: V): void {
    const h = foldHash(key, 0, key.length);
    let list = this.#buckets.get(h);
    if (!list) this.#buckets.set(h, (list = []));
    list.push({ key, value });
    this.size++;
  }

  get(s: string, start: number, end: number): V | undefined {
    const list = this.#buckets.get(foldHash(s, start, end));
    if (!list) return undefined;
    for (const e of list) if (e.key.length === end - start && equalsFolded(s, start, e.key)) return e.value;
    return undefined;
  }
}

function matchPath(root: PathNode, method: string, path: string, end: number, s: Scratch): string | undefined {
  // One trailing slash is not part of the match: `/a/` is `/a` for exact and template rules.
  const e = end > 1 && path.charCodeAt(end - 1) === 47 ? end - 1 : end;
  // Exact, then the deepest prefix, along the literal walk.
  let node: PathNode | undefined = root;
  let prefix = root.prefix?.pick(method);
  let pos = 1;
  while (pos < e) {
    let segEnd = path.indexOf('/', pos);
    if (segEnd < 0 || segEnd > e) segEnd = e;
    node = litChild(node, path, pos, segEnd, s);
    if (!node) break;
    const p = node.prefix?.pick(method);
    if (p !== undefined) prefix = p;
    pos = segEnd + 1;
  }
  if (node) {
    const x = node.exact?.pick(method);
    if (x !== undefined) return x;
  }
  const t = matchTemplate(root, method, path, 1, e, s);
  return t !== undefined ? t : prefix;
}

/** Depth-first over templates: literal child first, then the parameter. */
function matchTemplate(node: PathNode, method: string, path: string, pos: number, end: number, s: Scratch): string | undefined {
  if (pos >= end) return node.template?.pick(method);
  let segEnd = path.indexOf('/', pos);
  if (segEnd < 0 || segEnd > end) segEnd = end;
  const next = segEnd + 1;
  const lit = litChild(node, path, pos, segEnd, s);
  if (lit) {
    const r = matchTemplate(lit, method, path, next, end, s);
    if (r !== undefined) return r;
  }
  if (node.param) return matchTemplate(node.param, method, path, next, end, s);
  return undefined;
}

function litChild(node: PathNode, path: string, start: number, end: number, s: Scratch): PathNode | undefined {
  if (node.lit.size === 0) return undefined;
  const list = node.lit.get(foldHash(path, start, end));
  if (!list) return undefined;
  const len = end - start;
  for (const c of list) if (c.seg.length === len && path.startsWith(c.seg, start)) return c.node;
  for (const c of list) if (c.seg.length === len && equalsFolded(path, start, c.seg)) s.caseMismatch = true;
  return undefined;
}

/** FNV-1a over ASCII-lower-cased characters of s[start, end), as a small integer. */
function foldHash(s: string, start: number, end: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) {
    let c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    h = Math.imul(h ^ c, 16777619);
  }
  return h & 0x3fffffff;
}

function equalsFolded(s: string, start: number, k: string): boolean {
  for (let j = 0; j < k.length; j++) {
    let a = s.charCodeAt(start + j);
    let b = k.charCodeAt(j);
    if (a >= 65 && a <= 90) a += 32;
    if (b >= 65 && b <= 90) b += 32;
    if (a !== b) return false;
  }
  return true;
}
