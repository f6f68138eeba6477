/**
 * The web console in a real browser (system Chromium): API-key consumers
 * created through the form, then checked through the official Envoy protos.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { denyCode, httpStatus, type EnvoyRequest } from '../helpers/envoy.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { axeSerious, launchBrowser, shot, signIn, tabTo, type Browser } from './browser.js';

const TOKEN = 'console-admin-token-0123456789';
let t: TestApp;
let b: Browser;
let page: Page;
let base: string;

beforeAll(async () => {
  [t, b] = await Promise.all([startApp({ adminToken: TOKEN }), launchBrowser()]);
  base = `http://127.0.0.1:${t.adminPort}`;
  page = await b.newPage();
});

afterAll(async () => {
  await b?.close();
  await t?.stop();
});

/** The HTTP status Envoy would answer for this request. */
async function status(req: EnvoyRequest): Promise<number> {
  return httpStatus(await t.envoy.check(req));
}

/** Status of a GET sent with the path exactly as given (fetch would normalise dot segments). */
function rawStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

/** Fills the create form for an API-key consumer and submits it; returns the key from the dialog. */
async function createApiKeyConsumer(opts: { name: string; description?: string; custom?: string; source?: 'header' | 'query'; sourceName?: string }): Promise<string> {
  await page.goto(`${base}/#/consumers/new`);
  await page.fill('#consumer-name', opts.name);
  if (opts.description) await page.fill('#consumer-description', opts.description);
  if (opts.custom) {
    await page.click('#api-key-generation [data-value=custom]');
    await page.fill('#api-key-credential', opts.custom);
  }
  if (opts.source) {
    await page.click(`#api-key-source [data-value=${opts.source}]`);
    if (opts.sourceName) await page.fill('#api-key-source-name', opts.sourceName);
  }
  await page.click('#create-submit');
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  expect(await dialog.locator('#secret-warning').textContent()).toContain('will not be shown again');
  const key = await page.inputValue('#secret-value');
  await page.click('#close-secret');
  await page.waitForSelector(`h1:text-is("${opts.name}")`);
  return key;
}

