/**
 * vitest globalSetup: builds the web console (esbuild, well under a second)
 * once, before any test file runs, so the browser suites that run in
 * parallel share one build and a fresh clone needs only `npm ci && npm test`.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const root = join(import.meta.dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'scripts', 'build-console.mjs')], { cwd: root, stdio: 'pipe' });
}
