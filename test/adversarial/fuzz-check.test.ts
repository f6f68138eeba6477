/**
 * Property-based fuzzing of Check against an independent oracle
 * (test/helpers/check-fuzz.ts): hostile requests built from a world of API-key
 * and JWT consumers, judged for wrong allows (an allow the contract forbids,
 * the wrong identity, a client identity header left in place, the credential
 * reaching the upstream) and mismatches (the contract says allow, the service
 * denies).
 *
 * Two levels: the Authorizer in process, over the admin service stack and the
 * wire mapping (FUZZ_RUNS, default 20,000), and the real gRPC server, seeded
 * through the admin HTTP API and called with the official Envoy protos
 * (FUZZ_GRPC_RUNS, default 1,000). FUZZ_SEED replays a run; the long run is
 * `node scripts/fuzz-check.mjs` (docs/security-testing.md).
 */
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authorizer } from '../../src/authz/authorizer.js';
import type { ConsumerService } from '../../src/admin/consumer-service.js';
import { toCheckResponse } from '../../src/grpc/check-messages.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { stack } from '../helpers/stack.js';
import {
  answerOf,
  caseArb,
  FUZZ_NOW,
  fuzzSettings,
  httpAdmin,
  joinHeaders,
  judge,
  KNOWN_OPEN,
  makeToken,
  newTally,
  oracle,
  record,
  seedWorld,
  seenRequest,
  sendable,
  summary,
  casePairs,
  casePath,
  type AdminPort,
  type FuzzCase,
  type SeenRequest,
  type Tally,
  type World,
  type FuzzSettings,
  type ApiConsumerModel,
  type JwtConsumerModel,
} from '../helpers/check-fuzz.js';
import { envoyCheckRequest } from '../helpers/envoy.js';

const reports: Record<string, unknown> = {};

afterAll(() => {
  if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, JSON.stringify(reports, null, 2));
});

/** Generous per-test time limits: the long run sets FUZZ_TIMEOUT_MS. */
const TIMEOUT = Number(process.env.FUZZ_TIMEOUT_MS ?? 120_000);

function finish(level: string, s: FuzzSettings, t: Tally, ms: number): void {
  const text = summary(level, s, t, ms);
  console.log(text);
  reports[level] = { seed: s.seed, includeKnown: s.includeKnown, knownOpen: [...KNOWN_OPEN], ms: Math.round(ms), ...t };
  if (t.examples.length > 0) console.log(JSON.stringify(t.examples.slice(0, 10), null, 2));
}

function assertTally(s: FuzzSettings, t: Tally): void {
  expect(t.executed).toBe(s.runs);
  // Failures, with input, oracle and answer, are in the examples.
  expect(t.examples.filter((e) => e.kind === 'wrong-allow' || e.kind === 'bad-denial')).toEqual([]);
  expect(t.byKind['wrong-allow']).toBe(0);
  expect(t.byKind['bad-denial']).toBe(0);
  expect(t.plainMismatches).toBe(0);
  // Not vacuous: the generators reach allows and denials alike.
  expect(t.byKind['allow-ok']).toBeGreaterThan(s.runs * 0.1);
  expect(t.byKind['deny-ok']).toBeGreaterThan(s.runs * 0.3);
}

/** Oversampling: cases of open known items are drawn but not sent in CI mode. */
const draws = (s: FuzzSettings) => Math.ceil(s.runs * 1.5) + 50;

function serviceAdmin(service: ConsumerService): AdminPort {
  return {
    create: (body) => service.create(body),
    addKey: (name, body) => service.addKey(name, body),
    remove: async (name) => void (await service.remove(name)),
    putRoute: async (route, body) => void (await service.putRoute(route, body)),
  };
}