describe('serving', () => {
  it('answers / with index.html under a strict CSP, assets with their types, 404 for the rest', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) {
      expect(csp).toContain(d);
    }
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/<style|style=/); // no inline style
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere
    const js = await fetch(`${base}/assets/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(`${base}/assets/app-style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${base}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/assets/..%2f..%2fpackage.json`)).status).toBe(404);
    expect(await rawStatus(t.adminPort, '/assets/%2e%2e/index.html')).toBe(404);
    expect(await rawStatus(t.adminPort, '/assets/../../package.json')).toBe(404);
    // The API is unaffected: still JSON and still behind the token.
    expect((await fetch(`${base}/v1/consumers`)).status).toBe(401);
  });
});

describe('sign-in', () => {
  it('refuses a wrong token beside the field, then signs in with ADMIN_TOKEN', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('#admin-token');
    await page.fill('#admin-token', 'wrong-token');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('#admin-token-error').textContent()).toContain('refused');
    expect(await page.getAttribute('#admin-token', 'aria-invalid')).toBe('true');
    await signIn(page, base, TOKEN);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toContain(TOKEN);
  });
});

describe('API-key consumers through the form', () => {
  it('system key from Authorization: Bearer: shown once, allowed by Check', async () => {
    const key = await createApiKeyConsumer({ name: 'alice', description: 'Web storefront' });
    expect(key).toMatch(/^\S{20,}$/);
    await expect.poll(() => status({ headers: { authorization: `Bearer ${key}` } })).toBe(200);
  });

  it('custom key from a custom HTTP header: allowed by Check', async () => {
    const key = await createApiKeyConsumer({ name: 'bob', description: 'Partner integration, key in a header', custom: 'bob-custom-key-0001', source: 'header', sourceName: 'x-api-key' });
    expect(key).toBe('bob-custom-key-0001');
    await expect.poll(() => status({ headers: { 'x-api-key': key } })).toBe(200);
  });

  it('system key from a custom query parameter: allowed by Check', async () => {
    const key = await createApiKeyConsumer({ name: 'carol', description: 'Nightly batch jobs', source: 'query', sourceName: 'api_key' });
    await expect.poll(() => status({ path: `/v1/models?api_key=${encodeURIComponent(key)}` })).toBe(200);
  });

  it('disabling in the list denies the Check with 403; enabling admits again', async () => {
    await page.goto(`${base}/#/consumers`);
    const toggle = page.getByRole('switch', { name: 'bob enabled' });
    await toggle.click();
    await expect.poll(async () => (await t.admin('GET', '/v1/consumers/bob')).body.enabled).toBe(false);
    expect(await toggle.isChecked()).toBe(false);
    // Every instance learns of the change within the sync interval; poll for it.
    await expect.poll(() => status({ headers: { 'x-api-key': 'bob-custom-key-0001' } })).toBe(403);
    expect(denyCode(await t.envoy.check({ headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe('consumer_disabled');
    await page.screenshot({ path: shot('list.png'), fullPage: true });
    await toggle.click();
    await expect.poll(async () => (await t.admin('GET', '/v1/consumers/bob')).body.enabled).toBe(true);
    await expect.poll(() => status({ headers: { 'x-api-key': 'bob-custom-key-0001' } })).toBe(200);
  });
});

describe('errors appear beside the field they name; nothing is lost', () => {
  it('a bad name shows the API message beside Consumer name and keeps every other value', async () => {
    await page.goto(`${base}/#/consumers/new`);
    await page.fill('#consumer-name', 'bad name!');
    await page.fill('#consumer-description', 'keeps this text');
    await page.click('#api-key-generation [data-value=custom]');
    await page.fill('#api-key-credential', 'a-custom-key-000001');
    await page.click('#api-key-source [data-value=header]');
    await page.fill('#api-key-source-name', 'x-team-key');
    await page.click('#create-submit');
    // The API says `name: <problem>`; the console says it as a sentence naming the field by its label.
    const api = (await t.admin('POST', '/v1/consumers', { name: 'bad name!', auth: { type: 'api-key' } }, TOKEN)).body.error;
    expect(api.message.startsWith(`${api.field}: `)).toBe(true);
    const problem = api.message.slice(api.field.length + 2).replace(/\.$/, '');
    await expect.poll(() => page.locator('#consumer-name-error').textContent()).toBe(`Consumer name ${problem}.`);
    expect(await page.getAttribute('#consumer-name', 'aria-invalid')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('consumer-name');
    expect(await page.inputValue('#consumer-name')).toBe('bad name!');
    expect(await page.inputValue('#consumer-description')).toBe('keeps this text');
    expect(await page.inputValue('#api-key-credential')).toBe('a-custom-key-000001');
    expect(await page.inputValue('#api-key-source-name')).toBe('x-team-key');
    expect(await page.getAttribute('#api-key-source [data-value=header]', 'aria-pressed')).toBe('true');
    await page.screenshot({ path: shot('form-error.png'), fullPage: true });

    // auth.source.name → the header name field; auth.key → Credential; the name error is gone.
    await page.fill('#consumer-name', 'dave');
    await page.fill('#api-key-source-name', 'authorization');
    await page.click('#create-submit');
    await expect.poll(() => page.locator('#api-key-source-name-error').textContent()).toMatch(/^Header name[: ]/);
    expect(await page.locator('#api-key-source-name-error').textContent()).not.toContain('auth.source.name');
    expect(await page.isHidden('#consumer-name-error')).toBe(true);
    await page.fill('#api-key-source-name', 'x-team-key');
    // Fixing the value clears its error at once, before the next submit.
    expect(await page.isHidden('#api-key-source-name-error')).toBe(true);
    expect(await page.getAttribute('#api-key-source-name', 'aria-invalid')).toBeNull();
    await page.fill('#api-key-credential', 'short');
    await page.click('#create-submit');
    await expect.poll(() => page.locator('#api-key-credential-error').textContent()).toMatch(/^Credential /);
    expect(await page.locator('#api-key-credential-error').textContent()).not.toContain('auth.key');
    // A taken name (409, field "name") lands beside the name too.
    await page.fill('#consumer-name', 'alice');
    await page.fill('#api-key-credential', 'a-custom-key-000001');
    await page.click('#create-submit');
    await expect.poll(() => page.locator('#consumer-name-error').textContent()).toContain('already exists');
    expect((await t.admin('GET', '/v1/consumers/dave', undefined, TOKEN)).status).toBe(404);
  });
});

describe('keyboard only', () => {
  it('creates a consumer with Tab, Space and Enter (and typing text)', async () => {
    await page.goto(`${base}/#/consumers`);
    await page.waitForSelector('h1:text-is("Consumers")');
    await tabTo(page, '#create-consumer');
    await page.keyboard.press('Enter');
    await page.waitForSelector('h1:text-is("Create consumer")');
    await tabTo(page, '#consumer-name');
    await page.keyboard.type('erin');
    await tabTo(page, '#consumer-description');
    await page.keyboard.type('made with the keyboard');
    await tabTo(page, '#api-key-generation [data-value=custom]');
    await page.keyboard.press('Space');
    await tabTo(page, '#api-key-credential');
    await page.keyboard.type('erin-keyboard-key-01');
    await tabTo(page, '#api-key-source [data-value=header]');
    await page.keyboard.press('Space');
    await tabTo(page, '#api-key-source-name');
    expect(await page.inputValue('#api-key-source-name')).toBe('x-api-key');
    await tabTo(page, '#create-submit');
    await page.keyboard.press('Enter');
    await page.waitForSelector('dialog[open]');
    // Focus is inside the dialog and Tab cannot leave it.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('copy-secret');
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => !!document.activeElement?.closest('dialog[open]'))).toBe(true);
    }
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => !!document.activeElement?.closest('dialog[open]'))).toBe(true);
    expect(await page.inputValue('#secret-value')).toBe('erin-keyboard-key-01');
    await page.keyboard.press('Escape');
    await page.waitForSelector('h1:text-is("erin")');
    expect(await page.locator('dialog[open]').count()).toBe(0);
    await expect.poll(() => status({ headers: { 'x-api-key': 'erin-keyboard-key-01' } })).toBe(200);
  });

  it('delete asks first; Escape cancels, confirming deletes', async () => {
    await page.goto(`${base}/#/consumers`);
    await page.getByRole('button', { name: 'Delete erin' }).click();
    await page.waitForSelector('dialog[open]');
    await page.keyboard.press('Escape');
    expect(await page.locator('dialog[open]').count()).toBe(0);
    expect((await t.admin('GET', '/v1/consumers/erin', undefined, TOKEN)).status).toBe(200);
    await page.getByRole('button', { name: 'Delete erin' }).click();
    await page.getByRole('button', { name: 'Delete consumer' }).click();
    await expect.poll(async () => (await t.admin('GET', '/v1/consumers/erin', undefined, TOKEN)).status).toBe(404);
    await expect.poll(() => page.locator('tr[data-consumer=erin]').count()).toBe(0);
  });
});

