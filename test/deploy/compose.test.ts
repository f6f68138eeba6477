/**
 * docker-compose.yml against the Compose Specification JSON schema (shipped by the dclint package),
 * the Dockerfile's shape, and agreement of names and ports across Dockerfile, compose and envoy.yaml.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadYaml, readRepoFile } from './deploy-files.js';

// ajv-formats is CommonJS with a default export; under NodeNext its default import is the module object.
const addFormats = ((addFormatsImport as unknown as { default?: unknown }).default ?? addFormatsImport) as (ajv: Ajv) => Ajv;

/** The service's defaults from the product contract. */
const GRPC_PORT = 9001;
const ADMIN_PORT = 9002;

let compose: any;
let envoy: any;
let validateCompose: (doc: unknown) => string[];

beforeAll(() => {
  compose = loadYaml('docker-compose.yml');
  envoy = loadYaml('envoy/envoy.yaml');
  const require = createRequire(import.meta.url);
  const schemaPath = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  // The schema says "$schema": "https://json-schema.org/draft-07/schema" (https, no "#"), an id Ajv does not
  // know; Ajv's default dialect is draft-07, so drop the field instead of registering an alias.
  expect(String(schema.$schema)).toContain('draft-07');
  delete schema.$schema;
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const check = ajv.compile(schema);
  validateCompose = (doc) => (check(doc) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));
});

interface DockerStage {
  from: string;
  name?: string;
  lines: string[];
}

/** Dockerfile instructions (continuations joined, comments dropped), grouped by build stage. */
function dockerStages(): { args: Record<string, string>; stages: DockerStage[] } {
  const joined = readRepoFile('Dockerfile')
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const args: Record<string, string> = {};
  const stages: DockerStage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      const image = from[1]!.replace(/\$\{(\w+)\}/g, (_m, n: string) => args[n] ?? '');
      stages.push({ from: image, ...(from[2] ? { name: from[2] } : {}), lines: [] });
      continue;
    }
    const arg = /^ARG\s+(\w+)=(\S+)/i.exec(line);
    if (arg && stages.length === 0) args[arg[1]!] = arg[2]!;
    stages.at(-1)?.lines.push(line);
  }
  return { args, stages };
}

function envoyClusterEndpoints(): { cluster: string; host: string; port: number }[] {
  return envoy.static_resources.clusters.flatMap((c: any) =>
    c.load_assignment.endpoints.flatMap((e: any) =>
      e.lb_endpoints.map((lb: any) => ({
        cluster: c.name,
        host: lb.endpoint.address.socket_address.address,
        port: lb.endpoint.address.socket_address.port_value,
      })),
    ),
  );
}

