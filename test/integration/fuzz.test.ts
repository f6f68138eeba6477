/**
 * Property-based fuzzing of Check (fast-check): arbitrary headers, paths,
 * query strings, routes and context_extensions, mixed with real, mutated and
 * misplaced keys. Properties: Check never throws, never allows a request
 * that does not carry a valid credential of an enabled consumer at that
 * consumer's own source on a route that admits it, and always answers in
 * time. Run on the Authorizer directly (thousands of runs) and through the
 * real gRPC server with the official Envoy protos (hundreds).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/authz/authorizer.js';
import { queryValues, type AuthzRequest } from '../../src/authz/request.js';
import type { Decision } from '../../src/authz/decision.js';
import { ConsumerService, type Created } from '../../src/admin/consumer-service.js';
import { Directory } from '../../src/replica/directory.js';
import { FileStore } from '../../src/store/file-store.js';
import { envoyCheckRequest, httpStatus, type EnvoyRequest } from '../helpers/envoy.js';
import { startApp, until, type TestApp } from '../helpers/app.js';

interface Valid {
  name: string;
  key: string;
  /** Where the key counts. */
  source: { in: 'bearer' } | { in: 'header'; name: string } | { in: 'query'; name: string };
}

/** The plaintext key of an API-key consumer's create answer. */
function apiKeyOf(created: Created): { apiKey: string } {
  if (!('apiKey' in created)) throw new Error('not an API-key consumer');
  return created;
}

/** API-key checks answer synchronously. */
function sync(d: Decision | Promise<Decision>): Decision {
  if (d instanceof Promise) throw new Error('an API-key check answered asynchronously');
  return d;
}

/** Consumers: alice (bearer), bob (x-api-key), carol (query api_key) enabled; dave (bearer) disabled. Route chat admits alice only. */
async function seed(service: ConsumerService): Promise<{ valid: Valid[]; disabledKey: string }> {
  const alice = apiKeyOf(await service.create({ name: 'alice', auth: { type: 'api-key' } }));
  const bob = apiKeyOf(await service.create({ name: 'bob', auth: { type: 'api-key', generation: 'custom', key: 'bob-custom-key-000001', source: { in: 'header', name: 'x-api-key' } } }));
  const carol = apiKeyOf(await service.create({ name: 'carol', auth: { type: 'api-key', source: { in: 'query', name: 'api_key' } } }));
  const dave = apiKeyOf(await service.create({ name: 'dave', enabled: false, auth: { type: 'api-key' } }));
  await service.putRoute('chat', { consumers: ['alice'] });
  return {
    valid: [
      { name: 'alice', key: alice.apiKey, source: { in: 'bearer' } },
      { name: 'bob', key: bob.apiKey, source: { in: 'header', name: 'x-api-key' } },
      { name: 'carol', key: carol.apiKey, source: { in: 'query', name: 'api_key' } },
    ],
    disabledKey: dave.apiKey,
  };
}

/** Whether the request carries `v`'s key where `v` reads it (the only way a request may be allowed as `v`). */
function carries(req: { headers: Record<string, string | undefined>; path: string }, v: Valid): boolean {
  if (v.source.in === 'bearer') {
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    return m?.[1] === v.key;
  }
  if (v.source.in === 'header') return req.headers[v.source.name]?.trim() === v.key;
  return queryValues(req.path, v.source.name)?.includes(v.key) ?? false;
}

function mayAllowAs(req: { headers: Record<string, string | undefined>; path: string; route: string }, valid: Valid[], name: string): boolean {
  const v = valid.find((x) => x.name === name);
  if (!v || !carries(req, v)) return false;
  return req.route !== 'chat' || name === 'alice';
}

function arbitraries(valid: Valid[], disabledKey: string) {
  const keys = [...valid.map((v) => v.key), disabledKey];
  const key = fc.constantFrom(...keys);
  const mutated = fc.oneof(
    key,
    key.map((k) => k.slice(0, -1)),
    key.map((k) => `${k}x`),
    key.map((k) => k.toUpperCase()),
    fc.tuple(key, fc.nat()).map(([k, i]) => {
      const at = i % k.length;
      return k.slice(0, at) + (k[at] === 'a' ? 'b' : 'a') + k.slice(at + 1);
    }),
    key.map((k) => ` ${k} `),
    fc.tuple(key, key).map(([a, b]) => `${a},${b}`),
    key.map((k) => encodeURIComponent(k).replace(/_/g, '%5F')),
  );
  const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), mutated);
  const headerValue = fc.oneof(text, mutated.map((k) => `Bearer ${k}`), mutated.map((k) => `bearer  ${k}`), mutated.map((k) => `Basic ${k}`));
  const headerName = fc.oneof(
    fc.constantFrom('authorization', 'x-api-key', 'cookie', 'x-consumer-name', 'api_key', 'x-forwarded-for'),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  );
  const headers = fc.dictionary(headerName, headerValue, { maxKeys: 5 });
  const queryName = fc.oneof(fc.constantFrom('api_key', 'api%5Fkey', 'API_KEY', 'key', 'token'), fc.string({ maxLength: 8 }));
  const queryValue = fc.oneof(text, mutated);
  const query = fc.array(fc.tuple(queryName, queryValue), { maxLength: 4 }).map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('&'));
  const path = fc
    .tuple(fc.string({ maxLength: 30 }), fc.option(query), fc.option(fc.string({ maxLength: 10 })))
    .map(([p, q, frag]) => `/${p}${q === null ? '' : `?${q}`}${frag === null ? '' : `#${frag}`}`);
  const route = fc.oneof(fc.constantFrom('', 'chat', 'orders'), fc.string({ maxLength: 20 }));
  return { headers, path, route, text };
}

