/**
 * The floors of src/ (docs/architecture.md), enforced by dependency-cruiser;
 * test/architecture.test.ts runs it as part of `npm test`. Run it by hand:
 *   npx depcruise src console/src
 *
 * A module may import its own folder and the floors below its own, never a
 * floor above it nor a sibling on its own floor. No cycles, type-only imports
 * included. test/ and bench/ may import anything (they are not cruised).
 */

/** Top to bottom. Folders on one floor are siblings and do not import each other. */
const FLOORS = [
  ['src/main.ts'],
  ['src/app.ts'],
  ['src/cli/', 'src/workers.ts'],
  ['src/grpc/', 'src/admin/', 'src/metrics/'],
  ['src/authz/', 'src/config/'],
  ['src/replica/', 'src/limits/'],
  ['src/store/'],
  ['src/consumers/'],
  ['src/log.ts'],
];

const re = (p) => `^${p.replace(/[.]/g, '\\.')}${p.endsWith('/') ? '' : '$'}`;
const any = (paths) => paths.map(re).join('|');

const floorRules = FLOORS.flatMap((floor, i) =>
  floor.flatMap((room) => {
    const above = FLOORS.slice(0, i).flat();
    const siblings = floor.filter((other) => other !== room);
    if (above.length + siblings.length === 0) return []; // the top floor: nothing above to import
    return {
      name: `floor:${room}`,
      comment: `${room} may import only the floors below it (${FLOORS.slice(i + 1).flat().join(', ') || 'none'})`,
      severity: 'error',
      from: { path: re(room) },
      to: { path: any([...above, ...siblings]) },
    };
  }),
);

const VIEWS = ['src/admin/views.ts', 'src/consumers/views.ts'];

module.exports = {
  forbidden: [
    ...floorRules,
    {
      name: 'no-circular',
      comment: 'modules that import each other, directly or around a circle',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-file-outside-the-floors',
      comment: 'every module of src/ belongs to a floor: add new folders to FLOORS in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: any(FLOORS.flat()) },
      to: {},
    },
    {
      name: 'cli-is-a-client',
      comment: 'the CLI talks to the admin API over HTTP: of admin/ it may import the view types only',
      severity: 'error',
      from: { path: re('src/cli/') },
      to: { path: re('src/admin/'), pathNot: any(VIEWS) },
    },
    {
      name: 'views-import-only-views',
      comment: 'the view types are compiled by the web console too: they import nothing but other view types',
      severity: 'error',
      from: { path: any(VIEWS) },
      to: { pathNot: any(VIEWS) },
    },
    {
      name: 'console-imports-only-view-types',
      comment: 'the web console may take from src/ the view types only, with `import type`',
      severity: 'error',
      from: { path: '^console/' },
      to: { path: '^src/', pathNot: any(VIEWS) },
    },
    {
      name: 'console-imports-views-as-types',
      comment: 'a value import from src/ would bundle server code into the browser',
      severity: 'error',
      from: { path: '^console/' },
      to: { path: '^src/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    // type-only imports count: a floor's types are as much a dependency as its code.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
