import { describe, expect, it } from 'vitest';
import { matchConflict, pathProblem, routeMatchRules } from '../../src/consumers/route-match.js';
import { BAD_HOST, CASE_MISMATCH, HOST_NOT_COVERED, PATH_NOT_NORMAL, RouteMatcher } from '../../src/consumers/route-matcher.js';

const routes = [
  { route: 'any', match: routeMatchRules([{}]) },
  { route: 'v1', match: routeMatchRules([{ path: { prefix: '/v1' } }]) },
  { route: 'orders', match: routeMatchRules([{ path: { prefix: '/v1/orders' } }]) },
  { route: 'order', match: routeMatchRules([{ path: { template: '/v1/orders/{id}' } }]) },
  { route: 'order-new', match: routeMatchRules([{ path: { exact: '/v1/orders/new' } }]) },
  { route: 'order-post', match: routeMatchRules([{ path: { template: '/v1/orders/{id}' }, methods: ['POST'] }]) },
  { route: 'admin', match: routeMatchRules([{ path: { prefix: '/admin' } }]) },
  { route: 'wild', match: routeMatchRules([{ hosts: ['*.example.com'], path: { prefix: '/v1' } }]) },
  { route: 'deep-wild', match: routeMatchRules([{ hosts: ['*.eu.example.com'], path: { prefix: '/v1' } }]) },
  { route: 'api', match: routeMatchRules([{ hosts: ['api.example.com'], path: { prefix: '/v1' } }]) },
];
const m = new RouteMatcher(routes);

describe('RouteMatcher precedence', () => {
  it('exact > template > longer prefix > shorter prefix', () => {
    expect(m.lookup('h', 'GET', '/v1/orders/new')).toBe('order-new');
    expect(m.lookup('h', 'GET', '/v1/orders/7')).toBe('order');
    expect(m.lookup('h', 'GET', '/v1/orders/7/items')).toBe('orders');
    expect(m.lookup('h', 'GET', '/v1/ordersX')).toBe('v1');
    expect(m.lookup('h', 'GET', '/v2')).toBe('any');
  });
  it('method-specific > any, trailing slash and query ignored', () => {
    expect(m.lookup('h', 'POST', '/v1/orders/7/')).toBe('order-post');
    expect(m.lookup('h', 'GET', '/v1/orders/7?x=1')).toBe('order');
  });
  it('exact host > longer wildcard > wildcard > any; port and case of host ignored', () => {
    expect(m.lookup('api.example.com', 'GET', '/v1/x')).toBe('api');
    expect(m.lookup('API.Example.com:8443', 'GET', '/v1/x')).toBe('api');
    expect(m.lookup('a.eu.example.com', 'GET', '/v1/x')).toBe('deep-wild');
    expect(m.lookup('b.example.com', 'GET', '/v1/x')).toBe('wild');
    expect(m.lookup('example.com', 'GET', '/v1/x')).toBe('v1');
    expect(m.lookup('api.example.com.', 'GET', '/v1/x')).toBe(BAD_HOST);
  });
  it('a case trick on a literal segment is refused, not matched loosely', () => {
    expect(m.lookup('h', 'GET', '/ADMIN/users')).toBe(CASE_MISMATCH);
    expect(m.lookup('h', 'GET', '/v1/Orders/new')).toBe(CASE_MISMATCH);
  });
});

describe('pathProblem: every trick is refused', () => {
  it.each([
    ['/admin%2Fx', 'slash'], ['/admin%2fx', 'lower-case'], ['/admin%5Cx', 'slash'], ['/a\\b', 'backslash'],
    ['/v1/../admin', '".."'], ['/v1/./admin', '"."'], ['/admin;x=1', ';'], ['/admin#x', 'fragment'],
    ['//admin', 'empty'], ['/%61dmin', 'unreserved'], ['/%2E%2E/admin', 'unreserved'], ['/caf\u00e9', 'ASCII'],
    ['/%C0%AF', 'shortest'], ['/%ED%A0%80', 'shortest'], ['/%E9', 'shortest'], ['/%3B', 'delimiter'], ['/%4', 'malformed'],
    ['admin', 'start'], ['/a b', 'ASCII'],
  ])('%s', (path, word) => {
    expect(pathProblem(path)).toContain(word);
  });
  it('accepts normal paths', () => {
    for (const p of ['/', '/v1/orders/7', '/v1/x?a=%2F', '/caf%C3%A9', '/a%20b']) expect(pathProblem(p)).toBeUndefined();
  });
});

describe('matchConflict', () => {
  it('refuses same-specificity overlapping rules, naming both routes', () => {
    const c = matchConflict('b', routeMatchRules([{ path: { template: '/v1/orders/{x}' } }]), routes);
    expect(c?.route).toBe('order');
    const msg = c?.message;
    expect(msg).toContain('"b"');
    expect(msg).toContain('"order"');
    expect(matchConflict('b', routeMatchRules([{ path: { template: '/v1/orders/{x}' }, methods: ['PUT'] }]), routes)).toBeUndefined();
  });
  it('refuses bad rules', () => {
    expect(() => routeMatchRules([{ hosts: ['Api.example.com'] }])).toThrow(/hosts\[0\]/);
    expect(() => routeMatchRules([{ path: { prefix: '/a/../b' } }])).toThrow(/normal form/);
    expect(() => routeMatchRules([{ path: { template: '/a/x{id}' } }])).toThrow(/whole segment/);
  });
});

describe('RouteMatcher.name: host, path check and lookup in one pass', () => {
  const hosted = new RouteMatcher([
    { route: 'api', match: routeMatchRules([{ hosts: ['api.example.com'], path: { prefix: '/v1' } }]) },
    { route: 'deep', match: routeMatchRules([{ hosts: ['api.example.com'], path: { template: '/v1/{a}/b/{c}' } }]) },
  ]);
  it('a host no rule covers is not matched and its path not judged', () => {
    expect(hosted.name('other.example.com', 'GET', '/v1/../x')).toBe(HOST_NOT_COVERED);
  });
  it('a covered host with a path not in normal form is PATH_NOT_NORMAL, before a bad host', () => {
    expect(hosted.name('api.example.com', 'GET', '/v1/%2E%2E/x')).toBe(PATH_NOT_NORMAL);
    expect(hosted.name('API.example.com:443', 'GET', '/v1//x')).toBe(PATH_NOT_NORMAL);
    expect(hosted.name('api.example.com.', 'GET', '/v1/x')).toBe(BAD_HOST);
  });
  it('paths deeper than any rule still match a prefix; templates need their exact depth', () => {
    expect(hosted.name('api.example.com', 'GET', `/v1${'/x'.repeat(300)}`)).toBe('api');
    expect(hosted.name('api.example.com', 'GET', '/v1/7/b/9')).toBe('deep');
    expect(hosted.name('api.example.com', 'GET', '/v1/7/b/9/')).toBe('deep');
    expect(hosted.name('api.example.com', 'GET', '/v1/7/b/9/10')).toBe('api');
    expect(hosted.name('api.example.com', 'GET', '/v1/7/B/9')).toBe(CASE_MISMATCH);
  });
});