describe('Authorizer under arbitrary requests', () => {
  let authorizer: Authorizer;
  let valid: Valid[];
  let disabledKey: string;

  beforeAll(async () => {
    const store = await FileStore.open();
    const seeded = await seed(new ConsumerService({ store }));
    valid = seeded.valid;
    disabledKey = seeded.disabledKey;
    const directory = new Directory();
    directory.apply(await store.changesSince(0));
    directory.authoritative = true;
    authorizer = new Authorizer({ directory });
  });

  it('never throws and never allows without a valid credential at its own source (5000 runs)', () => {
    const a = arbitraries(valid, disabledKey);
    let allowed = 0;
    fc.assert(
      fc.property(a.headers, a.path, a.route, fc.string({ maxLength: 8 }), (headers, path, route, method) => {
        const req: AuthzRequest = { id: 'fuzz', method, path, headers, route };
        const d = sync(authorizer.check(req));
        if (!d.allow) return true;
        allowed++;
        return mayAllowAs(req, valid, d.entry.consumer.record.name);
      }),
      { numRuns: 5000 },
    );
    // The generators do reach allows: the property is not vacuous.
    expect(allowed).toBeGreaterThan(0);
  });

  it('the oracle agrees with plain cases', () => {
    const [alice, bob, carol] = valid as [Valid, Valid, Valid];
    const req = (r: Partial<AuthzRequest>): AuthzRequest => ({ id: '', method: 'GET', path: '/', headers: {}, route: '', ...r });
    expect(sync(authorizer.check(req({ headers: { authorization: `Bearer ${alice.key}` } }))).allow).toBe(true);
    expect(sync(authorizer.check(req({ headers: { 'x-api-key': bob.key } }))).allow).toBe(true);
    expect(sync(authorizer.check(req({ path: `/x?api_key=${carol.key}` }))).allow).toBe(true);
    expect(sync(authorizer.check(req({ headers: { authorization: `Bearer ${disabledKey}` } }))).allow).toBe(false);
    expect(sync(authorizer.check(req({ headers: { 'x-api-key': bob.key }, route: 'chat' }))).allow).toBe(false);
  });
});

describe('gRPC Check under arbitrary requests (official protos)', () => {
  let t: TestApp;
  let valid: Valid[];
  let disabledKey: string;

  beforeAll(async () => {
    t = await startApp();
    const seeded = await seed(t.app.service);
    valid = seeded.valid;
    disabledKey = seeded.disabledKey;
    await until(() => t.app.directory.size === 4);
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('always answers within 250 ms, never an RPC error, never a wrong allow (300 runs)', async () => {
    const a = arbitraries(valid, disabledKey);
    const extensions = fc.dictionary(fc.oneof(fc.constant('route'), fc.string({ maxLength: 10 })), fc.string({ maxLength: 20 }), { maxKeys: 3 });
    let slowest = 0;
    await fc.assert(
      fc.asyncProperty(a.headers, a.path, extensions, fc.boolean(), fc.constantFrom('GET', 'POST', 'DELETE', ''), async (headers, path, ext, raw, method) => {
        const r: EnvoyRequest = { headers, path, extensions: ext, rawHeaders: raw, method };
        const wire = envoyCheckRequest(r) as { attributes: { request: { http: { headers?: Record<string, string> } } } };
        const started = performance.now();
        const res = await t.envoy.checkRaw(wire);
        const ms = performance.now() - started;
        slowest = Math.max(slowest, ms);
        if (ms > 250) return false;
        const status = httpStatus(res);
        if (status !== 200) return [401, 403, 503].includes(status);
        const name = res.ok_response?.headers.find((h) => h.header.key === 'x-consumer-name')?.header.value ?? '';
        // What the service saw: the headers Envoy sends (pseudo-headers and the generated ones included).
        const seen = { headers: { ...(wire.attributes.request.http.headers ?? {}), ...lower(headers) }, path, route: ext.route ?? '' };
        return mayAllowAs(seen, valid, name);
      }),
      { numRuns: 300 },
    );
    expect(slowest).toBeLessThan(250);
  });
});

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}
