/**
 * rediss:// against a real TLS-only redis-server whose certificate is signed
 * by a private CA: trusted through REDIS_TLS_CA_FILE, refused without it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ConsumerService } from '../../src/admin/consumer-service.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { until } from '../helpers/app.js';
import { freePort } from '../helpers/redis.js';

const run = promisify(execFile);
let dir: string;
let port: number;
let proc: ChildProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cauthz-tls-'));
  const f = (n: string) => join(dir, n);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=cauthz-test-ca']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=localhost']);
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', ['x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('srv.crt'), '-days', '2', '-extfile', f('ext')]);
  port = await freePort();
  proc = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', f('srv.crt'), '--tls-key-file', f('srv.key'), '--tls-ca-cert-file', f('ca.crt'), '--tls-auth-clients', 'no', '--save', '', '--dir', dir], { stdio: 'ignore' });
  await until(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    5000,
  );
});

afterAll(async () => {
  proc?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('rediss://', () => {
  it('connects through TLS when REDIS_TLS_CA_FILE names the CA, and never without it', async () => {
    const config = loadConfig({ REDIS_URL: `rediss://127.0.0.1:${port}`, REDIS_TLS_CA_FILE: join(dir, 'ca.crt') });
    expect(config.redisTlsCa).toContain('BEGIN CERTIFICATE');
    const trusted = new RedisStore({ url: config.redisUrl!, keyPrefix: 'tls:', tlsCa: config.redisTlsCa });
    const untrusted = new RedisStore({ url: config.redisUrl!, keyPrefix: 'tls:' });
    trusted.connect();
    untrusted.connect();
    try {
      await until(() => trusted.connected, 5000);
      await new ConsumerService({ store: trusted }).create({ name: 'alice', auth: { type: 'api-key' } });
      expect((await trusted.getConsumer('alice'))?.name).toBe('alice');
      expect(untrusted.connected).toBe(false);
      await expect(untrusted.getConsumer('alice')).rejects.toThrow('store unavailable');
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });

  it('config refuses a CA file without a TLS URL, and a file that is not PEM', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS_CA_FILE: join(dir, 'ca.crt') })).toThrow(/REDIS_TLS_CA_FILE: is set but REDIS_URL does not use TLS/);
    expect(() => loadConfig({ REDIS_URL: 'rediss://127.0.0.1:6379', REDIS_TLS_CA_FILE: join(dir, 'ext') })).toThrow(/REDIS_TLS_CA_FILE=.*holds no PEM certificate/);
  });
});
