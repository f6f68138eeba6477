/**
 * The benchmark's scenarios, as data. Each names the consumer data set it
 * needs, the requests it sends (rotated through), the answer every request
 * must get, and the targets it is judged by (ratios to the no-op baseline
 * measured in the same run with the same request bytes).
 *
 * JWT scenarios (HS256/RS256/ES256/EdDSA) use the small data set plus one JWT
 * consumer per algorithm (bench/lib/seed-jwt.ts, seeded before everything
 * else) and one token each, repeated: "cached" runs the service with its
 * verified-token cache (every request after the first is a cache hit),
 * "verify" runs a second instance with the cache off (`tokenCacheSize: 0`),
 * so every request pays the signature check.
 */
import { envoyCheckRequest } from '../test/helpers/envoy.js';
import { encodeOfficialRequest } from '../test/helpers/official.js';
import { frame } from './lib/grpc-wire.js';
import { BENCH_JWT_ALGS, jwtConsumerName, jwtToken, type BenchJwtAlg } from './lib/seed-jwt.js';
import { BENCH_MATCHED_PATH, BENCH_MATCHED_ROUTE, BENCH_ROUTE_HOST } from './lib/seed-routes.js';
import { benchKey, benchName, systemKeyFrom } from './lib/seed.js';
import type { Expectation } from './lib/verify.js';

/** Consumer data sets, seeded cumulatively in this order (small ⊂ 100k ⊂ 1M). */
export type DataSet = 'small' | '100k' | '1m';

export interface Sizes {
  /** Consumers in each data set. */
  consumers: Record<DataSet, number>;
  /** Distinct requests in rotating scenarios. */
  distinct: number;
}

export const FULL_SIZES: Sizes = { consumers: { small: 100, '100k': 100_000, '1m': 1_000_000 }, distinct: 1000 };
export const QUICK_SIZES: Sizes = { consumers: { small: 100, '100k': 2_000, '1m': 5_000 }, distinct: 50 };

export interface Targets {
  /** Minimum throughput ratio to the baseline (stretch: a second, higher goal). */
  throughput?: { min: number; stretch?: number };
  /** Maximum p99 latency (ms) at 50 % of the baseline's maximum rate. */
  p99At50Ms?: number;
  /**
   * Maximum Redis commands per Check request during the load. A round trip per
   * request would be ≥ 1; the replica's 1 s poll alone is ~5 commands/s, i.e.
   * ~0.001 per request at 5k req/s: 0.01 leaves room for that and nothing else.
   */
  redisPerRequest?: number;
  /** Maximum heap (MiB) per 100k consumers, measured against the small data set. */
  heapMiBPer100k?: number;
  /** Maximum time from process start to ready (ms). */
  readyMs?: number;
}

export interface Scenario {
  id: string;
  title: string;
  dataSet: DataSet;
  /** Open-loop latency at 25/50/75 % of the baseline's maximum rate. */
  latency: boolean;
  /** CheckRequest messages (protobuf, official encoding), unframed. */
  requests(sizes: Sizes): Buffer[];
  /** The answer request `i` must get. */
  expect(i: number, sizes: Sizes): Expectation;
  targets: Targets;
  /** Verified-token cache size of the service instance (default: the service's default). */
  tokenCacheSize?: number;
}

function bearer(key: string, extra: Record<string, string> = {}, route = 'chat'): Buffer {
  return encodeOfficialRequest(
    envoyCheckRequest({ method: 'POST', path: '/v1/chat/completions', route, headers: { authorization: `Bearer ${key}`, ...extra } }),
  );
}

/** Consumer 0's key on the route BENCH_MATCHED_ROUTE; `route` set: named in context_extensions too. */
function routed(route?: string): Buffer {
  return encodeOfficialRequest(
    envoyCheckRequest({ method: 'POST', host: BENCH_ROUTE_HOST, path: BENCH_MATCHED_PATH, route, headers: { authorization: `Bearer ${benchKey(0)}` } }),
  );
}

