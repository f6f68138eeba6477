/**
 * Interop with grpc-js as a client (official protos): the same scenarios as
 * the C-core suite, through grpc-js's own channel, compression and keepalive.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { envoyCheckRequest, header, httpStatus, OFFICIAL_AUTH_DEF, type OfficialCheckResponse } from '../helpers/envoy.js';

const pkg = grpc.loadPackageDefinition(OFFICIAL_AUTH_DEF) as any;
const healthPkg = grpc.loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String })) as any;

let t: TestApp;
let key: string;

beforeAll(async () => {
  t = await startApp();
  const a = await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(a.status).toBe(201);
  key = a.body.apiKey;
});

afterAll(async () => {
  await t.stop();
});

function client(options: grpc.ChannelOptions = {}): any {
  return new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${t.grpcPort}`, grpc.credentials.createInsecure(), options);
}

function check(c: any, req: unknown, deadlineMs = 5000): Promise<OfficialCheckResponse> {
  return new Promise((resolve, reject) => c.Check(req, { deadline: Date.now() + deadlineMs }, (err: Error | null, res: OfficialCheckResponse) => (err ? reject(err) : resolve(res))));
}

const code = (p: Promise<unknown>): Promise<number> => p.then(() => grpc.status.OK, (e: { code: number }) => e.code);

describe('grpc-js client', () => {
  it('allow and deny answers; 2,000 calls with 100 in flight on one channel', async () => {
    const c = client();
    const allow = envoyCheckRequest({ headers: { authorization: `Bearer ${key}` } });
    expect(header((await check(c, allow)).ok_response?.headers, 'x-consumer-name')).toBe('alice');
    expect(httpStatus(await check(c, envoyCheckRequest({ headers: { authorization: 'Bearer cak_nope' } })))).toBe(401);
    let next = 0;
    let ok = 0;
    const worker = async () => {
      while (next < 2000) {
        next++;
        const res = await check(c, allow, 10_000);
        if (header(res.ok_response?.headers, 'x-consumer-name') === 'alice') ok++;
      }
    };
    await Promise.all(Array.from({ length: 100 }, worker));
    expect(ok).toBe(2000);
    c.close();
  });

  it('1 ms deadlines end OK or DEADLINE_EXCEEDED; the channel is reused', async () => {
    const c = client();
    const allow = envoyCheckRequest({ headers: { authorization: `Bearer ${key}` } });
    await check(c, allow);
    const codes = await Promise.all(Array.from({ length: 50 }, () => code(check(c, allow, 1))));
    for (const x of codes) expect([grpc.status.OK, grpc.status.DEADLINE_EXCEEDED]).toContain(x);
    expect(await code(check(c, allow))).toBe(grpc.status.OK);
    c.close();
  });

  it('gzip and deflate requests (grpc.default_compression_algorithm) are answered', async () => {
    for (const algorithm of [1, 2]) {
      const c = client({ 'grpc.default_compression_algorithm': algorithm });
      const res = await check(c, envoyCheckRequest({ headers: { authorization: `Bearer ${key}`, 'x-pad': 'p'.repeat(2000) } }));
      expect(header(res.ok_response?.headers, 'x-consumer-name')).toBe('alice');
      c.close();
    }
  });

  it('a request over 4 MiB is RESOURCE_EXHAUSTED, then the channel is reused', async () => {
    const c = client({ 'grpc.max_send_message_length': -1 });
    const big = envoyCheckRequest({ headers: { authorization: `Bearer ${key}`, 'x-pad': 'p'.repeat(4 * 1024 * 1024 + 10) } });
    expect(await code(check(c, big, 10_000))).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await code(check(c, envoyCheckRequest({ headers: { authorization: `Bearer ${key}` } })))).toBe(grpc.status.OK);
    c.close();
  });

  it('keepalive PINGs every second on an idle channel are permitted; a call afterwards works', async () => {
    const c = client({ 'grpc.keepalive_time_ms': 1000, 'grpc.keepalive_timeout_ms': 2000, 'grpc.keepalive_permit_without_calls': 1 });
    const allow = envoyCheckRequest({ headers: { authorization: `Bearer ${key}` } });
    await check(c, allow);
    const ch = c.getChannel() as grpc.Channel;
    await new Promise((r) => setTimeout(r, 3500));
    // Still READY: a GOAWAY (too_many_pings) or a dropped connection would have moved it to IDLE.
    expect(ch.getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    expect(await code(check(c, allow))).toBe(grpc.status.OK);
    c.close();
  });

  it('health Check for both names; NOT_FOUND otherwise', async () => {
    const h = new healthPkg.grpc.health.v1.Health(`127.0.0.1:${t.grpcPort}`, grpc.credentials.createInsecure());
    const ask = (service: string) => new Promise<string>((resolve, reject) => h.Check({ service }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))));
    expect(await ask('')).toBe('SERVING');
    expect(await ask('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    expect(await code(ask('x'))).toBe(grpc.status.NOT_FOUND);
    h.close();
  });
});
