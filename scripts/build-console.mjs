// Builds the web console into dist/console/: index.html, assets/app.js (one
// ES module bundled by esbuild), assets/app.css, assets/favicon.svg.
// Usage: node scripts/build-console.mjs  (npm run build runs it after tsc)
import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'console');
const out = join(root, 'dist', 'console');

await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'assets'), { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { app: join(src, 'src', 'main.ts'), 'app-style': join(src, 'styles.css') },
  outdir: join(out, 'assets'),
  entryNames: '[name]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(join(src, 'index.html'), join(out, 'index.html'));
await copyFile(join(src, 'favicon.svg'), join(out, 'assets', 'favicon.svg'));

const sizes = await Promise.all(['app.js', 'app-style.css'].map(async (f) => `${f} ${(await stat(join(out, 'assets', f))).size} B`));
console.log(`console built in dist/console (${sizes.join(', ')})`);
