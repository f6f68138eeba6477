/**
 * The floors of docs/architecture.md hold: dependency-cruiser, configured by
 * .dependency-cruiser.cjs, finds no import that runs up a floor, crosses to a
 * sibling, forms a cycle, or lets the CLI or the web console reach past the
 * view types. A small tree that breaks each rule proves the rules can fail.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}
interface CruiseResult {
  modules: Array<{ source: string }>;
  summary: { violations: Violation[] };
}

/** Runs depcruise in `cwd` on `dirs` with the repository's rules; its JSON report. */
function cruise(cwd: string, dirs: string[]): Promise<CruiseResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', ...dirs],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      // depcruise exits non-zero when it finds violations; the report is on stdout either way.
      (err, stdout, stderr) => {
        if (stdout.trim() === '') return reject(err ?? new Error(`depcruise wrote no report: ${stderr}`));
        resolve(JSON.parse(stdout) as CruiseResult);
      },
    );
  });
}

const describeViolation = (v: Violation) => `${v.rule.name}: ${v.from} → ${v.to}`;

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${dir}/${f.split('\\').join('/')}`);
}

describe('the floors', () => {
  it('src/ and console/src/ keep them: no upward, sibling or circular import', async () => {
    const result = await cruise(ROOT, ['src', 'console/src']);
    // Every source file was read (a typo in an exclude would make this test pass on nothing).
    const cruised = new Set(result.modules.map((m) => m.source));
    expect([...tsFiles('src'), ...tsFiles('console/src')].filter((f) => !cruised.has(f))).toEqual([]);
    expect(result.summary.violations.map(describeViolation)).toEqual([]);
  });
});

describe('the rules fail on a tree that breaks them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'floors-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
  file('package.json', JSON.stringify({ type: 'module' }));
  // The model reaching up to the admin server (the layering issue 12 removed).
  file('src/consumers/validate.ts', "import { AdminError } from '../admin/errors.js';\nexport const e = AdminError;\n");
  file('src/admin/errors.ts', 'export class AdminError extends Error {}\n');
  file('src/admin/views.ts', 'export interface ConsumerView { name: string }\n');
  // Siblings on one floor: the wire edge importing the admin server.
  file('src/grpc/server.ts', "import { AdminError } from '../admin/errors.js';\nexport const s = AdminError;\n");
  // A cycle inside one folder (reported once, from where depcruise enters it).
  file('src/authz/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
  file('src/authz/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
  // A folder that is on no floor.
  file('src/extras/thing.ts', "import { a } from '../authz/a.js';\nexport const t = a;\n");
  // The CLI importing the admin server rather than its view types.
  file('src/cli/cli.ts', "import type { ConsumerView } from '../admin/views.js';\nimport { AdminError } from '../admin/errors.js';\nexport type C = ConsumerView;\nexport const x = AdminError;\n");
  // The console importing server code, and a view type as a value.
  file('console/src/api.ts', "import { AdminError } from '../../src/admin/errors.js';\nexport const x = AdminError;\n");
  file('console/src/pages.ts', "import { ConsumerView } from '../../src/admin/views.js';\nexport type C = ConsumerView;\n");

  it('reports each broken rule, and only those imports', async () => {
    const result = await cruise(dir, ['src', 'console/src']);
    expect(result.summary.violations.map(describeViolation).sort()).toEqual(
      [
        'floor:src/consumers/: src/consumers/validate.ts → src/admin/errors.ts',
        'floor:src/grpc/: src/grpc/server.ts → src/admin/errors.ts',
        'no-circular: src/authz/a.ts → src/authz/b.ts',
        'src-file-outside-the-floors: src/extras/thing.ts → src/authz/a.ts',
        'cli-is-a-client: src/cli/cli.ts → src/admin/errors.ts',
        'console-imports-only-view-types: console/src/api.ts → src/admin/errors.ts',
        'console-imports-views-as-types: console/src/api.ts → src/admin/errors.ts',
        'console-imports-views-as-types: console/src/pages.ts → src/admin/views.ts',
      ].sort(),
    );
  });
});
