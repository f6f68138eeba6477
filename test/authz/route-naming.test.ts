/**
 * Route naming in the Authorizer (src/authz/route-naming.ts): a request
 * without context_extensions.route is judged on the route its host, path and
 * method match; the extension wins or, with routeMismatch 'deny', must agree;
 * a path not in normal form is refused where a rule could apply, never matched
 * into a looser route.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/authz/authorizer.js';
import type { Decision } from '../../src/authz/decision.js';
import { REASONS, type Reason } from '../../src/authz/reasons.js';
import type { AuthzRequest } from '../../src/authz/request.js';
import { hashKey, keyHint } from '../../src/consumers/api-keys.js';
import type { ConsumerRecord, RouteRecord } from '../../src/consumers/model.js';
import { routeMatchRules } from '../../src/consumers/route-match.js';
import { ConsumerReplica } from '../../src/replica/consumer-replica.js';

const AT = '2026-01-01T00:00:00.000Z';

function consumer(name: string): ConsumerRecord {
  const key = `${name}-custom-key-0001`;
  return {
    id: `csm_${name}`, name, description: '', enabled: true, createdAt: AT, updatedAt: AT, version: 1,
    auth: { type: 'api-key', source: { in: 'header', name: 'x-api-key' }, keys: [{ id: `key_${name}`, hash: hashKey(key), hint: keyHint(key), generation: 'custom', createdAt: AT, expiresAt: null }] },
  };
}

const ROUTES: RouteRecord[] = [
  // `admin` admits alice only; `orders` admits bob only; `public` (no grant list) admits everyone.
  { route: 'admin', consumers: ['alice'], updatedAt: AT, match: routeMatchRules([{ hosts: ['api.example.com'], path: { prefix: '/admin' } }]) },
  { route: 'orders', consumers: ['bob'], updatedAt: AT, match: routeMatchRules([{ hosts: ['api.example.com'], path: { template: '/v1/orders/{id}' }, methods: ['GET'] }]) },
  { route: 'public', consumers: [], open: true, updatedAt: AT, match: routeMatchRules([{ hosts: ['api.example.com'] }]) },
  // A route named only by the extension (no rules).
  { route: 'legacy', consumers: ['alice'], updatedAt: AT },
];

let dir: ConsumerReplica;
let authz: Authorizer;
let strict: Authorizer;

beforeEach(() => {
  dir = new ConsumerReplica();
  dir.apply({ epoch: 'e', rev: 1, more: false, consumers: new Map(['alice', 'bob'].map((n) => [n, consumer(n)])), routes: new Map(ROUTES.map((r) => [r.route, r])) });
  dir.authoritative = true;
  authz = new Authorizer({ replica: dir });
  strict = new Authorizer({ replica: dir, routeMismatch: 'deny' });
});

/** A request as Istio's sidecar sends it: `:authority`, path, method, no route extension. */
function req(who: string, path: string, r: Partial<AuthzRequest> & { host?: string } = {}): AuthzRequest {
  const { host = 'api.example.com', ...rest } = r;
  return { id: 'r', method: 'GET', path, headers: { ':authority': host, 'x-api-key': `${who}-custom-key-0001` }, route: '', ...rest };
}

function outcome(d: Decision | Promise<Decision>): Reason | 'allow' {
  if (d instanceof Promise) throw new Error('an API-key check answered asynchronously');
  return d.allow ? 'allow' : d.reason;
}

