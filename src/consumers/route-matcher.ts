/**
 * The compiled form of every route's match rules: built once per change of
 * the routes, looked up on each Check that carries no route name. A lookup
 * walks a host map and one path-segment trie, so its cost depends on the
 * request (host labels, path segments), not on the number of routes; it
 * allocates nothing: one pass over the path (route-match.ts `scanPath`)
 * checks its normal form and leaves each segment's bounds and hash in
 * preallocated arrays, and the trie's literal children are open-addressed
 * typed-array tables probed with those hashes. Segments are never sliced.
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
import { PathSegments, type RouteMatchRule, scanPath, segmentHash } from './route-match.js';

/** Lookup answer when the path matches a route literal only by ignoring case. */
export const CASE_MISMATCH: unique symbol = Symbol('case-mismatch');
/** Lookup answer when the host is not a plain host name (trailing dot, non-ASCII, empty label). */
export const BAD_HOST: unique symbol = Symbol('bad-host');
/** `name` answer when the path is not in normal form (route-match.ts `pathProblem`). */
export const PATH_NOT_NORMAL: unique symbol = Symbol('path-not-normal');
/** `name` answer when no rule could apply to the host: nothing is matched, nothing refused. */
export const HOST_NOT_COVERED: unique symbol = Symbol('host-not-covered');
export type RouteLookup = string | undefined | typeof CASE_MISMATCH | typeof BAD_HOST;
export type RouteNamed = RouteLookup | typeof PATH_NOT_NORMAL | typeof HOST_NOT_COVERED;

/** Route names by method, and for any method. */
class Terminal {
  byMethod: Map<string, string> | undefined = undefined;
  any: string | undefined = undefined;

  add(route: string, methods: readonly string[] | undefined): void {
    if (!methods || methods.length === 0) {
      this.any = lower(this.any, route);
      return;
    }
    this.byMethod ??= new Map();
    for (const m of methods) this.byMethod.set(m, lower(this.byMethod.get(m), route));
  }

  pick(method: string): string | undefined {
    if (this.byMethod !== undefined) {
      const r = this.byMethod.get(method);
      if (r !== undefined) return r;
    }
    return this.any;
  }
}

function lower(a: string | undefined, b: string): string {
  return a === undefined || b < a ? b : a;
}

const NO_SLOTS = new Int32Array(0);
/** Set in every used slot's key, so that 0 marks an empty one (hashes are below 2^30). */
const USED = 0x40000000;

class PathNode {
  /** Literal children by segmentHash (case-folded), while compiling: the first, the others along `sameHash`. */
  readonly lit = new Map<number, PathNode>();
  /** The next sibling whose segment has the same hash. */
  sameHash: PathNode | undefined = undefined;
  /**
   * `lit` as an open-addressed table (seal), what lookups read: slot i holds
   * a hash | USED (0: empty) and its first node; mask is the size - 1 (-1: no
   * literal children). At most half full, so a probe ends within a few slots.
   */
  slots: Int32Array = NO_SLOTS;
  slotNodes: Array<PathNode | undefined> = [];
  mask = -1;
  param: PathNode | undefined = undefined;
  exact: Terminal | undefined = undefined;
  template: Terminal | undefined = undefined;
  prefix: Terminal | undefined = undefined;

  constructor(
    /** The literal segment that leads here ('' for the root and parameters). */
    readonly seg: string,
    readonly depth: number,
  ) {}

  child(seg: string): PathNode {
    if (seg.startsWith('{')) return (this.param ??= new PathNode('', this.depth + 1));
    const h = segmentHash(seg, 0, seg.length);
    const first = this.lit.get(h);
    for (let c = first; c !== undefined; c = c.sameHash) if (c.seg === seg) return c;
    const node = new PathNode(seg, this.depth + 1);
    node.sameHash = first;
    this.lit.set(h, node);
    return node;
  }