describe('detail and routes', () => {
  it('adds, rotates and removes keys; shows granted routes', async () => {
    await page.goto(`${base}/#/routes`);
    await page.fill('#grant-route', 'chat');
    await page.fill('#grant-consumer', 'alice');
    await page.click('#grant-submit');
    await page.waitForSelector('tr[data-route=chat]');
    expect((await t.admin('GET', '/v1/routes/chat', undefined, TOKEN)).body.consumers).toEqual(['alice']);
    // Granting a consumer that does not exist: the message sits beside Consumer.
    await page.fill('#grant-route', 'chat');
    await page.fill('#grant-consumer', 'nobody');
    await page.click('#grant-submit');
    await expect.poll(() => page.locator('#grant-consumer-error').textContent()).toContain('nobody');
    await page.screenshot({ path: shot('routes.png'), fullPage: true });

    await page.goto(`${base}/#/consumer/alice`);
    await page.waitForSelector('#granted-routes li');
    expect(await page.locator('#granted-routes').textContent()).toContain('chat');
    await page.click('form[aria-label="Add key"] button[type=submit]');
    await page.waitForSelector('dialog[open]');
    const second = await page.inputValue('#secret-value');
    await page.click('#close-secret');
    await expect.poll(() => page.locator('#key-table tbody tr').count()).toBe(2);
    await expect.poll(() => status({ route: 'chat', headers: { authorization: `Bearer ${second}` } })).toBe(200);
    await page.screenshot({ path: shot('detail.png'), fullPage: true });

    const first = (await t.admin('GET', '/v1/consumers/alice', undefined, TOKEN)).body.auth.keys[0];
    await page.getByRole('button', { name: `Remove key ${first.hint}` }).click();
    await page.getByRole('button', { name: 'Remove key', exact: true }).click();
    await expect.poll(() => page.locator('#key-table tbody tr').count()).toBe(1);
    const hint = (await t.admin('GET', '/v1/consumers/alice', undefined, TOKEN)).body.auth.keys[0].hint;
    await page.getByRole('button', { name: `Rotate key ${hint}` }).click();
    await page.getByRole('button', { name: 'Rotate', exact: true }).click();
    await page.waitForSelector('dialog[open] #secret-value');
    const rotated = await page.inputValue('#secret-value');
    await page.click('#close-secret');
    // Rotate adds a key and keeps the old one until it is removed: two keys, both allowed.
    await expect.poll(() => page.locator('#key-table tbody tr').count()).toBe(2);
    await expect.poll(() => status({ headers: { authorization: `Bearer ${rotated}` } })).toBe(200);
    expect(await status({ headers: { authorization: `Bearer ${second}` } })).toBe(200);
    await page.getByRole('button', { name: `Remove key ${hint}` }).click();
    await page.getByRole('button', { name: 'Remove key', exact: true }).click();
    await expect.poll(() => page.locator('#key-table tbody tr').count()).toBe(1);
    await expect.poll(() => status({ headers: { authorization: `Bearer ${second}` } })).toBe(401);
    expect(await status({ headers: { authorization: `Bearer ${rotated}` } })).toBe(200);
  });

  it('edits the description: saved through the API, a too-long one refused beside the field and cleared when fixed', async () => {
    await page.goto(`${base}/#/consumer/alice`);
    await page.waitForSelector('#edit-description');
    await page.fill('#edit-description', 'the chat team');
    await page.click('#edit-description-submit');
    await expect.poll(async () => (await t.admin('GET', '/v1/consumers/alice', undefined, TOKEN)).body.description).toBe('the chat team');
    await expect.poll(() => page.locator('#overview-title + dl').textContent()).toContain('the chat team');
    // 257 characters: the input's maxlength is lifted so the API's own check answers.
    await page.evaluate(() => document.getElementById('edit-description')!.removeAttribute('maxlength'));
    await page.fill('#edit-description', 'x'.repeat(257));
    await page.click('#edit-description-submit');
    await expect.poll(() => page.locator('#edit-description-error').textContent()).toMatch(/^Description /);
    expect(await page.getAttribute('#edit-description', 'aria-invalid')).toBe('true');
    expect((await t.admin('GET', '/v1/consumers/alice', undefined, TOKEN)).body.description).toBe('the chat team');
    await page.fill('#edit-description', '');
    await expect.poll(() => page.locator('#edit-description-error').textContent()).toBe('');
    await page.click('#edit-description-submit');
    await expect.poll(async () => (await t.admin('GET', '/v1/consumers/alice', undefined, TOKEN)).body.description).toBe('');
    // The page redraws after the save, showing no description.
    await expect.poll(() => page.locator('#overview-title + dl').textContent()).not.toContain('the chat team');
  });

  it('add key: a too-short and a taken custom key are refused beside Credential; nothing is added; the message clears when fixed', async () => {
    const keys = async () => (await t.admin('GET', '/v1/consumers/alice', undefined, TOKEN)).body.auth.keys.length as number;
    const before = await keys();
    // Away and back: a fresh render, not the previous test's page being redrawn after its save.
    await page.goto(`${base}/#/routes`);
    await page.waitForSelector('#grant-route');
    await page.goto(`${base}/#/consumer/alice`);
    await page.waitForSelector('#add-key-generation');
    await page.click('#add-key-generation [data-value=custom]');
    await page.waitForSelector('#add-key-credential', { state: 'visible' });
    await page.fill('#add-key-credential', 'short');
    await page.click('form[aria-label="Add key"] button[type=submit]');
    await expect.poll(() => page.locator('#add-key-credential-error').textContent()).toMatch(/\S/);
    expect(await page.getAttribute('#add-key-credential', 'aria-invalid')).toBe('true');
    // bob's key, already taken: the conflict is named beside the same field, and bob's key is not revealed as anyone's.
    await page.fill('#add-key-credential', 'bob-custom-key-0001');
    await expect.poll(() => page.locator('#add-key-credential-error').textContent()).toBe('');
    await page.click('form[aria-label="Add key"] button[type=submit]');
    await expect.poll(() => page.locator('#add-key-credential-error').textContent()).toMatch(/\S/);
    expect(await page.locator('#add-key-credential-error').textContent()).not.toContain('bob');
    expect(await keys()).toBe(before);
    expect(await page.locator('dialog[open]').count()).toBe(0);
  });

  it('routes: a console edit keeps the short-term grants; the form makes one; an expired grant is marked and survives removing another name', async () => {
    const route = async () => (await t.admin('GET', '/v1/routes/chat', undefined, TOKEN)).body;
    expect((await t.admin('POST', '/v1/consumers', { name: 'dana', auth: { type: 'api-key' } }, TOKEN)).status).toBe(201);
    const cur = await route();
    expect((await t.admin('PUT', '/v1/routes/chat', { consumers: [...cur.consumers, 'bob'], expires: { bob: '2031-01-01T00:00:00.000Z' } }, TOKEN)).status).toBe(200);
    await page.goto(`${base}/#/routes`);
    await page.waitForSelector('tr[data-route=chat] li[data-consumer=bob] .chip-note');
    expect(await page.locator('tr[data-route=chat] li[data-consumer=bob]').textContent()).toContain('until');
    // Granting dana long-term through the form leaves bob's grant short-term.
    await page.fill('#grant-route', 'chat');
    await page.fill('#grant-consumer', 'dana');
    await page.click('#grant-submit');
    await expect.poll(async () => (await route()).consumers).toContain('dana');
    expect((await route()).expires).toEqual({ bob: '2031-01-01T00:00:00.000Z' });
    // A short-term grant from the form.
    await page.waitForSelector('tr[data-route=chat] li[data-consumer=dana]');
    await page.fill('#grant-route', 'chat');
    await page.fill('#grant-consumer', 'dana');
    await page.fill('#grant-expires', '2032-06-01T12:00');
    await page.click('#grant-submit');
    await expect.poll(async () => (await route()).expires?.dana).toBe(new Date(await page.evaluate(() => new Date('2032-06-01T12:00').toISOString())).toISOString());
    expect((await route()).expires.bob).toBe('2031-01-01T00:00:00.000Z');
    // An expired grant: marked in the list, and kept as it is when another name is removed.
    const soon = new Date(Date.now() + 1200).toISOString();
    expect((await t.admin('PUT', '/v1/routes/chat', { consumers: (await route()).consumers, expires: { bob: '2031-01-01T00:00:00.000Z', dana: soon } }, TOKEN)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1400));
    await page.goto(`${base}/#/consumers`);
    await page.goto(`${base}/#/routes`);
    await page.waitForSelector('tr[data-route=chat] li.chip-expired[data-consumer=dana]');
    expect(await page.locator('tr[data-route=chat] li[data-consumer=dana]').textContent()).toContain('expired');
    await page.getByRole('button', { name: 'Remove bob from chat' }).click();
    await expect.poll(async () => (await route()).consumers).not.toContain('bob');
    expect((await route()).expires).toEqual({ dana: new Date(soon).toISOString() });
    expect((await route()).expired).toEqual(['dana']);
    await expect.poll(() => status({ route: 'chat', headers: { 'x-api-key': 'bob-custom-key-0001' } })).toBe(403);
  });
});

