/**
 * Replays the README's quickstart and CLI walkthrough line by line in one bash
 * shell each, as a user pasting them would, against the built service started
 * on a fresh data file: every line must succeed, and every `consumer-authz
 * check` line must print the outcome its `# →` comment promises, with the
 * matching exit code. The sample output in the quickstart must be what `check`
 * prints, and the files the walkthrough writes (keys, JWKS, PEM) must land in
 * the scratch folder, never in the checkout.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/app.js';
import { EnvoyClient, httpStatus } from '../helpers/envoy.js';
import { freePort } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const OUTCOME_RE = /#\s*→\s*(allow as [\w.@-]+|deny (\d{3}) [a-z_]+)/;
const STATE_CHANGE_RE = /^consumer-authz (consumers (create|enable|disable|delete)|keys (add|remove)|routes (grant|revoke|clear))\b/;

function section(from: string, to: string): string {
  const a = README.indexOf(from);
  const b = README.indexOf(to, a);
  if (a < 0 || b < 0) throw new Error(`README.md has no section "${from}" … "${to}"`);
  return README.slice(a, b);
}

function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] as string);
}

/** Shell lines of sh blocks: continuations joined, blank and comment-only lines dropped. */
function shellLines(text: string): string[] {
  return blocks(text, 'sh')
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

const running: ChildProcess[] = [];

afterAll(async () => {
  for (const p of running) {
    if (p.exitCode === null) {
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
    }
  }
});

/** The built service on free loopback ports and a fresh data file, as `npm start` runs it. */
async function startService(): Promise<{ grpcPort: number; adminPort: number; adminUrl: string; dataDir: string; log: () => string }> {
  const grpcPort = await freePort();
  const adminPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'cauthz-readme-data-'));
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', GRPC_HOST: '127.0.0.1', GRPC_PORT: String(grpcPort), ADMIN_PORT: String(adminPort), DATA_FILE: join(dataDir, 'consumers.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  running.push(proc);
  let log = '';
  proc.stdout!.on('data', (d) => (log += d));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await until(async () => (await fetch(`${adminUrl}/readyz`).catch(() => undefined))?.ok === true, 10_000, 50);
  return { grpcPort, adminPort, adminUrl, dataDir, log: () => log };
}

interface Step {
  line: string;
  code: number;
  out: string;
}

/**
 * Runs the lines in one bash, from the project folder (as the README says), with the service's
 * ports in the environment; returns each line's exit code and output (stdout and stderr).
 */
async function replay(lines: string[], svc: { grpcPort: number; adminUrl: string }, scratch: string): Promise<Step[]> {
  const script = ['exec 2>&1', `cd ${JSON.stringify(ROOT)}`];
  lines.forEach((l, i) => script.push(`printf '\\n@@begin ${i}@@\\n'`, l, `printf '\\n@@end ${i} %d@@\\n' $?`));
  const { stdout } = await promisify(execFile)('bash', ['-c', script.join('\n')], {
    env: { PATH: process.env.PATH ?? '', HOME: scratch, TMPDIR: scratch, CONSUMER_AUTHZ_URL: svc.adminUrl, GRPC_PORT: String(svc.grpcPort) },
    maxBuffer: 16 * 1024 * 1024,
  });
  return lines.map((line, i) => {
    const m = new RegExp(`\\n@@begin ${i}@@\\n([\\s\\S]*?)\\n@@end ${i} (\\d+)@@\\n`).exec(stdout);
    if (!m) throw new Error(`no output markers for line ${i}: ${line}\n${stdout.slice(-2000)}`);
    return { line, out: (m[1] as string).replace(/^\n/, ''), code: Number(m[2]) };
  });
}

/** Each step succeeded; each `check` printed its promised outcome first, with the matching exit code. */
function assertOutcomes(steps: Step[]): Step[] {
  const checks: Step[] = [];
  for (const s of steps) {
    if (!s.line.startsWith('consumer-authz check')) {
      expect(s.code, `${s.line}\n${s.out}`).toBe(0);
      continue;
    }
    const m = OUTCOME_RE.exec(s.line);
    expect(m, `a check line without "# → allow as NAME" or "# → deny STATUS reason": ${s.line}`).not.toBeNull();
    const promised = m![1] as string;
    const status = m![2] === undefined ? 200 : Number(m![2]);
    expect(s.out.split('\n')[0], `${s.line}\n${s.out}`).toMatch(new RegExp(`^${promised.replace(/[.]/g, '\\.')}( |:|$)`));
    expect(s.code, s.line).toBe(status === 200 ? 0 : status === 503 ? 3 : 1);
    if (s.line.includes('--explain')) expect(s.out).toMatch(/\nwhy:\n {2}\[answer\] /);
    checks.push(s);
  }
  return checks;
}

/** After every change of state, a `check` shows its effect before the next change. */
function assertCheckAfterEachChange(lines: string[]): void {
  let pending: string | undefined;
  for (const l of lines) {
    if (STATE_CHANGE_RE.test(l)) {
      expect(pending, `no check between "${pending}" and "${l}"`).toBeUndefined();
      pending = l;
    } else if (l.startsWith('consumer-authz check')) {
      pending = undefined;
    }
  }
  expect(pending, `no check after "${pending}"`).toBeUndefined();
}

const mask = (s: string) => s.replace(/csm_[0-9a-f]{16}/g, 'csm_ID').replace(/key_[0-9a-f]{16}/g, 'key_ID');