describe('Check fuzz in process: Authorizer over the admin service stack', () => {
  const s = fuzzSettings('FUZZ_RUNS', 20_000);
  let world: World;
  let authorizer: Authorizer;

  beforeAll(async () => {
    let now = FUZZ_NOW;
    const clock = () => now;
    const inProcess = await stack({ now: clock });
    world = await seedWorld(serviceAdmin(inProcess.service), (ms) => (now = ms));
    await inProcess.sync();
    authorizer = inProcess.authorizer;
  });

  it('the oracle itself: known answers for hand-made requests', () => {
    const alice = world.consumers.get('alice') as ApiConsumerModel;
    const bob = world.consumers.get('bob') as ApiConsumerModel;
    const carol = world.consumers.get('carol') as ApiConsumerModel;
    const a = alice.keys[0]!.key;
    const b = bob.keys[0]!.key;
    const k = carol.keys[0]!.key;
    const v = (parts: FuzzCase['parts'], route = '') => {
      const c: FuzzCase = { parts, route, method: 'GET', pathSegment: 'x', fragment: null, tokens: [], plain: false, notes: [] };
      return oracle(world, c, seenRequest(c));
    };
    expect(v([{ at: 'header', name: 'authorization', value: `Bearer ${a}` }]).verdict).toBe('allow');
    expect(v([{ at: 'header', name: 'authorization', value: `Bearer ${a}` }], 'chat').verdict).toBe('allow');
    expect(v([{ at: 'header', name: 'x-api-key', value: b }], 'chat').verdict).toBe('deny');
    expect(v([{ at: 'header', name: 'x-api-key', value: b }], 'none').verdict).toBe('deny');
    expect(v([{ at: 'header', name: 'authorization', value: `Bearer ${b}` }]).verdict).toBe('deny');
    expect(v([{ at: 'header', name: 'x-api-key', value: ` ${b} ` }]).verdict).toBe('either');
    const nbsp = v([{ at: 'header', name: 'x-api-key', value: `\u00a0${b}` }]);
    expect([nbsp.verdict, [...nbsp.tags]]).toEqual(['deny', ['issue10-5-header-key-unicode-trim']]);
    expect(v([{ at: 'query', pair: `api_key=${k}` }]).verdict).toBe('allow');
    expect(v([{ at: 'query', pair: `api_key=${k}` }, { at: 'query', pair: `api_key=${k}` }]).verdict).toBe('deny');
    const encoded = v([{ at: 'query', pair: `api%5Fkey=${k}` }]);
    expect([...encoded.tags]).toEqual(['issue10-2-encoded-query-name']);
    const beside = v([{ at: 'header', name: 'x-api-key', value: b }, { at: 'header', name: 'authorization', value: 'Bearer some-unknown-value-0001' }]);
    expect([beside.verdict, [...beside.tags]]).toEqual(['deny', ['issue10-5-unknown-credential-beside']]);
    expect(v([{ at: 'header', name: 'x-api-key', value: b }, { at: 'header', name: 'authorization', value: 'Basic dXNlcjpwYXNz' }]).tags.size).toBe(0);
    const dave = (world.consumers.get('dave') as ApiConsumerModel).keys[0]!.key;
    expect(v([{ at: 'header', name: 'authorization', value: `Bearer ${dave}` }]).verdict).toBe('deny');
    const frank = (world.consumers.get('frank') as ApiConsumerModel).keys;
    expect(frank.map((x) => v([{ at: 'header', name: 'authorization', value: `Bearer ${x.key}` }]).verdict)).toEqual(['allow', 'deny', 'allow']);
    const temp1 = (world.consumers.get('temp1') as ApiConsumerModel).keys[0]!.key;
    expect([...v([{ at: 'header', name: 'authorization', value: `Bearer ${temp1}` }], 'secret').tags]).toEqual(['issue10-4-grant-outlives-consumer']);
    const rs1 = world.pool.find((t) => t.signer === 'rs1')!;
    expect(rs1.signer).toBe((world.consumers.get('rs1') as JwtConsumerModel).name);
    const tokenCase = (value: string): FuzzCase => ({ parts: [{ at: 'header', name: 'x-jwt', value }], route: '', method: 'GET', pathSegment: '', fragment: null, tokens: [], plain: false, notes: [] });
    expect(oracle(world, tokenCase(rs1.token), seenRequest(tokenCase(rs1.token))).verdict).toBe('allow');
    const flipped = `${rs1.token.slice(0, -2)}${rs1.token.at(-2) === 'A' ? 'B' : 'A'}${rs1.token.at(-1)}`;
    expect(oracle(world, tokenCase(flipped), seenRequest(tokenCase(flipped))).verdict).toBe('deny');
  });

  // Found by this fuzz (not one of issue 10's items): a cookie-sourced token
  // passes with Unicode spaces, a BOM or CR/LF around it (cookie values are
  // trimmed with String.prototype.trim), the cookie twin of item 5's header
  // trim; the bearer and x-jwt forms refuse the same bytes. Fails on main.
  it('finding: a cookie token with a Unicode space, BOM or CR/LF around it is refused', async () => {
    const ck1 = world.hsSigners.find((h) => h.consumer.name === 'ck1')!;
    const token = makeToken(world, ck1.consumer, ck1.key, 'plain', { identity: 'own', exp: 'future' }).token;
    const check = async (cookie: string) => {
      const d = await authorizer.check({ id: 't', method: 'GET', path: '/', headers: { cookie }, route: '' });
      return d.allow ? 'allow' : d.reason;
    };
    expect(await check(`session=${token}`)).toBe('allow');
    for (const around of ['\u00a0', '\u3000', '\ufeff', '\r\n', '\u2028']) {
      expect([JSON.stringify(around), await check(`session=${around}${token}`)]).toEqual([JSON.stringify(around), 'invalid_credential']);
      expect([JSON.stringify(around), await check(`session=${token}${around}`)]).toEqual([JSON.stringify(around), 'invalid_credential']);
    }
  });

  it(
    'generated requests: no wrong allow, identity and stripping right on every allow',
    async () => {
      const tally = newTally();
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(caseArb(world), async (c) => {
          if (tally.executed >= s.runs) return true;
          const req = seenRequest(c);
          const v = oracle(world, c, req);
          if (!sendable(v, s)) {
            tally.skippedKnown++;
            return true;
          }
          const d = await authorizer.check({ id: 'fuzz', method: req.method, path: req.path, headers: req.headers, route: req.route });
          record(tally, c, req, v, judge(world, c, req, v, answerOf(toCheckResponse(d) as never)));
          if (tally.executed % 100_000 === 0) process.stderr.write(`[fuzz-check] in-process ${tally.executed}/${s.runs}\n`);
          return true;
        }),
        { numRuns: draws(s), seed: s.seed },
      );
      finish('in-process', s, tally, performance.now() - started);
      assertTally(s, tally);
    },
    TIMEOUT,
  );
});

