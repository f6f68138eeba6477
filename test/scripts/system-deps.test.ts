/**
 * scripts/system-deps.sh, the pre-test step: with everything installed it is
 * silent, quick and exits 0; on a machine lacking the packages, `--check`
 * names each missing Debian package and the one command that installs them,
 * and installs nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/system-deps.sh');

function run(args: string[], env: Record<string, string>) {
  const started = Date.now();
  const r = spawnSync('/bin/bash', [SCRIPT, ...args], { env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - started };
}

describe('scripts/system-deps.sh', () => {
  it('on this machine (every package present): exit 0, silent, under a second', () => {
    const r = run(['--check'], { PATH: process.env.PATH ?? '' });
    expect(r.err).toBe('');
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(1000);
  });

  it('--check on a bare machine: names each missing package and the install command, installs nothing', () => {
    // A PATH with a shell and apt-get but none of the tools, and no browser at CHROMIUM_PATH.
    const bin = mkdtempSync(join(tmpdir(), 'cauthz-bare-'));
    for (const tool of ['bash', 'id']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    symlinkSync('/bin/false', join(bin, 'apt-get')); // never run by --check; would fail if it were
    const r = run(['--check'], { PATH: bin, CHROMIUM_PATH: join(bin, 'no-chromium') });
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const want = ['redis-server', 'redis-sentinel', 'redis-tools', 'openssl', 'chromium', 'nghttp2-client'];
    expect(r.err).toContain(`missing here: ${want.join(' ')}`);
    expect(r.err).toContain(`install them with: sudo sh -c 'apt-get update && apt-get install -y ${want.join(' ')}'`);
    expect(r.err).not.toContain('installing');
  });

  it('a bad option: usage, exit 2', () => {
    expect(run(['--install-everything'], { PATH: process.env.PATH ?? '' }).code).toBe(2);
  });

  it('is the pretest step of npm test, and .ci/run uses it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.pretest).toBe('bash scripts/system-deps.sh');
    expect(readFileSync(join(ROOT, '.ci/run'), 'utf8')).toContain('bash scripts/system-deps.sh');
  });
});