describe('README quickstart, replayed', () => {
  const text = section('## Quickstart', '## What it does');

  it('is at the top of the README and starts the service with npm start, no Docker', () => {
    expect(README.indexOf('\n## ')).toBe(README.indexOf('\n## Quickstart'));
    expect(blocks(text, 'sh')[0]).toBe('npm install && npm start\n');
    expect(blocks(text, 'sh').join('\n')).not.toMatch(/docker/i);
  });

  it('every line runs on a fresh data file; each check prints what its comment promises; the sample output is real', async () => {
    const svc = await startService();
    // "It says where it is: `…`" — the start-up line, with this run's addresses and data file.
    const said = /It says where it is: `([^`]+)`/.exec(text)?.[1]?.replace(/\s+/g, ' ');
    expect(said).toBeDefined();
    const msgs = svc.log().split('\n').filter(Boolean).map((l) => JSON.parse(l).msg as string);
    expect(msgs).toContain(
      said!
        .replace('0.0.0.0:9001', `127.0.0.1:${svc.grpcPort}`)
        .replace('127.0.0.1:9002', `127.0.0.1:${svc.adminPort}`)
        .replace('<project>/data/', `${svc.dataDir}/`),
    );
    const scratch = mkdtempSync(join(tmpdir(), 'cauthz-readme-quick-'));
    const lines = shellLines(text).slice(1); // the first block is `npm start`, done above
    assertCheckAfterEachChange(lines);
    const checks = assertOutcomes(await replay(lines, svc, scratch));
    expect(checks.map((c) => c.out.split('\n')[0]!.split(' (')[0]!.split(':')[0])).toEqual([
      'allow as demo',
      'deny 401 missing_credential',
      'deny 401 invalid_credential',
      'deny 403 consumer_disabled',
      'allow as demo',
    ]);
    // The ```text sample: the first allow and the first deny as check printed them (ids aside).
    const sample = blocks(text, 'text')[0] as string;
    expect(mask(sample)).toBe(mask(`${checks[0]!.out}\n${checks[1]!.out}`));
  }, 60_000);
});

describe('README CLI walkthrough, replayed', () => {
  const text = section('## Walkthrough (CLI)', '<!-- section:deploy -->');

  it('every line runs on a fresh data file, each check prints what its comment promises, and no secret lands in the checkout', async () => {
    const svc = await startService();
    const scratch = mkdtempSync(join(tmpdir(), 'cauthz-readme-walk-'));
    const lines = shellLines(text);
    expect(lines.length).toBeGreaterThan(30);
    assertCheckAfterEachChange(lines);
    const steps = await replay(lines, svc, scratch);
    const checks = assertOutcomes(steps);
    expect(checks.length).toBeGreaterThanOrEqual(15);
    // The same outcomes through another client than the CLI's: grpc-js with the
    // official protos, using the key and tokens the walkthrough printed.
    const printed = steps.map((s) => s.out).join('\n');
    const key = /API key \(shown once; store it now\): (\S+)/.exec(printed)?.[1];
    expect(key).toMatch(/^cak_/);
    const tokens = printed.split('\n').filter((l) => /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/.test(l)); // erin's, erin's after rotation, dave's
    expect(tokens).toHaveLength(3);
    const envoy = new EnvoyClient(svc.grpcPort);
    try {
      // alice holds the route "chat" grant, bob a short-term one (until 2030); erin, holding none, is refused it.
      expect(httpStatus(await envoy.check({ route: 'chat', headers: { authorization: `Bearer ${key}` } }))).toBe(200);
      expect(httpStatus(await envoy.check({ route: 'chat', headers: { 'x-api-key': 'bob-custom-key-0001' } }))).toBe(200);
      expect(httpStatus(await envoy.check({ route: 'chat', headers: { authorization: `Bearer ${tokens[0]}` } }))).toBe(403);
      expect(httpStatus(await envoy.check({ headers: { authorization: `Bearer ${tokens[0]}` } }))).toBe(200);
      expect(httpStatus(await envoy.check({ headers: { authorization: `Bearer ${tokens[1]}` } }))).toBe(200);
      expect(httpStatus(await envoy.check({ headers: { 'x-jwt': tokens[2] as string } }))).toBe(200);
    } finally {
      envoy.close();
    }
    // Every denial reason a client can meet without a fault is shown at least once.
    const shown = new Set(checks.map((c) => /^(?:allow|deny \d{3} ([a-z_]+))/.exec(c.out)?.[1] ?? 'allow'));
    for (const r of ['allow', 'invalid_credential', 'route_forbidden', 'consumer_disabled']) expect(shown).toContain(r);
    // The files it writes: in the scratch folder (`cd "$(mktemp -d)"`), none in the project folder.
    const written = ['alice.key', 'carol.key', 'bob-2.key', 'erin-jwks.json', 'erin-jwks-2.json', 'dave-private.pem', 'dave-public.pem'];
    const [folder] = readdirSync(scratch).filter((f) => existsSync(join(scratch, f, 'alice.key')));
    expect(folder, 'the walkthrough wrote its files into a folder under TMPDIR').toBeDefined();
    for (const f of written) {
      expect(existsSync(join(scratch, folder as string, f)), f).toBe(true);
      expect(existsSync(join(ROOT, f)), `${f} written into the checkout`).toBe(false);
    }
  }, 120_000); // about 50 CLI processes, one after another
});