describe('a route named from host, path and method', () => {
  it('grants apply on the matched route', () => {
    expect(outcome(authz.check(req('alice', '/admin/users')))).toBe('allow');
    expect(outcome(authz.check(req('bob', '/admin/users')))).toBe('route_forbidden');
    expect(outcome(authz.check(req('bob', '/v1/orders/7')))).toBe('allow');
    expect(outcome(authz.check(req('alice', '/v1/orders/7')))).toBe('route_forbidden');
    // POST is not in `orders`' rule: it falls to `public`, which admits everyone.
    expect(outcome(authz.check(req('alice', '/v1/orders/7', { method: 'POST' })))).toBe('allow');
    expect(outcome(authz.check(req('alice', '/anything')))).toBe('allow');
  });

  it('a host no rule covers: no route (no grant applies), and a non-normal path there is not refused', () => {
    expect(outcome(authz.check(req('bob', '/admin/users', { host: 'other.example.com' })))).toBe('allow');
    expect(outcome(authz.check(req('bob', '/admin/../x', { host: 'other.example.com' })))).toBe('allow');
  });

  it('`:authority` with a port and in another case names the same route; `host` is read when `:authority` is absent', () => {
    expect(outcome(authz.check(req('bob', '/admin/x', { host: 'API.example.com:443' })))).toBe('route_forbidden');
    const r = req('bob', '/admin/x');
    expect(outcome(authz.check({ ...r, headers: { host: 'api.example.com', 'x-api-key': 'bob-custom-key-0001' } }))).toBe('route_forbidden');
  });

  it.each([
    ['percent-encoded slash', '/admin%2Fusers'],
    ['lower-case percent-encoded slash', '/admin%2fusers'],
    ['encoded backslash', '/admin%5Cusers'],
    ['dot-dot segment', '/v1/../admin/users'],
    ['dot segment', '/./admin/users'],
    ['encoded dots', '/v1/%2E%2E/admin'],
    ['empty segment', '//admin/users'],
    ['; parameter', '/admin;x=1/users'],
    ['; on a template segment', '/v1/orders/7;jsessionid=1'],
    ['fragment', '/admin#frag'],
    ['case trick', '/ADMIN/users'],
    ['case trick on a template literal', '/v1/ORDERS/7'],
    ['needless encoding', '/%61dmin/users'],
    ['overlong UTF-8', '/admin%C0%AFusers'],
  ])('%s (%s): 400 path_not_normal, never the looser route', (_what, path) => {
    expect(outcome(authz.check(req('bob', path)))).toBe('path_not_normal');
  });

  it('a trailing dot or empty label in the host: path_not_normal', () => {
    expect(outcome(authz.check(req('bob', '/admin/x', { host: 'api.example.com.' })))).toBe('path_not_normal');
    expect(outcome(authz.check(req('bob', '/admin/x', { host: 'api..example.com' })))).toBe('path_not_normal');
  });

  it('a query string and a trailing slash do not change the route; a `?` in the query is not a path trick', () => {
    expect(outcome(authz.check(req('bob', '/admin/users?x=/../y')))).toBe('route_forbidden');
    expect(outcome(authz.check(req('alice', '/v1/orders/7/')))).toBe('route_forbidden');
  });

  it('path_not_normal is 400 with gRPC INVALID_ARGUMENT; route_mismatch is 403 PERMISSION_DENIED', () => {
    expect(REASONS.path_not_normal).toMatchObject({ http: 400, grpc: 3 });
    expect(REASONS.route_mismatch).toMatchObject({ http: 403, grpc: 7 });
  });

  it('the matcher is compiled once per route change, not per Check', () => {
    const builds = dir.routeMatcherBuilds;
    for (let i = 0; i < 100; i++) authz.check(req('alice', `/admin/${i}`));
    expect(dir.routeMatcherBuilds).toBe(builds);
    // A change of grants only does not recompile; a change of rules does.
    dir.apply({ epoch: 'e', rev: 2, more: false, consumers: new Map(), routes: new Map([['admin', { ...(ROUTES[0] as RouteRecord), consumers: ['bob'] }]]) });
    expect(dir.routeMatcherBuilds).toBe(builds);
    expect(outcome(authz.check(req('bob', '/admin/users')))).toBe('allow');
    dir.apply({ epoch: 'e', rev: 3, more: false, consumers: new Map(), routes: new Map([['admin', null]]) });
    expect(dir.routeMatcherBuilds).toBe(builds + 1);
    // `admin`'s rules are gone: /admin falls to `public`.
    expect(outcome(authz.check(req('bob', '/admin/users')))).toBe('allow');
  });
});

describe('context_extensions.route', () => {
  it('wins by default, even where the rules name another route or none', () => {
    expect(outcome(authz.check(req('bob', '/admin/users', { route: 'orders' })))).toBe('allow');
    expect(outcome(authz.check(req('bob', '/v1/orders/7', { route: 'legacy' })))).toBe('route_forbidden');
    // No matching at all with the extension: a non-normal path is Envoy's to judge.
    expect(outcome(authz.check(req('bob', '/admin/../x', { route: 'orders' })))).toBe('allow');
  });

  it('with routeMismatch deny: agreeing passes, disagreeing is 403 route_mismatch, a non-normal path path_not_normal', () => {
    expect(outcome(strict.check(req('bob', '/v1/orders/7', { route: 'orders' })))).toBe('allow');
    expect(outcome(strict.check(req('alice', '/admin/x', { route: 'admin' })))).toBe('allow');
    expect(outcome(strict.check(req('bob', '/admin/users', { route: 'orders' })))).toBe('route_mismatch');
    expect(outcome(strict.check(req('alice', '/v1/orders/7', { route: 'legacy' })))).toBe('route_mismatch');
    // A host no rule covers names no route: any extension there disagrees.
    expect(outcome(strict.check(req('alice', '/x', { route: 'legacy', host: 'other.example.com' })))).toBe('route_mismatch');
    expect(outcome(strict.check(req('bob', '/v1/orders/../7', { route: 'orders' })))).toBe('path_not_normal');
    // Without an extension, deny mode names routes like the default.
    expect(outcome(strict.check(req('bob', '/v1/orders/7')))).toBe('allow');
  });
});
