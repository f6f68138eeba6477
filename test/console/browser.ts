/**
 * Browser-test support for the web console (built by global-setup.ts): starts the system
 * Chromium through playwright-core (never a downloaded browser), records CSP
 * violations and page errors, and runs axe-core inside the page.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const require = createRequire(import.meta.url);
const ROOT = join(import.meta.dirname, '..', '..');
export const ARTIFACTS = join(ROOT, 'test-results', 'console');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface Browser {
  context: BrowserContext;
  /** CSP violations and CSP console errors seen by any page so far. */
  cspProblems: string[];
  /** Uncaught exceptions thrown by the console's code. */
  pageErrors: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'cauthz-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Fail in seconds, not at the 30 s test timeout, when the page is not what a test waits for.
  context.setDefaultTimeout(5000);
  const cspProblems: string[] = [];
  const pageErrors: string[] = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  const watch = (page: Page): void => {
    page.on('console', (m) => {
      if (m.type() === 'error' && /content security policy|CSP violation/i.test(m.text())) cspProblems.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    cspProblems,
    pageErrors,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** Serious and critical axe-core violations on the page as it is now. */
export async function axeSerious(page: Page): Promise<AxeFinding[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: any[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n: any) => n.target.join(' ')) }));
  });
  return results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Presses Tab until the focused element matches `selector`; fails after `max` presses. */
export async function tabTo(page: Page, selector: string, max = 40): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** Signs in through the form (token may be empty). */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/#/sign-in`);
  await page.fill('#admin-token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('h1:text-is("Consumers")');
}

export function shot(name: string): string {
  return join(ARTIFACTS, name);
}

/**
 * Submits the create form and waits for its outcome: resolves when `success`
 * appears, fails at once with the messages the form shows when it refuses.
 */
export async function submitCreate(page: Page, success: string): Promise<void> {
  await page.click('#create-submit');
  const refused = '.field-error:not([hidden]), .form-alert:not([hidden])';
  await page.waitForSelector(`${success}, ${refused}`);
  const errors = await page.locator(refused).allTextContents();
  if (errors.length > 0) throw new Error(`the form was refused: ${errors.join(' | ')}`);
}