describe('a 64-character name, at 1280 px and 390 px', () => {
  it('is ellipsised with its full name as title; nothing overflows; nav and Sign out stay visible', async () => {
    const long = `n${'x'.repeat(62)}z`;
    expect((await t.admin('POST', '/v1/consumers', { name: long, auth: { type: 'api-key' } }, TOKEN)).status).toBe(201);
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 860 });
      for (const [hash, sel] of [['#/consumers', `tr[data-consumer=${long}] a.name`], [`#/consumer/${long}`, 'h1']] as const) {
        await page.goto(`${base}/${hash}`);
        const el = page.locator(sel);
        await el.waitFor();
        expect(await el.getAttribute('title')).toBe(long);
        expect(await el.textContent()).toBe(long);
        const wide = await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !e.closest('.table-wrap')).map((e) => `${e.tagName}.${e.className}#${e.id}`));
        expect(wide, `${width} ${hash}`).toEqual([]);
        const info = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth, [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5).map((e) => `${e.tagName}.${e.className}`).slice(0, 6)] as const);
        // No horizontal scroll at either width: a wide table scrolls inside its own wrap.
        expect(info[0] <= info[1], `${width} ${hash}: ${JSON.stringify(info)}`).toBe(true);
        for (const s of ['a[data-nav=consumers]', 'a[data-nav=routes]', '#sign-out']) {
          const box = await page.locator(s).boundingBox();
          expect(box && box.x >= 0 && box.x + box.width <= width, `${s} at ${width}`).toBe(true);
        }
      }
      await page.getByRole('button', { name: `Delete ${long}` }).or(page.locator('.page-actions .btn-danger-ghost')).first().click();
      await page.waitForSelector('dialog[open]');
      expect(await page.evaluate(() => { const d = document.querySelector('dialog[open]')!; return d.scrollWidth <= d.clientWidth; })).toBe(true);
      await page.keyboard.press('Escape');
    }
    await page.setViewportSize({ width: 1280, height: 860 });
  });
});

