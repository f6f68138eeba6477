/**
 * The routes page in a real browser (system Chromium): match rules shown,
 * added, changed and refused through the editor, then applied by Check on
 * requests without context_extensions; and a route changed through the API
 * between the page's read and its save is not overwritten (If-Match → 412),
 * the user is told and the route shown as it is now.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { denyCode, httpStatus } from '../helpers/envoy.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { launchBrowser, shot, signIn, type Browser } from './browser.js';

const TOKEN = 'console-admin-token-0123456789';
let t: TestApp;
let b: Browser;
let page: Page;
let base: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  [t, b] = await Promise.all([startApp({ adminToken: TOKEN }), launchBrowser()]);
  base = `http://127.0.0.1:${t.adminPort}`;
  page = await b.newPage();
  await signIn(page, base, TOKEN);
  alice = (await t.admin('POST', '/v1/consumers', { name: 'alice', auth: { type: 'api-key' } }, TOKEN)).body.apiKey as string;
  bob = (await t.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key' } }, TOKEN)).body.apiKey as string;
});

afterAll(async () => {
  expect(b?.pageErrors ?? []).toEqual([]);
  await b?.close();
  await t?.stop();
});

const orders = async () => (await t.admin('GET', '/v1/routes/orders', undefined, TOKEN)).body;
/** Check as Istio's sidecar sends it: no context_extensions, the route named by the rules. */
const istio = async (key: string, path: string, method = 'GET') => t.envoy.check({ method, path, headers: { authorization: `Bearer ${key}` } });

describe('match rules on the routes page', () => {
  it('adds a rule to a new route, grants on it, changes the rule, refuses a bad one (nothing saved)', async () => {
    await page.goto(`${base}/#/routes`);
    await page.fill('#match-route', 'orders');
    await page.click('#match-open');
    await page.waitForSelector('dialog[open] #add-rule');
    await page.click('#add-rule');
    await page.fill('#rule-0-hosts', 'API.example.com');
    await page.selectOption('#rule-0-kind', 'template');
    await page.fill('#rule-0-path', '/v1/orders/{id}');
    await page.fill('#rule-0-methods', 'get, post');
    await page.click('#match-save');
    await page.waitForSelector('tr[data-route=orders] .rule');
    expect(await page.locator('tr[data-route=orders] .rule').textContent()).toBe('GET, POST · api.example.com · template /v1/orders/{id}');
    expect(await orders()).toMatchObject({ open: true, match: [{ hosts: ['api.example.com'], path: { template: '/v1/orders/{id}' }, methods: ['GET', 'POST'] }] });

    // Grant alice through the form: the matched route now admits only her.
    await page.fill('#grant-route', 'orders');
    await page.fill('#grant-consumer', 'alice');
    await page.click('#grant-submit');
    await page.waitForSelector('tr[data-route=orders] li[data-consumer=alice]');
    await expect.poll(async () => denyCode(await istio(bob, '/v1/orders/7'))).toBe('route_forbidden');
    expect(httpStatus(await istio(alice, '/v1/orders/7'))).toBe(200);
    expect(httpStatus(await istio(bob, '/v1/other'))).toBe(200);

    // Change the rule to a prefix for any method through the row's editor; the grants stay.
    await page.getByRole('button', { name: 'Edit match rules of orders' }).click();
    await page.waitForSelector('dialog[open] #rule-0-path');
    expect(await page.inputValue('#rule-0-path')).toBe('/v1/orders/{id}');
    await page.selectOption('#rule-0-kind', 'prefix');
    await page.fill('#rule-0-path', '/v1/orders');
    await page.fill('#rule-0-methods', '');
    await page.click('#match-save');
    await expect.poll(() => page.locator('tr[data-route=orders] .rule').textContent()).toBe('any method · api.example.com · prefix /v1/orders');
    expect(await orders()).toMatchObject({ consumers: ['alice'], match: [{ hosts: ['api.example.com'], path: { prefix: '/v1/orders' } }] });
    await expect.poll(async () => denyCode(await istio(bob, '/v1/orders/7/items', 'DELETE'))).toBe('route_forbidden');

    // A path not in normal form: the API's message in the editor, the route unchanged.
    const before = await orders();
    await page.getByRole('button', { name: 'Edit match rules of orders' }).click();
    await page.waitForSelector('dialog[open] #rule-0-path');
    await page.fill('#rule-0-path', '/v1/../orders');
    await page.click('#match-save');
    await page.waitForSelector('#match-alert:not([hidden])');
    expect(await page.locator('#match-alert').textContent()).toMatch(/match\[0\]\.path\.prefix.*normal form/);
    await page.screenshot({ path: shot('route-match-editor.png'), fullPage: true });
    await page.click('#match-cancel');
    expect(await orders()).toEqual(before);
  });
});

describe('a route changed meanwhile is not overwritten', () => {
  it('editor: the API changes the route between the read and the save → 412, the user is told, the page shows the route as it is', async () => {
    await page.goto(`${base}/#/routes`);
    await page.getByRole('button', { name: 'Edit match rules of orders' }).click();
    await page.waitForSelector('dialog[open] #rule-0-path');
    // Someone else grants bob meanwhile.
    expect((await t.admin('PUT', '/v1/routes/orders', { consumers: ['alice', 'bob'] }, TOKEN)).status).toBe(200);
    await page.fill('#rule-0-path', '/v2/orders');
    await page.click('#match-save');
    await page.waitForSelector('#status.show.error');
    expect(await page.locator('#status').textContent()).toContain('Route orders was changed by someone else');
    const now = await orders();
    expect(now.consumers).toEqual(['alice', 'bob']);
    expect(now.match).toEqual([{ hosts: ['api.example.com'], path: { prefix: '/v1/orders' } }]);
    // Reloaded: bob's grant, made through the API, is on the page.
    await page.waitForSelector('tr[data-route=orders] li[data-consumer=bob]');
  });

  it('grant form and chip removal: a route changed after the page loaded is not written, the page reloads', async () => {
    await page.goto(`${base}/#/routes`);
    await page.waitForSelector('tr[data-route=orders] li[data-consumer=bob]');
    // Another admin revokes alice meanwhile.
    expect((await t.admin('PUT', '/v1/routes/orders', { consumers: ['bob'] }, TOKEN)).status).toBe(200);
    // The page still shows alice and bob: removing bob from that list would grant alice again.
    await page.getByRole('button', { name: 'Remove bob from orders' }).click();
    await page.waitForSelector('#status.show.error');
    expect(await page.locator('#status').textContent()).toContain('changed by someone else');
    await page.waitForSelector('tr[data-route=orders]:not(:has(li[data-consumer=alice]))');
    expect((await orders()).consumers).toEqual(['bob']);
    await expect.poll(async () => denyCode(await istio(alice, '/v1/orders/7'))).toBe('route_forbidden');
    // Once reloaded, the form's grant goes through with If-Match.
    await page.fill('#grant-route', 'orders');
    await page.fill('#grant-consumer', 'alice');
    await page.click('#grant-submit');
    await expect.poll(async () => (await orders()).consumers).toEqual(['alice', 'bob']);
  });
});
