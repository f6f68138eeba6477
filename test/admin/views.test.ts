/**
 * The view types (src/admin/views.ts), which the CLI and the web console read
 * the admin API by, name exactly the fields the service answers with: each
 * field table below must list every key of its view (the compiler checks
 * that), and each answer, as JSON, has exactly those keys.
 */
import { describe, expect, it } from 'vitest';
import type {
  ApiKeyAuthView,
  ApiKeyView,
  ConsumerView,
  JwtAuthView,
  JwtKeyView,
  Page,
  RouteView,
} from '../../src/admin/views.js';
import { apiKeyConsumer, apiKeyRecord, keyPair } from '../helpers/fixtures.js';
import { stack } from '../helpers/stack.js';

const CONSUMER: Record<keyof ConsumerView, true> = { id: true, name: true, description: true, enabled: true, createdAt: true, updatedAt: true, auth: true, limits: true };
const API_KEY_AUTH: Record<keyof ApiKeyAuthView, true> = { type: true, source: true, keys: true };
const API_KEY: Record<keyof ApiKeyView, true> = { id: true, hint: true, generation: true, createdAt: true, expiresAt: true };
const JWT_AUTH: Record<keyof JwtAuthView, true> = {
  type: true,
  keyType: true,
  keys: true,
  token: true,
  identity: true,
  claims: true,
  claimsToHeaders: true,
};
const JWT_KEY: Record<keyof JwtKeyView, true> = { kid: true, kty: true, alg: true, crv: true, createdAt: true };
const ROUTE: Record<keyof RouteView, true> = { route: true, consumers: true, expires: true, expired: true, match: true, open: true, updatedAt: true };
const PAGE: Record<keyof Page<unknown>, true> = { items: true, nextCursor: true };

/** The answer as a client receives it. */
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
const keysOf = (v: unknown) => Object.keys(json(v)).sort();
const fields = (table: object) => Object.keys(table).sort();

describe('view types', () => {
  it('an API-key consumer, its keys, a route and a page have exactly the declared fields', async () => {
    const { store, service } = await stack();
    await store.createConsumer(apiKeyConsumer('alice', [apiKeyRecord('key_1', 'alice-key-0123456789', '2027-01-01T00:00:00.000Z')]));
    // `limits` is there only for a consumer that has some.
    expect(keysOf(await service.get('alice'))).not.toContain('limits');
    await service.update('alice', { limits: { rate: { requests: 10, per: 'second' } } });
    const alice: ConsumerView = await service.get('alice');
    expect(keysOf(alice)).toEqual(fields(CONSUMER));
    expect(keysOf(alice.auth)).toEqual(fields(API_KEY_AUTH));
    expect(alice.auth.type === 'api-key' && alice.auth.keys.map(keysOf)).toEqual([fields(API_KEY)]);

    const route: RouteView = service.routeView(
      await service.putRoute('chat', { consumers: ['alice'], expires: { alice: '2099-01-01T00:00:00Z' }, match: [{ path: { prefix: '/chat' } }] }),
    );
    // `open` (no grant list) and `expires` (short-term grants) never come together.
    const open: RouteView = service.routeView(await service.putRoute('docs', { consumers: null, match: [{ path: { prefix: '/docs' } }] }));
    expect([...new Set([...keysOf(route), ...keysOf(open)])].sort()).toEqual(fields(ROUTE));
    expect(keysOf(open)).not.toContain('expires');
    const page = await service.listRoutes(null, null);
    const routes: Page<RouteView> = { ...page, items: page.items.map((r) => service.routeView(r)) };
    expect(keysOf(routes)).toEqual(fields(PAGE));
    const consumers: Page<ConsumerView> = await service.list(null, null);
    expect(keysOf(consumers)).toEqual(fields(PAGE));
    expect(consumers.items.map((c) => c.name)).toEqual(['alice']);
  });

  it('a JWT consumer and its keys have exactly the declared fields', async () => {
    const { service } = await stack();
    const ec = await keyPair('ES256');
    const created = await service.create({
      name: 'svc',
      auth: { type: 'jwt', keyType: 'asymmetric', jwks: { keys: [ec.publicJwk] } },
      limits: { quota: { requests: 1000, period: 'day' } },
    });
    const svc: ConsumerView = created.consumer;
    expect(keysOf(svc)).toEqual(fields(CONSUMER));
    expect(keysOf(svc.auth)).toEqual(fields(JWT_AUTH));
    // An EC key carries its curve; `crv` is the one optional field of a key view.
    expect(svc.auth.type === 'jwt' && svc.auth.keys.map(keysOf)).toEqual([fields(JWT_KEY)]);
  });
});
