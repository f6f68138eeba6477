/**
 * Operations on the embedded store: named admin tokens and scopes, the audit
 * trail (API and CLI), /metrics after scripted admin changes and Checks, and
 * readiness while draining.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { hashAdminToken } from '../../src/config/admin-tokens.js';
import { denyCode, httpStatus } from '../helpers/envoy.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { parseMetrics, sample } from '../helpers/metrics.js';

const CI_TOKEN = 'ci-token-0123456789abcdef';
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
const ROOT_TOKEN = 'root-token-0123456789abcdef';

let t: TestApp;
let aliceKey: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cauthz-ops-'));
  const tokensFile = join(dir, 'tokens.yaml');
  writeFileSync(
    tokensFile,
    [
      `- name: ci`,
      `  sha256: ${hashAdminToken(CI_TOKEN)}`,
      `  scope: read-write`,
      `- {name: viewer, sha256: "${hashAdminToken(VIEWER_TOKEN)}", scope: read-only}`,
    ].join('\n'),
  );
  t = await startApp({ adminToken: ROOT_TOKEN, env: { ADMIN_TOKENS_FILE: tokensFile } });
});

afterAll(async () => {
  await t?.stop();
});

const bearer = (key: string, route?: string) => ({ headers: { authorization: `Bearer ${key}` }, ...(route ? { route } : {}) });

async function metrics() {
  const res = await fetch(`http://127.0.0.1:${t.adminPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  return { text, samples: parseMetrics(text) };
}

describe('admin tokens', () => {
  it('a read-only token reads and gets 403 forbidden on a write; a read-write token writes; others get 401', async () => {
    expect((await t.admin('GET', '/v1/consumers', undefined, '')).status).toBe(401);
    expect((await t.admin('GET', '/v1/consumers', undefined, 'not-a-token-at-all-0000')).status).toBe(401);
    expect((await t.admin('GET', '/v1/consumers', undefined, VIEWER_TOKEN)).status).toBe(200);
    const denied = await t.admin('POST', '/v1/consumers', { name: 'eve', auth: { type: 'api-key' } }, VIEWER_TOKEN);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');
    expect(denied.body.error.message).toContain('viewer');
    expect((await t.admin('GET', '/v1/consumers/eve', undefined, CI_TOKEN)).status).toBe(404);
    const created = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } }, CI_TOKEN);
    expect(created.status).toBe(201);
    aliceKey = created.body.apiKey;
  });
});

describe('audit trail and metrics after scripted changes and Checks', () => {
  it('records who changed what, before and after, without secrets; the CLI shows it', async () => {
    const bob = await t.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key', source: { in: 'header', name: 'x-api-key' } } }, CI_TOKEN);
    expect(bob.status).toBe(201);
    expect((await t.admin('PATCH', '/v1/consumers/bob', { enabled: false }, ROOT_TOKEN)).status).toBe(200);
    const key2 = await t.admin('POST', '/v1/consumers/alice/keys', {}, CI_TOKEN);
    expect(key2.status).toBe(201);
    expect((await t.admin('PUT', '/v1/routes/chat', { consumers: ['alice'] }, CI_TOKEN)).status).toBe(200);
    // A failed write is not audited.
    expect((await t.admin('PATCH', '/v1/consumers/nobody', { enabled: false }, CI_TOKEN)).status).toBe(404);

    const res = await t.admin('GET', '/v1/audit', undefined, VIEWER_TOKEN);
    expect(res.status).toBe(200);
    const items = res.body.items as Array<{ id: string; at: string; actor: string; action: string; target: string; before: any; after: any }>;
    expect(items.map((e) => [e.actor, e.action, e.target])).toEqual([
      ['ci', 'route.put', 'route:chat'],
      ['ci', 'key.add', 'consumer:alice'],
      ['admin', 'consumer.update', 'consumer:bob'],
      ['ci', 'consumer.create', 'consumer:bob'],
      ['ci', 'consumer.create', 'consumer:alice'],
    ]);
    const update = items[2]!;
    expect(update.before.enabled).toBe(true);
    expect(update.after.enabled).toBe(false);
    expect(items[1]!.before.auth.keys).toHaveLength(1);
    expect(items[1]!.after.auth.keys).toHaveLength(2);
    expect(items[4]!.before).toBeNull();
    expect(Date.parse(items[0]!.at)).toBeGreaterThan(Date.now() - 60_000);
    const text = JSON.stringify(res.body);
    for (const secret of [aliceKey, bob.body.apiKey, key2.body.apiKey]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/"hash"/);

    // Pages: newest first, the cursor continues after the last entry shown.
    const first = await t.admin('GET', '/v1/audit?limit=2', undefined, VIEWER_TOKEN);
    expect(first.body.items.map((e: { id: string }) => e.id)).toEqual(items.slice(0, 2).map((e) => e.id));
    const second = await t.admin('GET', `/v1/audit?limit=2&cursor=${first.body.nextCursor}`, undefined, VIEWER_TOKEN);
    expect(second.body.items.map((e: { id: string }) => e.id)).toEqual(items.slice(2, 4).map((e) => e.id));
    expect((await t.admin('GET', '/v1/audit?limit=0', undefined, VIEWER_TOKEN)).status).toBe(400);

    let out = '';
    const code = await runCli(['audit', '--limit', '3', '--url', `http://127.0.0.1:${t.adminPort}`, '--token', VIEWER_TOKEN], {
      stdout: (s) => (out += s),
      stderr: (s) => (out += s),
      env: {},
    });
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/\tci\troute\.put\troute:chat$/);
    expect(lines[2]).toMatch(/\tadmin\tconsumer\.update\tconsumer:bob$/);
    expect(lines[3]).toMatch(/^\(more: --cursor \d+\)$/);
  });

  it('/metrics counts decisions by result, reason and auth type, latency, cache and store activity, with bounded labels', async () => {
    await until(async () => httpStatus(await t.envoy.check(bearer(aliceKey, 'chat'))) === 200);
    const before = (await metrics()).samples;
    const allowedBefore = sample(before, 'cauthz_check_decisions_total', { result: 'allow', reason: 'ok', auth_type: 'api-key' });
    const start = sample(before, 'cauthz_check_duration_seconds_count');
    for (let i = 0; i < 25; i++) expect(httpStatus(await t.envoy.check(bearer(aliceKey, 'chat')))).toBe(200);
    for (let i = 0; i < 3; i++) expect(denyCode(await t.envoy.check(bearer(`unknown-key-${i}-0123456789`)))).toBe('invalid_credential');
    expect(denyCode(await t.envoy.check({}))).toBe('missing_credential');
    const { text, samples } = await metrics();

    expect(sample(samples, 'cauthz_check_decisions_total', { result: 'allow', reason: 'ok', auth_type: 'api-key' }) - allowedBefore).toBe(25);
    expect(sample(samples, 'cauthz_check_decisions_total', { reason: 'invalid_credential', auth_type: 'none' })).toBe(3);
    expect(sample(samples, 'cauthz_check_decisions_total', { reason: 'missing_credential' })).toBe(1);
    expect(sample(samples, 'cauthz_check_duration_seconds_count') - start).toBe(29);
    expect(sample(samples, 'cauthz_check_duration_seconds_bucket', { le: '+Inf' })).toBe(sample(samples, 'cauthz_check_duration_seconds_count'));
    expect(sample(samples, 'cauthz_check_duration_seconds_bucket', { le: '0.25' })).toBeGreaterThan(0);
    expect(sample(samples, 'cauthz_cache_consumers')).toBe(2);
    expect(sample(samples, 'cauthz_cache_hits_total')).toBeGreaterThanOrEqual(26);
    expect(sample(samples, 'cauthz_cache_misses_total')).toBeGreaterThanOrEqual(3);
    expect(sample(samples, 'cauthz_cache_evictions_total')).toBeGreaterThanOrEqual(2); // bob disabled, alice's key added
    expect(sample(samples, 'cauthz_store_operations_total', { op: 'createConsumer', result: 'ok' })).toBe(2);
    expect(sample(samples, 'cauthz_store_operations_total', { op: 'appendAudit', result: 'ok' })).toBe(5);
    expect(sample(samples, 'cauthz_store_connected', { kind: 'file' })).toBe(1);
    expect(sample(samples, 'cauthz_invalidation_lag_seconds_count')).toBeGreaterThanOrEqual(5);
    expect(sample(samples, 'cauthz_ready')).toBe(1);
    expect(sample(samples, 'cauthz_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    // Bounded labels: no consumer, route or key anywhere in the exposition.
    for (const leak of ['alice', 'bob', 'chat', aliceKey]) expect(text).not.toContain(leak);
  });

  it('denials that know their consumer are counted under its auth type', async () => {
    const bobKey = (await t.admin('POST', '/v1/consumers/bob/keys', { generation: 'custom', key: 'bob-custom-key-000001' }, CI_TOKEN)).body.apiKey;
    await until(async () => denyCode(await t.envoy.check({ headers: { 'x-api-key': bobKey } })) === 'consumer_disabled');
    const { samples } = await metrics();
    expect(sample(samples, 'cauthz_check_decisions_total', { result: 'deny', reason: 'consumer_disabled', auth_type: 'api-key' })).toBeGreaterThanOrEqual(1);
  });
});

describe('readiness', () => {
  it('/readyz turns 503 (draining) as soon as a stop begins, while in-flight streams drain', async () => {
    const app = await startApp({ env: { DRAIN_MS: '500' } });
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    const client = new Health(`127.0.0.1:${app.grpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Watch: (req: object) => grpc.ClientReadableStream<{ status: string }>;
    };
    try {
      expect((await app.admin('GET', '/readyz')).status).toBe(200);
      // An open Watch stream is an in-flight call: the drain waits for it.
      const watch = client.Watch({ service: '' });
      const statuses: string[] = [];
      watch.on('data', (m: { status: string }) => statuses.push(String(m.status)));
      watch.on('error', () => {});
      await until(() => statuses.length > 0);
      const stopping = app.stop();
      const r = await app.admin('GET', '/readyz');
      expect(r.status).toBe(503);
      expect(r.body.draining).toBe(true);
      await until(() => statuses.includes('NOT_SERVING') || statuses.includes('2'));
      await stopping;
    } finally {
      client.close();
    }
  });
});
