/**
 * TLS and mTLS on the gRPC port, with certificates made by openssl in a temp
 * dir: a test CA, a server certificate (SAN 127.0.0.1, localhost), a client
 * certificate from the CA and one from another CA. Clients: grpc-js and gRPC
 * C-core (/usr/bin/python3 grpc); raw node:tls for handshakes and reloads.
 */
import * as grpc from '@grpc/grpc-js';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { envoyCheckRequest, header, httpStatus, type OfficialCheckResponse } from '../helpers/envoy.js';
import { decodeOfficialResponse, encodeOfficialRequest } from '../helpers/official.js';

const dir = mkdtempSync(join(tmpdir(), 'cauthz-tls-'));
const f = (n: string) => join(dir, n);
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

function makeCa(name: string): void {
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
}
function issue(ca: string, name: string, cn: string, ext: string): void {
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(f(`${name}.ext`), ext);
  ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
}
const SERVER_EXT = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
const CLIENT_EXT = 'extendedKeyUsage=clientAuth\n';

const CHECK = '/envoy.service.auth.v3.Authorization/Check';
const HEALTH = '/grpc.health.v1.Health/Check';
const id = (b: Buffer) => b;

function call(client: grpc.Client, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((res, rej) => {
    client.makeUnaryRequest(path, id, id, body, { deadline: Date.now() + 5000 }, (err, out) => (err ? rej(err) : res(out!)));
  });
}

/** The serial of the certificate a new TLS connection gets, or the error that refused it. */
function peer(port: number, opts: tls.ConnectionOptions = {}): Promise<{ serial?: string; cn?: string; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(f('ca.crt')), ALPNProtocols: ['h2'], ...opts });
    s.once('secureConnect', () => {
      const c = s.getPeerCertificate();
      // TLS 1.3: a refused client certificate shows as an alert after the handshake; wait for it.
      s.once('data', () => {});
      const t = setTimeout(() => {
        s.destroy();
        resolve({ serial: c.serialNumber, cn: String(c.subject?.CN) });
      }, 150);
      s.once('error', (e) => {
        clearTimeout(t);
        resolve({ error: e.message });
      });
      s.once('close', () => {
        clearTimeout(t);
        resolve({ error: 'closed' });
      });
    });
    s.once('error', (e) => resolve({ error: e.message }));
  });
}

const py = (script: string, input: unknown) =>
  new Promise<any>((res, rej) => {
    const p = execFile('/usr/bin/python3', ['-c', script], { timeout: 20_000 }, (err, so, se) => (err ? rej(new Error(`${err.message}\n${se}`)) : res(JSON.parse(so))));
    p.stdin!.end(JSON.stringify(input));
  });

const PY_CLIENT = `
import base64, json, sys, grpc
cfg = json.load(sys.stdin)
rd = lambda p: open(p, 'rb').read() if p else None
creds = grpc.ssl_channel_credentials(root_certificates=rd(cfg['ca']), private_key=rd(cfg.get('key')), certificate_chain=rd(cfg.get('cert')))
out = {}
with grpc.secure_channel(cfg['target'], creds, options=[('grpc.ssl_target_name_override', 'localhost')]) as ch:
    try:
        out['allow'] = base64.b64encode(ch.unary_unary('${CHECK}')(base64.b64decode(cfg['allow']), timeout=5)).decode()
        out['health'] = base64.b64encode(ch.unary_unary('${HEALTH}')(b'', timeout=5)).decode()
    except grpc.RpcError as e:
        out['error'] = e.code().name
print(json.dumps(out))
`;

let tlsApp: TestApp;
let mtlsApp: TestApp;
let apiKey: string;
let allowBody: Buffer;
let mtlsAllowBody: Buffer;
const denyBody = encodeOfficialRequest(envoyCheckRequest({ headers: { authorization: 'Bearer cak_not_a_key' } }));

beforeAll(async () => {
  makeCa('ca');
  makeCa('other');
  issue('ca', 'server', 'server-one', SERVER_EXT);
  issue('ca', 'server2', 'server-two', SERVER_EXT);
  issue('ca', 'client', 'envoy', CLIENT_EXT);
  issue('other', 'foreign', 'envoy', CLIENT_EXT);
  for (const n of ['crt', 'key']) copyFileSync(f(`server.${n}`), f(`live.${n}`));
  const data = join(dir, 'consumers.json');
  tlsApp = await startApp({ dataFile: data, env: { GRPC_TLS_CERT_FILE: f('live.crt'), GRPC_TLS_KEY_FILE: f('live.key'), GRPC_TLS_RELOAD_MS: '100' } });
  const a = await tlsApp.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(a.status).toBe(201);
  apiKey = a.body.apiKey;
  allowBody = encodeOfficialRequest(envoyCheckRequest({ headers: { authorization: `Bearer ${apiKey}` } }));
  mtlsApp = await startApp({
    dataFile: join(dir, 'consumers-mtls.json'),
    env: { GRPC_TLS_CERT_FILE: f('server.crt'), GRPC_TLS_KEY_FILE: f('server.key'), GRPC_TLS_CLIENT_CA_FILE: f('ca.crt') },
  });
  const m = await mtlsApp.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } });
  expect(m.status).toBe(201);
  mtlsAllowBody = encodeOfficialRequest(envoyCheckRequest({ headers: { authorization: `Bearer ${m.body.apiKey}` } }));
}, 30_000);

