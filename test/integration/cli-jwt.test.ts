/**
 * The README's JWT walkthrough through the CLI (in-process runCli against the
 * real admin API): create symmetric with --jwks-out, mint, create asymmetric
 * from an openssl-made PEM, mint with the private key, rotate; each minted
 * token is then checked through the official Envoy protos.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { startApp, until, type TestApp } from '../helpers/app.js';
import { denyCode, header, httpStatus } from '../helpers/envoy.js';

let t: TestApp;
let dir: string;

beforeAll(async () => {
  t = await startApp();
  dir = mkdtempSync(join(tmpdir(), 'cauthz-cli-'));
});

afterAll(async () => {
  await t.stop();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    env: { CONSUMER_AUTHZ_URL: `http://127.0.0.1:${t.adminPort}` },
  });
  return { code, out, err };
}

describe('CLI: JWT consumers', () => {
  it('symmetric: create with --jwks-out (0600), mint, and Envoy admits the token', async () => {
    const file = join(dir, 'alice-jwks.json');
    const created = await cli('consumers', 'create', 'alice-jwt', '--jwt', 'symmetric', '--jwks-out', file);
    expect(created.code, created.err).toBe(0);
    expect(created.out).toContain('shown once');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const jwks = JSON.parse(readFileSync(file, 'utf8'));
    expect(created.out).toContain(jwks.keys[0].k);

    const minted = await cli('jwt', 'mint', 'alice-jwt', '--jwks', file, '--ttl', '120');
    expect(minted.code, minted.err).toBe(0);
    const token = minted.out.trim();
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(payload.exp - payload.iat).toBe(120);
    const res = await t.envoy.check({ headers: { authorization: `Bearer ${token}` } });
    expect(header(res.ok_response?.headers, 'x-consumer-name')).toBe('alice-jwt');

    // Another claim value is another (unknown) identity.
    const other = (await cli('jwt', 'mint', 'alice-jwt', '--jwks', file, '--claim-value', 'someone-else')).out.trim();
    expect(denyCode(await t.envoy.check({ headers: { authorization: `Bearer ${other}` } }))).toBe('invalid_credential');

    // Rotation: keys add writes the new key's JWKS; its tokens work, and the old ones until the old kid is removed.
    const file2 = join(dir, 'alice-jwks-2.json');
    const added = await cli('keys', 'add', 'alice-jwt', '--jwks-out', file2);
    expect(added.code, added.err).toBe(0);
    const newToken = (await cli('jwt', 'mint', 'alice-jwt', '--jwks', file2)).out.trim();
    await until(async () => httpStatus(await t.envoy.check({ headers: { authorization: `Bearer ${newToken}` } })) === 200, 1000);
    const removed = await cli('keys', 'remove', 'alice-jwt', jwks.keys[0].kid);
    expect(removed.code, removed.err).toBe(0);
    await until(async () => denyCode(await t.envoy.check({ headers: { authorization: `Bearer ${token}` } })) === 'invalid_credential', 1000);
  });

  it('asymmetric: an openssl EC key pair, PEM public key to --jwks, mint with --private-key', async () => {
    const priv = join(dir, 'ec-private.pem');
    const pub = join(dir, 'ec-public.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', priv]);
    execFileSync('openssl', ['pkey', '-in', priv, '-pubout', '-out', pub]);
    const created = await cli(
      'consumers', 'create', 'dave', '--jwt', 'asymmetric', '--jwks', pub,
      '--claim', 'sub', '--claim-value', 'dave@example.com', '--issuer', 'https://id.example', '--audience', 'orders',
      '--token', 'header:x-jwt', '--prefix', '',
    );
    expect(created.code, created.err).toBe(0);
    expect(created.out).toContain('identity sub=dave@example.com');
    const view = JSON.parse((await cli('consumers', 'get', 'dave', '--json')).out);
    expect(view.auth.keys).toEqual([expect.objectContaining({ kty: 'EC', alg: 'ES256', crv: 'P-256' })]);
    expect(JSON.stringify(view)).not.toContain('"d"');

    const token = (await cli('jwt', 'mint', 'dave', '--private-key', priv)).out.trim();
    const res = await t.envoy.check({ headers: { 'x-jwt': token } });
    expect(header(res.ok_response?.headers, 'x-consumer-name')).toBe('dave');
    expect(res.ok_response?.headers_to_remove).toEqual(['x-jwt']);

    // keys add --jwk with a second (Ed25519) public key in PEM.
    const ed = generateKeyPairSync('ed25519');
    const edPub = join(dir, 'ed-public.pem');
    const edPriv = join(dir, 'ed-private.pem');
    writeFileSync(edPub, ed.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(edPriv, ed.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const added = await cli('keys', 'add', 'dave', '--jwk', edPub);
    expect(added.code, added.err).toBe(0);
    const edToken = (await cli('jwt', 'mint', 'dave', '--private-key', edPriv)).out.trim();
    await until(async () => httpStatus(await t.envoy.check({ headers: { 'x-jwt': edToken } })) === 200, 1000);
  });

  it('a private PEM given to --jwks: only its public part is sent', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const privOnly = join(dir, 'p384-private.pem');
    writeFileSync(privOnly, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const created = await cli('consumers', 'create', 'erin', '--jwt', 'asymmetric', '--jwks', privOnly, '--json');
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out).consumer.auth.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES384' });
  });

  it('usage errors', async () => {
    expect((await cli('consumers', 'create', 'x', '--jwt', 'hmac')).code).toBe(2);
    expect((await cli('consumers', 'create', 'x', '--jwt', 'asymmetric')).code).toBe(2);
    expect((await cli('jwt', 'mint', 'alice-jwt')).code).toBe(2);
    const badJwks = join(dir, 'bad.json');
    writeFileSync(badJwks, '{"keys":[{"kty":"EC"}]}');
    expect((await cli('jwt', 'mint', 'alice-jwt', '--jwks', badJwks)).code).toBe(2);
  });
});