describe('accessibility and CSP', () => {
  it('axe-core finds no serious or critical violation on the list, the form and the dialog', async () => {
    await page.goto(`${base}/#/consumers`);
    await page.waitForSelector('tr[data-consumer=alice]');
    await page.screenshot({ path: shot('consumers.png'), clip: { x: 0, y: 0, width: 1280, height: 520 } });
    expect(await axeSerious(page)).toEqual([]);

    await page.goto(`${base}/#/consumers/new`);
    await page.waitForSelector('#create-form');
    await page.fill('#consumer-name', 'frank');
    await page.fill('#consumer-description', 'Billing service (production)');
    await page.click('#api-key-source [data-value=header]');
    await page.screenshot({ path: shot('form.png'), fullPage: true });
    expect(await axeSerious(page)).toEqual([]);
    await page.click('#auth-method [data-value=jwt]');
    await page.click('#jwt-key-type [data-value=asymmetric]');
    await page.screenshot({ path: shot('form-jwt.png'), fullPage: true });
    expect(await axeSerious(page)).toEqual([]);
    await page.click('#auth-method [data-value=api-key]');

    await page.click('#create-submit');
    await page.waitForSelector('dialog[open]');
    await page.screenshot({ path: shot('dialog.png') });
    expect(await axeSerious(page)).toEqual([]);
    await page.click('#close-secret');

    await page.goto(`${base}/#/consumer/alice`);
    await page.waitForSelector('#key-table');
    expect(await axeSerious(page)).toEqual([]);
    await page.goto(`${base}/#/routes`);
    await page.waitForSelector('#route-table');
    expect(await axeSerious(page)).toEqual([]);
  });

  it('no CSP violation and no uncaught error happened on any page', () => {
    expect(b.cspProblems).toEqual([]);
    expect(b.pageErrors).toEqual([]);
  });
});

describe('a server without ADMIN_TOKEN', () => {
  it('accepts an empty token at sign-in', async () => {
    const open = await startApp();
    try {
      const p = await b.newPage();
      await signIn(p, `http://127.0.0.1:${open.adminPort}`, '');
      expect(await p.locator('.empty').textContent()).toContain('No consumers yet');
      await p.close();
    } finally {
      await open.stop();
    }
  });
});
