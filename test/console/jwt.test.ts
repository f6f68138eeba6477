/**
 * JWT consumers through the web console (system Chromium), each key type,
 * then Checks through the official Envoy protos with tokens signed here.
 * Needs the JWT admin API (POST /v1/consumers with auth.type "jwt").
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStatus, type EnvoyRequest } from '../helpers/envoy.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { axeSerious, launchBrowser, shot, signIn, submitCreate, type Browser } from './browser.js';

let t: TestApp;
let b: Browser;
let page: Page;
let base: string;

beforeAll(async () => {
  // No ADMIN_TOKEN: the console signs in with an empty token.
  [t, b] = await Promise.all([startApp(), launchBrowser()]);
  base = `http://127.0.0.1:${t.adminPort}`;
  page = await b.newPage();
  await signIn(page, base, '');
});

afterAll(async () => {
  await b?.close();
  await t?.stop();
});

async function status(req: EnvoyRequest): Promise<number> {
  return httpStatus(await t.envoy.check(req));
}

async function startJwtForm(name: string, description: string): Promise<string> {
  await page.goto(`${base}/#/consumers/new`);
  await page.fill('#consumer-name', name);
  await page.fill('#consumer-description', description);
  await page.click('#auth-method [data-value=jwt]');
  const identity = await page.inputValue('#jwt-identity-value');
  expect(identity).toMatch(/^[0-9a-f]{32}$/);
  expect(await page.inputValue('#jwt-identity-claim')).toBe('uid');
  expect(await page.inputValue('#jwt-token-name')).toBe('authorization');
  expect(await page.inputValue('#jwt-token-prefix')).toBe('Bearer ');
  return identity;
}

describe('JWT consumers through the form', () => {
  it('symmetric: the generated JWKS is shown once; a token signed with it is allowed', async () => {
    const identity = await startJwtForm('jwt-sym', 'Mobile app (HS256)');
    await submitCreate(page, 'dialog[open] #secret-value');
    expect(await page.locator('#secret-warning').textContent()).toContain('will not be shown again');
    await page.screenshot({ path: shot('dialog-jwks.png') });
    expect(await axeSerious(page)).toEqual([]);
    const jwks = JSON.parse(await page.inputValue('#secret-value')) as { keys: JWK[] };
    const jwk = jwks.keys[0] as JWK;
    expect(jwk.kty).toBe('oct');
    await page.click('#close-secret');
    await page.waitForSelector('h1:text-is("jwt-sym")');
    expect(await page.locator('#key-table').textContent()).toContain(jwk.kid as string);

    const key = await importJWK(jwk, 'HS256');
    const token = await new SignJWT({ uid: identity }).setProtectedHeader({ alg: 'HS256', kid: jwk.kid }).setIssuedAt().setExpirationTime('5m').sign(key);
    await expect.poll(() => status({ headers: { authorization: `Bearer ${token}` } })).toBe(200);
    const stranger = await new SignJWT({ uid: 'someone-else' }).setProtectedHeader({ alg: 'HS256', kid: jwk.kid }).setExpirationTime('5m').sign(key);
    expect(await status({ headers: { authorization: `Bearer ${stranger}` } })).toBe(401);

    // Disabled in the UI → 403.
    await page.goto(`${base}/#/consumers`);
    await page.getByRole('switch', { name: 'jwt-sym enabled' }).click();
    await expect.poll(() => status({ headers: { authorization: `Bearer ${token}` } })).toBe(403);
  });

  it('asymmetric: a private JWKS is refused before sending; the public one is accepted and its tokens allowed', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const priv = { ...(await exportJWK(privateKey)), kid: 'ci-es256-1', alg: 'ES256' };
    const pub = { ...(await exportJWK(publicKey)), kid: 'ci-es256-1', alg: 'ES256' };
    const identity = await startJwtForm('jwt-asym', 'Partner SSO (ES256)');
    await page.click('#jwt-key-type [data-value=asymmetric]');
    await page.click('#jwt-token-in [data-value=query]');
    expect(await page.inputValue('#jwt-token-name')).toBe('access_token');
    await page.click('#jwt-token-passthrough');

    await page.fill('#jwt-jwks', '{"keys": [');
    await page.click('#create-submit');
    await expect.poll(() => page.locator('#jwt-jwks-error').textContent()).toContain('not valid JSON');
    await page.fill('#jwt-jwks', JSON.stringify({ keys: [priv] }));
    await page.click('#create-submit');
    await expect.poll(() => page.locator('#jwt-jwks-error').textContent()).toContain('"d"');
    expect((await t.admin('GET', '/v1/consumers/jwt-asym')).status).toBe(404);

    await page.fill('#jwt-jwks', JSON.stringify({ keys: [pub] }, null, 2));
    await submitCreate(page, 'h1:text-is("jwt-asym")');
    expect(await page.locator('dialog[open]').count()).toBe(0);
    expect(await page.locator('#key-table').textContent()).toContain('ci-es256-1');
    const view = (await t.admin('GET', '/v1/consumers/jwt-asym')).body;
    expect(view.auth).toMatchObject({ type: 'jwt', keyType: 'asymmetric', token: { in: 'query', name: 'access_token', passthrough: true }, identity: { claim: 'uid', value: identity } });

    const token = await new SignJWT({ uid: identity }).setProtectedHeader({ alg: 'ES256', kid: 'ci-es256-1' }).setExpirationTime('5m').sign(privateKey);
    await expect.poll(() => status({ path: `/v1/chat?access_token=${token}` })).toBe(200);
    expect(await status({ headers: { authorization: `Bearer ${token}` } })).toBe(401);
    await page.screenshot({ path: shot('detail-jwt.png'), fullPage: true });
    expect(await axeSerious(page)).toEqual([]);
  });

  it('lists both methods and saw no CSP violation', async () => {
    await page.goto(`${base}/#/consumers`);
    await page.waitForSelector('tr[data-consumer=jwt-asym]');
    expect(await page.locator('tr[data-consumer=jwt-asym]').textContent()).toContain('JWT');
    await page.screenshot({ path: shot('list-jwt.png'), fullPage: true });
    expect(b.cspProblems).toEqual([]);
    expect(b.pageErrors).toEqual([]);
  });
});