describe('docker-compose.yml', () => {
  it('conforms to the Compose Specification schema', () => {
    expect(validateCompose(compose)).toEqual([]);
  });

  it('the schema check rejects a misspelt service key and a bad depends_on condition', () => {
    const bad = structuredClone(compose);
    bad.services.authz.helthcheck = bad.services.authz.healthcheck;
    expect(validateCompose(bad).join('\n')).toMatch(/additional properties/);
    const bad2 = structuredClone(compose);
    bad2.services.envoy.depends_on.authz.condition = 'service_ready';
    expect(validateCompose(bad2).length).toBeGreaterThan(0);
  });

  it('pins every image to a tag (no latest) and Envoy to v1.38.4 or newer', () => {
    for (const [name, svc] of Object.entries<any>(compose.services)) {
      if (svc.build) continue;
      expect(svc.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(svc.image, name).not.toMatch(/:latest$/);
    }
    const m = /^envoyproxy\/envoy:v(\d+)\.(\d+)\.(\d+)$/.exec(compose.services.envoy.image);
    expect(m).not.toBeNull();
    const [major, minor, patch] = m!.slice(1).map(Number) as [number, number, number];
    expect(major === 1 && (minor > 38 || (minor === 38 && patch >= 4))).toBe(true);
  });

  it('gives every service a healthcheck and starts dependents only when it is healthy', () => {
    for (const [name, svc] of Object.entries<any>(compose.services)) {
      expect(svc.healthcheck?.test, name).toBeDefined();
      for (const [dep, cond] of Object.entries<any>(svc.depends_on ?? {})) {
        expect(compose.services[dep], `${name} -> ${dep}`).toBeDefined();
        expect(cond.condition, `${name} -> ${dep}`).toBe('service_healthy');
      }
    }
    expect(Object.keys(compose.services.envoy.depends_on).sort()).toEqual(['authz', 'orders', 'reports']);
    expect(Object.keys(compose.services.authz.depends_on)).toEqual(['redis']);
  });

  it('builds authz from the Dockerfile and points it at the redis service', () => {
    const authz = compose.services.authz;
    expect(authz.build.context).toBe('.');
    expect(authz.build.dockerfile).toBe('Dockerfile');
    const url = new URL(authz.environment.REDIS_URL);
    expect(url.protocol).toBe('redis:');
    expect(compose.services[url.hostname]).toBeDefined();
    expect(compose.services[url.hostname].image).toMatch(/^redis:/);
    expect(url.port).toBe('6379');
  });

  it('keeps the admin API on loopback inside the container and probes it there', () => {
    const authz = compose.services.authz;
    expect(authz.environment.ADMIN_HOST).toBe('127.0.0.1');
    expect(Number(authz.environment.ADMIN_PORT)).toBe(ADMIN_PORT);
    expect(authz.ports).toBeUndefined();
    expect(authz.healthcheck.test.join(' ')).toContain(`http://127.0.0.1:${ADMIN_PORT}/readyz`);
  });

  it('mounts envoy.yaml where the envoy command reads it and publishes the listener port', () => {
    const svc = compose.services.envoy;
    const configPath = svc.command[svc.command.indexOf('-c') + 1];
    expect(svc.volumes).toContain(`./envoy/envoy.yaml:${configPath}:ro`);
    const listenerPort = envoy.static_resources.listeners[0].address.socket_address.port_value;
    expect(svc.ports).toContain(`${listenerPort}:${listenerPort}`);
  });
});

describe('names and ports agree across envoy.yaml, compose and the Dockerfile', () => {
  it('every envoy cluster address is a compose service, at a port that service listens on', () => {
    const endpoints = envoyClusterEndpoints();
    expect(endpoints.length).toBeGreaterThanOrEqual(3);
    for (const { cluster, host, port } of endpoints) {
      const svc = compose.services[host];
      expect(svc, `cluster ${cluster} -> ${host}`).toBeDefined();
      expect((svc.expose ?? []).map(Number), `cluster ${cluster}`).toContain(port);
      if (svc.environment?.HTTP_PORT) expect(Number(svc.environment.HTTP_PORT)).toBe(port);
    }
  });

  it('the authz cluster port is the gRPC port everywhere', () => {
    const authz = envoyClusterEndpoints().find((e) => e.cluster === 'authz')!;
    expect(authz.host).toBe('authz');
    expect(authz.port).toBe(GRPC_PORT);
    expect(Number(compose.services.authz.environment.GRPC_PORT)).toBe(GRPC_PORT);
    const runtime = dockerStages().stages.at(-1)!;
    const expose = runtime.lines.find((l) => /^EXPOSE /i.test(l))!;
    expect(expose.split(/\s+/).slice(1).map(Number).sort()).toEqual([GRPC_PORT, ADMIN_PORT]);
    const env = runtime.lines.filter((l) => /^ENV /i.test(l)).join(' ');
    expect(env).toMatch(new RegExp(`GRPC_PORT=${GRPC_PORT}\\b`));
    expect(env).toMatch(new RegExp(`ADMIN_PORT=${ADMIN_PORT}\\b`));
    expect(env).toMatch(/ADMIN_HOST=127\.0\.0\.1\b/);
    expect(env).toMatch(/GRPC_HOST=0\.0\.0\.0\b/);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on a pinned Node LTS slim image', () => {
    const { args, stages } = dockerStages();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:(2[02468])\.\d+\.\d+-[a-z]+-slim$/);
    expect(args['NODE_IMAGE']).toBeDefined();
  });

  it('builds with npm ci and npm run build, and ships production dependencies only', () => {
    const { stages } = dockerStages();
    const all = stages.flatMap((s) => s.lines).join('\n');
    expect(all).toMatch(/RUN npm ci\b/);
    expect(all).toMatch(/RUN npm run build\b/);
    expect(all).toMatch(/npm ci --omit=dev\b/);
    const runtime = stages.at(-1)!;
    const copies = runtime.lines.filter((l) => /^COPY /i.test(l)).join('\n');
    for (const what of ['dist', 'bin', 'proto', 'package.json', 'node_modules']) expect(copies).toContain(what);
    expect(copies).not.toMatch(/\bsrc\b/);
    const depsStage = stages.find((s) => s.lines.some((l) => l.includes('--omit=dev')))!;
    expect(runtime.lines.some((l) => l.includes(`--from=${depsStage.name}`) && l.includes('node_modules'))).toBe(true);
  });

  it('the build stage copies every folder `npm run build` reads', () => {
    const build = dockerStages().stages.find((s) => s.lines.some((l) => /^RUN npm run build\b/.test(l)))!;
    const copied = build.lines.filter((l) => /^COPY /i.test(l)).join('\n');
    const pkg = JSON.parse(readRepoFile('package.json')) as { scripts: Record<string, string> };
    // The build script and the scripts it calls name their inputs: tsconfig files and folders.
    const script = `${pkg.scripts.build} ${pkg.scripts['build:console'] ?? ''}`;
    const inputs = new Set<string>(['src']);
    for (const m of script.matchAll(/(?:-p |node )([\w.-]+)\//g)) inputs.add(m[1] as string);
    for (const m of script.matchAll(/-p ([\w.-]+\.json)/g)) inputs.add(m[1] as string);
    expect([...inputs]).toEqual(expect.arrayContaining(['console', 'scripts', 'tsconfig.build.json']));
    for (const input of inputs) expect(copied, `COPY of ${input}`).toContain(input);
  });

  it('runs as a numeric non-root user, exposes 9001 and 9002, checks /readyz and starts the server', () => {
    const runtime = dockerStages().stages.at(-1)!;
    const user = runtime.lines.filter((l) => /^USER /i.test(l)).at(-1)!;
    const uid = user.split(/\s+/)[1]!.split(':')[0]!;
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    const health = runtime.lines.find((l) => /^HEALTHCHECK /i.test(l))!;
    expect(health).toContain(`http://127.0.0.1:${ADMIN_PORT}/readyz`);
    expect(health).toMatch(/CMD \["node", "-e"/);
    expect(runtime.lines.at(-1)).toBe('CMD ["node", "dist/src/main.js"]');
    expect(runtime.lines.join('\n')).toContain('exec node /app/bin/consumer-authz "$@"');
  });

  it('.dockerignore keeps secrets and build output out but lets the sources in', () => {
    const ignored = readRepoFile('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const must of ['node_modules', '.git', 'dist', '.env', 'data']) expect(ignored).toContain(must);
    for (const needed of ['src', 'proto', 'bin', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(ignored).not.toContain(needed);
    }
  });
});