  /** Builds the lookup tables of this node and of every node below it (after the last rule is added). */
  seal(): void {
    if (this.lit.size > 0) {
      let size = 2;
      while (size < this.lit.size * 2) size *= 2;
      this.slots = new Int32Array(size);
      this.slotNodes = new Array<PathNode | undefined>(size).fill(undefined);
      this.mask = size - 1;
      for (const [h, first] of this.lit) {
        let i = h & this.mask;
        while (this.slots[i] !== 0) i = (i + 1) & this.mask;
        this.slots[i] = h | USED;
        this.slotNodes[i] = first;
        for (let c: PathNode | undefined = first; c !== undefined; c = c.sameHash) c.seal();
      }
    }
    this.param?.seal();
  }
}

/** The rules of one host class (an exact host, a wildcard suffix, any host): one trie. */
class HostRules {
  readonly root = new PathNode('', 0);
}

/**
 * The host classes a request's host falls in, most specific first (its
 * exact host, its wildcards from the longest suffix, any host): made when the
 * rules are compiled, so picking one per request allocates nothing.
 */
type HostChain = readonly HostRules[];

/** The host is not a plain host name: its chain. */
const BAD_HOST_CHAIN: HostChain = Object.freeze([]);

export class RouteMatcher {
  readonly #exactHosts = new FoldMap<HostChain>();
  /** The same chains by the exact (lower-case, port-less) host: one map get for the common case. */
  readonly #exactFast = new Map<string, HostChain>();
  readonly #wildHosts = new FoldMap<HostChain>();
  #anyChain: HostChain | undefined;
  /** The scratch of a lookup (lookups are synchronous): the request's segments and its literal walk. */
  readonly #segs: PathSegments;
  readonly #walk: Walk;
  /** Number of routes with match rules. */
  readonly size: number;

  /** Compiles the rules of `routes` (routes without rules are skipped). */
  constructor(routes: Iterable<{ readonly route: string; readonly match?: readonly RouteMatchRule[] }>) {
    const exact = new Map<string, HostRules>();
    const wild = new Map<string, HostRules>();
    let any: HostRules | undefined;
    let n = 0;
    let depth = 0;
    for (const r of routes) {
      if (!r.match || r.match.length === 0) continue;
      n++;
      for (const rule of r.match) {
        const hosts = rule.hosts && rule.hosts.length > 0 ? rule.hosts : undefined;
        if (!hosts) depth = Math.max(depth, add((any ??= new HostRules()), r.route, rule));
        else {
          for (const h of hosts) {
            const map = h.startsWith('*.') ? wild : exact;
            const key = h.startsWith('*.') ? h.slice(2) : h;
            let hr = map.get(key);
            if (!hr) map.set(key, (hr = new HostRules()));
            depth = Math.max(depth, add(hr, r.route, rule));
          }
        }
      }
    }
    this.size = n;
    for (const hr of exact.values()) hr.root.seal();
    for (const hr of wild.values()) hr.root.seal();
    any?.root.seal();
    this.#anyChain = any ? Object.freeze([any]) : undefined;
    // A host's wildcards, longest suffix first: the labels after each of its dots.
    const chain = (first: HostRules | undefined, host: string, from: number): HostChain => {
      const c: HostRules[] = first ? [first] : [];
      for (let i = host.indexOf('.', from); i >= 0; i = host.indexOf('.', i + 1)) {
        const w = wild.get(host.slice(i + 1));
        if (w) c.push(w);
      }
      if (any) c.push(any);
      return Object.freeze(c);
    };
    for (const [h, hr] of exact) {
      const c = chain(hr, h, 0);
      this.#exactHosts.set(h, c);
      this.#exactFast.set(h, c);
    }
    for (const [suffix, hr] of wild) this.#wildHosts.set(suffix, chain(hr, suffix, 0));
    // Segments past the deepest rule are never looked up, only counted.
    this.#segs = new PathSegments(depth + 1);
    this.#walk = new Walk(depth + 1);
  }

