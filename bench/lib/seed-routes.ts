/**
 * 1,000 routes with match rules for the route-naming scenarios: exact,
 * prefix and template paths on one host, so the matcher's trie is as wide as
 * a large API's. Route BENCH_MATCHED_ROUTE grants the bench consumer 0; the
 * scenario's request matches it by its template rule.
 */
import type { RouteRecord } from '../../src/consumers/model.js';
import { routeMatchRules } from '../../src/consumers/route-match.js';
import { withRedisStore } from './bench-store.js';
import { benchName } from './seed.js';

export const BENCH_ROUTES = 1000;
export const BENCH_ROUTE_HOST = 'api.example.com';
/** The route the scenario's request matches (a template rule), granted to bench consumer 0. */
export const BENCH_MATCHED_ROUTE = 'bench-route-0500';
/** The request path that matches BENCH_MATCHED_ROUTE. */
export const BENCH_MATCHED_PATH = '/v1/svc500/items/8a7f3c';

/** Route i: a template, an exact or a prefix rule (by i mod 3), all on BENCH_ROUTE_HOST. */
export function benchRoute(i: number): RouteRecord {
  const route = `bench-route-${String(i).padStart(4, '0')}`;
  const path = i % 3 === 2 ? { template: `/v1/svc${i}/items/{id}` } : i % 3 === 0 ? { exact: `/v1/svc${i}/status` } : { prefix: `/v1/svc${i}` };
  const match = routeMatchRules([{ hosts: [BENCH_ROUTE_HOST], path, methods: ['POST'] }]);
  return route === BENCH_MATCHED_ROUTE
    ? { route, consumers: [benchName(0)], match, updatedAt: '2026-01-01T00:00:00.000Z' }
    : { route, consumers: [], open: true, match, updatedAt: '2026-01-01T00:00:00.000Z' };
}

/** Writes the routes through the store (each conflict-checked like an admin write); returns ms. */
export async function seedRoutes(url: string, prefix = 'cauthz:'): Promise<number> {
  const started = Date.now();
  await withRedisStore(url, prefix, async (store) => {
    for (let i = 0; i < BENCH_ROUTES; i++) await store.putRoute(benchRoute(i));
  });
  return Date.now() - started;
}