afterAll(async () => {
  await Promise.all([tlsApp?.stop(), mtlsApp?.stop()]);
});

const decode = (b: Buffer) => decodeOfficialResponse(b) as OfficialCheckResponse;

describe('TLS on the gRPC port', () => {
  it('grpc-js over TLS: allow, deny, health SERVING', async () => {
    const c = new grpc.Client(`127.0.0.1:${tlsApp.grpcPort}`, grpc.credentials.createSsl(readFileSync(f('ca.crt'))), { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      expect(header(decode(await call(c, CHECK, allowBody)).ok_response?.headers, 'x-consumer-name')).toBe('alice');
      expect(httpStatus(decode(await call(c, CHECK, denyBody)))).toBe(401);
      expect(await call(c, HEALTH, Buffer.alloc(0))).toEqual(Buffer.from([0x08, 0x01]));
    } finally {
      c.close();
    }
  });

  it('C-core over TLS: allow and health', async () => {
    const out = await py(PY_CLIENT, { target: `127.0.0.1:${tlsApp.grpcPort}`, ca: f('ca.crt'), allow: allowBody.toString('base64') });
    expect(out.error).toBeUndefined();
    expect(header(decode(Buffer.from(out.allow, 'base64')).ok_response?.headers, 'x-consumer-name')).toBe('alice');
    expect(Buffer.from(out.health, 'base64')).toEqual(Buffer.from([0x08, 0x01]));
  });

  it('plain h2c to the TLS port fails; a TLS client without h2 ALPN is refused; TLS 1.1 is refused', async () => {
    const plain = new grpc.Client(`127.0.0.1:${tlsApp.grpcPort}`, grpc.credentials.createInsecure());
    await expect(call(plain, HEALTH, Buffer.alloc(0))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    plain.close();
    expect((await peer(tlsApp.grpcPort, { ALPNProtocols: [] })).error).toBeDefined();
    expect((await peer(tlsApp.grpcPort, { ALPNProtocols: ['http/1.1'] })).error).toBeDefined();
    expect((await peer(tlsApp.grpcPort, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).error).toBeDefined();
    expect((await peer(tlsApp.grpcPort)).cn).toBe('server-one');
  });
});

describe('mTLS', () => {
  it('C-core with a client certificate from the CA: allowed', async () => {
    const out = await py(PY_CLIENT, { target: `127.0.0.1:${mtlsApp.grpcPort}`, ca: f('ca.crt'), key: f('client.key'), cert: f('client.crt'), allow: mtlsAllowBody.toString('base64') });
    expect(out.error).toBeUndefined();
    expect(header(decode(Buffer.from(out.allow, 'base64')).ok_response?.headers, 'x-consumer-name')).toBe('alice');
  });

  it('grpc-js with a client certificate from the CA: allowed', async () => {
    const creds = grpc.credentials.createSsl(readFileSync(f('ca.crt')), readFileSync(f('client.key')), readFileSync(f('client.crt')));
    const c = new grpc.Client(`127.0.0.1:${mtlsApp.grpcPort}`, creds, { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      expect(header(decode(await call(c, CHECK, mtlsAllowBody)).ok_response?.headers, 'x-consumer-name')).toBe('alice');
    } finally {
      c.close();
    }
  });

  it('without a client certificate, or with one from another CA: refused at the handshake', async () => {
    expect((await peer(mtlsApp.grpcPort)).error).toBeDefined();
    expect((await peer(mtlsApp.grpcPort, { key: readFileSync(f('foreign.key')), cert: readFileSync(f('foreign.crt')) })).error).toBeDefined();
    expect((await peer(mtlsApp.grpcPort, { key: readFileSync(f('client.key')), cert: readFileSync(f('client.crt')) })).cn).toBe('server-one');
    const out = await py(PY_CLIENT, { target: `127.0.0.1:${mtlsApp.grpcPort}`, ca: f('ca.crt'), key: f('foreign.key'), cert: f('foreign.crt'), allow: mtlsAllowBody.toString('base64') });
    expect(out.error).toBe('UNAVAILABLE');
    const none = await py(PY_CLIENT, { target: `127.0.0.1:${mtlsApp.grpcPort}`, ca: f('ca.crt'), allow: mtlsAllowBody.toString('base64') });
    expect(none.error).toBe('UNAVAILABLE');
  });
});

describe('certificate reload', () => {
  it('new connections get a replaced certificate, open ones keep theirs; a broken file keeps the current one', async () => {
    const port = tlsApp.grpcPort;
    const before = await peer(port);
    expect(before.cn).toBe('server-one');
    // An open channel, used before and after the swap.
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(readFileSync(f('ca.crt'))), { 'grpc.ssl_target_name_override': 'localhost' });
    await call(c, HEALTH, Buffer.alloc(0));
    writeFileSync(f('live.key'), readFileSync(f('server2.key')));
    writeFileSync(f('live.crt'), readFileSync(f('server2.crt')));
    await until(async () => (await peer(port)).cn === 'server-two', 5000, 50);
    expect((await peer(port)).serial).not.toBe(before.serial);
    await call(c, HEALTH, Buffer.alloc(0));
    c.close();
    // A broken certificate: the current one stays, one warning, counted.
    writeFileSync(f('live.crt'), '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    await until(async () => (await metricsText(tlsApp)).includes('cauthz_grpc_tls_reloads_total{result="failed"} 1'), 5000, 50);
    expect((await peer(port)).cn).toBe('server-two');
    expect(tlsApp.app.reloadTls()).toBe('unchanged');
    expect(await metricsText(tlsApp)).toContain('cauthz_grpc_tls_reloads_total{result="reloaded"} 1');
  });
});

async function metricsText(t: TestApp): Promise<string> {
  return (await fetch(`http://127.0.0.1:${t.adminPort}/metrics`)).text();
}

describe('config', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('plain h2c by default; a good set is accepted', () => {
    expect(loadConfig({}).grpcTls).toBeUndefined();
    expect(loadConfig({ GRPC_TLS_CERT_FILE: f('server.crt'), GRPC_TLS_KEY_FILE: f('server.key'), GRPC_TLS_CLIENT_CA_FILE: f('ca.crt') }).grpcTls?.clientCaFile).toBe(f('ca.crt'));
  });

  it('names the variable and the fix for each bad combination or file, never the key', () => {
    expect(problems({ GRPC_TLS_CERT_FILE: f('server.crt') })).toEqual([expect.stringMatching(/^GRPC_TLS_CERT_FILE: is set without GRPC_TLS_KEY_FILE; set both/)]);
    expect(problems({ GRPC_TLS_KEY_FILE: f('server.key') })).toEqual([expect.stringMatching(/^GRPC_TLS_KEY_FILE: is set without GRPC_TLS_CERT_FILE/)]);
    expect(problems({ GRPC_TLS_CLIENT_CA_FILE: f('ca.crt') })).toEqual([expect.stringMatching(/^GRPC_TLS_CLIENT_CA_FILE: mTLS needs the server's own certificate/)]);
    expect(problems({ GRPC_TLS_CERT_FILE: f('nope.crt'), GRPC_TLS_KEY_FILE: f('server.key') })).toEqual([expect.stringMatching(/^GRPC_TLS_CERT_FILE=.*cannot be read \(ENOENT\)/)]);
    expect(problems({ GRPC_TLS_CERT_FILE: f('server.key'), GRPC_TLS_KEY_FILE: f('server.key') })).toEqual([expect.stringMatching(/^GRPC_TLS_CERT_FILE=.*holds no PEM certificate/)]);
    expect(problems({ GRPC_TLS_CERT_FILE: f('server.crt'), GRPC_TLS_KEY_FILE: f('server.crt') })).toEqual([expect.stringMatching(/^GRPC_TLS_KEY_FILE=.*holds no PEM private key/)]);
    expect(problems({ GRPC_TLS_CERT_FILE: f('server.crt'), GRPC_TLS_KEY_FILE: f('server.key'), GRPC_TLS_CLIENT_CA_FILE: f('server.key') })).toEqual([
      expect.stringMatching(/^GRPC_TLS_CLIENT_CA_FILE=.*holds no PEM certificate/),
    ]);
    const mismatch = problems({ GRPC_TLS_CERT_FILE: f('server.crt'), GRPC_TLS_KEY_FILE: f('client.key') });
    expect(mismatch).toEqual([expect.stringMatching(/^GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE: not a usable certificate and key pair/)]);
    const key = readFileSync(f('client.key'), 'utf8').split('\n')[1]!;
    expect(mismatch.join()).not.toContain(key);
    expect(problems({ GRPC_TLS_RELOAD_MS: '5' })).toEqual([expect.stringMatching(/^GRPC_TLS_RELOAD_MS=/)]);
  });
});