  /**
   * Whether some rule could name a route on `host` (for some path and
   * method): rules for any host, for this exact host, or a wildcard covering
   * it. A host that is not a plain host name counts as covered (lookup
   * refuses it). Allocates nothing.
   */
  coversHost(host: string): boolean {
    return this.#chain(host) !== undefined;
  }

  /**
   * The route the request belongs to, undefined when no rule matches,
   * CASE_MISMATCH or BAD_HOST when it must be denied. `path` must already be
   * in normal form (pathProblem; one that is not names no route); its query,
   * if any, is ignored. `host` is `:authority`, with or without a port.
   */
  lookup(host: string, method: string, path: string): RouteLookup {
    const chain = this.#chain(host);
    if (chain === BAD_HOST_CHAIN) return BAD_HOST;
    if (chain === undefined || scanPath(path, this.#segs) !== undefined) return undefined;
    return this.#match(chain, method, path);
  }

  /**
   * What route naming asks, in one call and one pass over the path:
   * HOST_NOT_COVERED when no rule could apply to `host` (coversHost), else
   * PATH_NOT_NORMAL when the path is not in normal form, else what `lookup`
   * answers. Allocates nothing.
   */
  name(host: string, method: string, path: string): RouteNamed {
    const chain = this.#chain(host);
    if (chain === undefined) return HOST_NOT_COVERED;
    if (scanPath(path, this.#segs) !== undefined) return PATH_NOT_NORMAL;
    if (chain === BAD_HOST_CHAIN) return BAD_HOST;
    return this.#match(chain, method, path);
  }

  /** The chain of `host`: BAD_HOST_CHAIN when it is not a plain name, undefined when no rule covers it. */
  #chain(host: string): HostChain | undefined {
    const fast = this.#exactFast.get(host);
    if (fast !== undefined) return fast;
    const hostEnd = hostEndOf(host);
    if (isBadHost(host, hostEnd)) return BAD_HOST_CHAIN;
    if (hostEnd > 0) {
      if (this.#exactHosts.size > 0) {
        const c = this.#exactHosts.get(host, 0, hostEnd);
        if (c) return c;
      }
      if (this.#wildHosts.size > 0) {
        // The first dot gives the longest suffix: the most specific wildcard.
        for (let i = 1; i < hostEnd; i++) {
          if (host.charCodeAt(i) !== 46) continue;
          const c = this.#wildHosts.get(host, i + 1, hostEnd);
          if (c) return c;
        }
      }
    }
    return this.#anyChain;
  }

  /** Walks the chain's tries, most specific host class first, over the segments #segs holds. */
  #match(chain: HostChain, method: string, path: string): RouteLookup {
    const w = this.#walk;
    w.caseMismatch = false;
    let found: string | undefined;
    for (let i = 0; i < chain.length && found === undefined; i++) {
      found = matchPath((chain[i] as HostRules).root, method, path, this.#segs, w);
    }
    return w.caseMismatch ? CASE_MISMATCH : found;
  }
}

/** Adds a rule to a host class's trie; returns the rule's depth in segments. */
function add(hr: HostRules, route: string, rule: RouteMatchRule): number {
  const p = rule.path ?? { prefix: '/' };
  const text = 'exact' in p ? p.exact : 'prefix' in p ? p.prefix : p.template;
  let node = hr.root;
  if (text !== '/') for (const seg of text.split('/').slice(1)) node = node.child(seg);
  const t = 'exact' in p ? (node.exact ??= new Terminal()) : 'prefix' in p ? (node.prefix ??= new Terminal()) : (node.template ??= new Terminal());
  t.add(route, rule.methods);
  return node.depth;
}

/** Mutable state of one lookup: the literal walk's nodes by depth, and whether a literal matched only ignoring case. */
class Walk {
  readonly nodes: Array<PathNode | undefined>;
  caseMismatch = false;

  constructor(capacity: number) {
    this.nodes = new Array<PathNode | undefined>(capacity + 1).fill(undefined);
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
    const h = segmentHash(key, 0, key.length);
    let list = this.#buckets.get(h);
    if (!list) this.#buckets.set(h, (list = []));
    list.push({ key, value });
    this.size++;
  }

  get(s: string, start: number, end: number): V | undefined {
    const list = this.#buckets.get(segmentHash(s, start, end));
    if (!list) return undefined;
    for (const e of list) if (e.key.length === end - start && equalsFolded(s, start, e.key)) return e.value;
    return undefined;
  }
}

/**
 * Exact, then template, then the deepest prefix. The literal walk (exact and
 * prefix rules, which have no parameters) goes first and keeps its nodes, so
 * the template search that follows re-walks none of them.
 */
function matchPath(root: PathNode, method: string, path: string, segs: PathSegments, w: Walk): string | undefined {
  const n = segs.count;
  const nodes = w.nodes;
  let node = root;
  let prefix = root.prefix !== undefined ? root.prefix.pick(method) : undefined;
  let depth = 0;
  nodes[0] = root;
  while (depth < n) {
    const next = litChild(node, path, segs, depth, w);
    if (next === undefined) break;
    node = next;
    nodes[++depth] = node;
    if (node.prefix !== undefined) {
      const p = node.prefix.pick(method);
      if (p !== undefined) prefix = p;
    }
  }
  if (depth === n && node.exact !== undefined) {
    const x = node.exact.pick(method);
    if (x !== undefined) return x;
  }
  const t = matchTemplate(root, 0, depth, method, path, segs, w);
  return t !== undefined ? t : prefix;
}

/**
 * Depth-first over templates from `node` at segment `d`: the literal child
 * first, then the parameter. Nodes on the literal walk (d <= litDepth, along
 * w.nodes) take their literal child from it; a node is visited at most once
 * per lookup (each has one literal child for a segment and one parameter).
 */
function matchTemplate(node: PathNode, d: number, litDepth: number, method: string, path: string, segs: PathSegments, w: Walk): string | undefined {
  if (d === segs.count) return node.template !== undefined ? node.template.pick(method) : undefined;
  let lit: PathNode | undefined;
  if (litDepth >= 0) {
    // On the literal walk: its next node, or none where the walk stopped.
    lit = d < litDepth ? w.nodes[d + 1] : undefined;
  } else {
    lit = litChild(node, path, segs, d, w);
  }
  if (lit !== undefined) {
    const r = matchTemplate(lit, d + 1, litDepth, method, path, segs, w);
    if (r !== undefined) return r;
  }
  if (node.param !== undefined) return matchTemplate(node.param, d + 1, -1, method, path, segs, w);
  return undefined;
}

/** The literal child of `node` for segment `d`; flags a child equal only when case is ignored. */
function litChild(node: PathNode, path: string, segs: PathSegments, d: number, w: Walk): PathNode | undefined {
  const mask = node.mask;
  if (mask < 0 || d >= segs.capacity) return undefined;
  const key = (segs.hashes[d] as number) | USED;
  const slots = node.slots;
  let i = key & mask;
  let k: number;
  while ((k = slots[i] as number) !== key) {
    if (k === 0) return undefined;
    i = (i + 1) & mask;
  }
  const first = node.slotNodes[i] as PathNode;
  const start = segs.starts[d] as number;
  const len = (segs.ends[d] as number) - start;
  for (let c: PathNode | undefined = first; c !== undefined; c = c.sameHash) {
    if (c.seg.length === len && equalsAt(path, start, c.seg)) return c;
  }
  for (let c: PathNode | undefined = first; c !== undefined; c = c.sameHash) {
    if (c.seg.length === len && equalsFolded(path, start, c.seg)) w.caseMismatch = true;
  }
  return undefined;
}

function equalsAt(s: string, start: number, k: string): boolean {
  for (let j = 0; j < k.length; j++) if (s.charCodeAt(start + j) !== k.charCodeAt(j)) return false;
  return true;
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