describe('Check fuzz over gRPC: the real server, official protos', () => {
  const s = fuzzSettings('FUZZ_GRPC_RUNS', 1_000);
  let t: TestApp;
  let world: World;

  beforeAll(async () => {
    let now = FUZZ_NOW;
    t = await startApp({ now: () => now });
    world = await seedWorld(httpAdmin((m, p, b) => t.admin(m, p, b)), (ms) => (now = ms));
    // Every consumer reached the replica: the last one made answers.
    const ed1 = world.pool.find((x) => x.signer === 'ed1')!;
    await until(async () => (await t.envoy.check({ path: `/?access_token=${ed1.token}` })).status?.code === 0);
  });

  afterAll(async () => {
    await t?.stop();
  });

  it(
    'generated requests: no wrong allow, no RPC error, p99 answer within 250 ms',
    async () => {
      const tally = newTally();
      const started = performance.now();
      const latencies: number[] = [];
      await fc.assert(
        fc.asyncProperty(caseArb(world), fc.boolean(), extensionsArb, async (c, raw, extensions) => {
          if (tally.executed >= s.runs) return true;
          const { wire, seen } = wireRequest(c, raw, extensions);
          const v = oracle(world, c, seen);
          if (!sendable(v, s)) {
            tally.skippedKnown++;
            return true;
          }
          const t0 = performance.now();
          const res = await t.envoy.checkRaw(wire);
          latencies.push(performance.now() - t0);
          record(tally, c, seen, v, judge(world, c, seen, v, answerOf(res as never)));
          if (tally.executed % 10_000 === 0) process.stderr.write(`[fuzz-check] grpc ${tally.executed}/${s.runs}\n`);
          return true;
        }),
        { numRuns: draws(s), seed: s.seed },
      );
      finish('grpc', s, tally, performance.now() - started);
      latencies.sort((x, y) => x - y);
      const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
      const slowest = latencies.at(-1) ?? 0;
      console.log(`[fuzz-check] grpc answer p99 ${p99.toFixed(1)} ms, slowest ${slowest.toFixed(1)} ms`);
      (reports.grpc as Record<string, unknown>).latencyMs = { p99, max: slowest };
      assertTally(s, tally);
      // Envoy's timeout is 250 ms; a slower answer fails closed (503), so the bound is on p99,
      // with a hard ceiling for the outliers a loaded 2-core machine makes.
      expect(p99).toBeLessThan(250);
      expect(slowest).toBeLessThan(1000);
    },
    TIMEOUT,
  );
});

/** context_extensions besides `route` (Envoy passes whatever the route config sets). */
const extensionsArb = fc.dictionary(
  fc.oneof(fc.constantFrom('tenant', 'Route', 'route ', 'consumer', '__proto__'), fc.string({ maxLength: 8 })).filter((k) => k !== 'route'),
  fc.string({ maxLength: 16 }),
  { maxKeys: 3 },
);

/** Text as it arrives through protobuf (a lone surrogate becomes U+FFFD). */
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

/**
 * The CheckRequest Envoy would send for a case, with headers in the `headers`
 * map (repeats joined) or in `header_map` (one entry each, raw bytes), and
 * the request as the service will see it.
 */
function wireRequest(c: FuzzCase, raw: boolean, extensions: Record<string, string>): { wire: unknown; seen: SeenRequest } {
  const path = utf8(casePath(c));
  const route = utf8(c.route);
  const wire = envoyCheckRequest({ method: c.method, path, route, extensions }) as { attributes: { request: { http: Record<string, any> } } };
  const http = wire.attributes.request.http;
  const defaults = Object.entries(http.headers as Record<string, string>);
  const pairs = casePairs(c).map(([n, v]) => [utf8(n), utf8(v)] as [string, string]);
  let headers: Record<string, string>;
  if (raw) {
    delete http.headers;
    const all = [...defaults, ...pairs];
    http.header_map = { headers: all.map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) };
    // The service joins header_map entries with commas and reads raw bytes as latin1.
    headers = joinHeaders(all.map(([k, v]) => [k, Buffer.from(v).toString('latin1')]), ',');
  } else {
    headers = { ...Object.fromEntries(defaults), ...joinHeaders(pairs) };
    http.headers = headers;
  }
  return { wire, seen: { headers, path, route, method: c.method } };
}