/** About 1 KB of the headers a browser or SDK request carries through Envoy. */
const REALISTIC_HEADERS: Record<string, string> = {
  'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  accept: 'application/json, text/plain, */*',
  'accept-language': 'en-US,en;q=0.9,de;q=0.8',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'content-type': 'application/json',
  'content-length': '1834',
  cookie: 'session=9f2c1e4b7a6d5c3b2a1f0e9d8c7b6a5f; theme=dark; _ga=GA1.1.123456789.1700000000; _gid=GA1.1.987654321.1700000000; consent=analytics%3Dno',
  origin: 'https://app.example.com',
  referer: 'https://app.example.com/workspace/4711/chat?thread=abc123',
  'x-forwarded-for': '203.0.113.7, 10.0.0.7',
  'x-forwarded-host': 'api.example.com',
  'x-envoy-external-address': '203.0.113.7',
  'x-envoy-expected-rq-timeout-ms': '15000',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
  'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736',
  'x-b3-spanid': '00f067aa0ba902b7',
  'x-b3-sampled': '1',
  'sec-ch-ua': '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
  'sec-ch-ua-platform': '"macOS"',
  'sec-fetch-site': 'same-site',
  'sec-fetch-mode': 'cors',
  'x-client-version': 'web-2026.11.3',
};

/** Request i of a rotating scenario hits consumer spread evenly over [0, n). */
function spread(i: number, distinct: number, n: number): number {
  return Math.floor(((i * 2654435761) % 2 ** 32) / 2 ** 32 * n) % n;
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'api-key-hit',
    title: 'API key, cache hit',
    dataSet: 'small',
    latency: true,
    requests: () => [bearer(benchKey(0))],
    expect: () => ({ allow: true, consumer: benchName(0) }),
    targets: { throughput: { min: 0.9, stretch: 1.0 }, p99At50Ms: 1 },
  },
  {
    id: 'unknown-key-flood',
    title: 'Unknown keys (flood of random keys)',
    dataSet: 'small',
    latency: true,
    requests: (s) => Array.from({ length: s.distinct }, (_, i) => bearer(systemKeyFrom(`unknown-${i}`))),
    expect: () => ({ allow: false, reason: 'invalid_credential' }),
    targets: { throughput: { min: 0.8 }, redisPerRequest: 0.01 },
  },
  {
    id: 'realistic-1kb',
    title: 'API key, ~1 KB of request headers',
    dataSet: 'small',
    latency: true,
    requests: () => [bearer(benchKey(1), REALISTIC_HEADERS)],
    expect: () => ({ allow: true, consumer: benchName(1) }),
    targets: { throughput: { min: 0.9 } },
  },
  // Istio-shaped (no context_extensions): the route is named by the match rules of 1,000 routes
  // (bench/lib/seed-routes.ts); then the same request naming the route in context_extensions.
  {
    id: 'route-matched-1000',
    title: 'API key on a route named by its match rules, 1,000 routes',
    dataSet: 'small',
    latency: false,
    requests: () => [routed()],
    expect: () => ({ allow: true, consumer: benchName(0) }),
    targets: {},
  },
  {
    id: 'route-extension-1000',
    title: 'API key on the same route named by context_extensions, 1,000 routes',
    dataSet: 'small',
    latency: false,
    requests: () => [routed(BENCH_MATCHED_ROUTE)],
    expect: () => ({ allow: true, consumer: benchName(0) }),
    targets: {},
  },
  {
    id: 'consumers-100k',
    title: '100k API-key consumers in Redis (rotating hits)',
    dataSet: '100k',
    latency: false,
    requests: (s) => Array.from({ length: s.distinct }, (_, i) => bearer(benchKey(spread(i, s.distinct, s.consumers['100k'])))),
    expect: (i, s) => ({ allow: true, consumer: benchName(spread(i, s.distinct, s.consumers['100k'])) }),
    targets: { throughput: { min: 0.9 }, heapMiBPer100k: 40 },
  },
  {
    id: 'consumers-1m',
    title: '1M API-key consumers in Redis (rotating hits)',
    dataSet: '1m',
    latency: false,
    requests: (s) => Array.from({ length: s.distinct }, (_, i) => bearer(benchKey(spread(i, s.distinct, s.consumers['1m'])))),
    expect: (i, s) => ({ allow: true, consumer: benchName(spread(i, s.distinct, s.consumers['1m'])) }),
    targets: { throughput: { min: 0.9 }, readyMs: 10_000, heapMiBPer100k: 40 },
  },
];

/** Throughput targets of JWT verification without the cache (EdDSA: measured, no target). */
const JWT_VERIFY_MIN: Partial<Record<BenchJwtAlg, number>> = { HS256: 0.6, RS256: 0.5, ES256: 0.3 };

function jwtScenario(alg: BenchJwtAlg, cached: boolean): Scenario {
  const base = {
    dataSet: 'small' as const,
    latency: false,
    requests: () => [bearer(jwtToken(alg))],
    expect: () => ({ allow: true as const, consumer: jwtConsumerName(alg) }),
  };
  if (cached) return { ...base, id: `jwt-${alg.toLowerCase()}-cached`, title: `JWT ${alg}, verified-token cache hit`, targets: { throughput: { min: 0.85 } } };
  const min = JWT_VERIFY_MIN[alg];
  return {
    ...base,
    id: `jwt-${alg.toLowerCase()}-verify`,
    title: `JWT ${alg}, every token verified (cache off)`,
    tokenCacheSize: 0,
    targets: min === undefined ? {} : { throughput: { min } },
  };
}

// In the order they run: the small data set's default instance, then its cache-off instance, then the larger sets.
SCENARIOS.splice(
  SCENARIOS.findIndex((s) => s.dataSet !== 'small'),
  0,
  ...BENCH_JWT_ALGS.map((alg) => jwtScenario(alg, true)),
  ...BENCH_JWT_ALGS.map((alg) => jwtScenario(alg, false)),
);

export function framesOf(s: Scenario, sizes: Sizes): Buffer[] {
  return s.requests(sizes).map(frame);
}
