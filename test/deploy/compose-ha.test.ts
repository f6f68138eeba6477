/**
 * docker-compose.sentinel.yml and docker-compose.cluster.yml: each override and its merge with
 * docker-compose.yml validate against the Compose Specification schema, and the pieces agree: the
 * REDIS_URL that authz gets is valid config naming services of the merged file, sentinels monitor the
 * primary that exists under the name the URL uses, the cluster job forms the cluster from every node.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { parseRedisUrl } from '../../src/store/redis-connection.js';
import { loadYaml, readRepoFile } from './deploy-files.js';

const addFormats = ((addFormatsImport as unknown as { default?: unknown }).default ?? addFormatsImport) as (ajv: Ajv) => Ajv;

let validate: (doc: unknown) => string[];
let base: any;

beforeAll(() => {
  const require = createRequire(import.meta.url);
  const schemaPath = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  delete schema.$schema; // draft-07 under an id Ajv does not know; Ajv's default dialect is draft-07
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const check = ajv.compile(schema);
  validate = (doc) => (check(doc) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));
  base = loadYaml('docker-compose.yml');
});

/** Compose's merge of an override into a base file: maps merge per key, sequences like `command` are replaced. */
function merge(a: any, b: any): any {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: any = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v) : v;
    return out;
  }
  return b;
}

function hostsOf(url: string): Array<{ host: string; port: number }> {
  const t = parseRedisUrl(url);
  return t.kind === 'sentinel' ? t.sentinels : t.kind === 'cluster' ? t.nodes : [];
}

describe.each(['docker-compose.sentinel.yml', 'docker-compose.cluster.yml'])('%s', (file) => {
  it('conforms to the Compose Specification schema, alone and merged with docker-compose.yml', () => {
    const override = loadYaml(file);
    expect(validate(override)).toEqual([]);
    expect(validate(merge(base, override))).toEqual([]);
  });

  it('gives authz a REDIS_URL that is valid config and names services of the merged file at exposed ports', () => {
    const merged = merge(base, loadYaml(file));
    const url = merged.services.authz.environment.REDIS_URL as string;
    expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
    const hosts = hostsOf(url);
    expect(hosts.length).toBeGreaterThanOrEqual(3);
    for (const { host, port } of hosts) {
      expect(merged.services[host], host).toBeDefined();
      expect((merged.services[host].expose ?? []).map(Number), host).toContain(port);
    }
  });

  it('depends only on services that exist, with valid conditions; long-running services have healthchecks; images pinned like the base redis', () => {
    const merged = merge(base, loadYaml(file));
    for (const [name, svc] of Object.entries<any>(merged.services)) {
      for (const [dep, cond] of Object.entries<any>(svc.depends_on ?? {})) {
        expect(merged.services[dep], `${name} -> ${dep}`).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully'], `${name} -> ${dep}`).toContain(cond.condition);
        if (cond.condition === 'service_healthy') expect(merged.services[dep].healthcheck, dep).toBeDefined();
      }
      if (svc.restart !== 'no') expect(svc.healthcheck?.test, name).toBeDefined();
    }
    for (const name of Object.keys(loadYaml(file).services)) {
      const img = merged.services[name].image;
      if (name !== 'authz') expect(img, name).toBe(base.services.redis.image);
    }
  });
});

describe('docker-compose.sentinel.yml', () => {
  it('three sentinels with quorum 2 monitor the primary the URL names, announcing their own service names', () => {
    const merged = merge(base, loadYaml('docker-compose.sentinel.yml'));
    const target = parseRedisUrl(merged.services.authz.environment.REDIS_URL);
    if (target.kind !== 'sentinel') throw new Error('not a sentinel URL');
    for (const { host } of target.sentinels) {
      const script = merged.services[host].command.join(' ');
      const m = /sentinel monitor (\S+) (\S+) (\d+) (\d+)/.exec(script);
      expect(m, host).not.toBeNull();
      const [, name, primary, port, quorum] = m!;
      expect(name).toBe(target.name);
      expect(merged.services[primary!]).toBeDefined();
      expect(port).toBe('6379');
      expect(Number(quorum)).toBe(2);
      expect(script).toContain(`sentinel announce-ip ${host}`);
      expect(script).toContain('sentinel resolve-hostnames yes');
    }
    const replica = merged.services['redis-replica'].command.join(' ');
    expect(replica).toContain('--replicaof redis 6379');
  });
});

describe('docker-compose.cluster.yml', () => {
  it('the init job forms the cluster from every node (three primaries with a replica each) before authz starts', () => {
    const merged = merge(base, loadYaml('docker-compose.cluster.yml'));
    const nodes = Object.keys(merged.services).filter((n) => /^redis-node-\d+$/.test(n));
    expect(nodes).toHaveLength(6);
    const init = merged.services['redis-cluster-init'];
    const script = init.command.join(' ');
    for (const n of nodes) {
      expect(script).toContain(`${n}:6379`);
      expect(init.depends_on[n].condition).toBe('service_healthy');
      expect(merged.services[n].command.join(' ')).toMatch(new RegExp(`--cluster-enabled yes .*--cluster-announce-hostname ${n} --cluster-preferred-endpoint-type hostname`));
    }
    expect(script).toContain('--cluster-replicas 1');
    expect(merged.services.authz.depends_on['redis-cluster-init'].condition).toBe('service_completed_successfully');
  });

  it('is documented in the README next to the Sentinel override', () => {
    const readme = readRepoFile('README.md');
    expect(readme).toContain('docker-compose.cluster.yml');
    expect(readme).toContain('docker-compose.sentinel.yml');
  });
});
