/** Config validation: every bad variable is named with its fix; ENV_DOC lists every variable read. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashAdminToken } from '../../src/config/admin-tokens.js';
import { ConfigError, ENV_DOC, loadConfig } from '../../src/config/config.js';
import { readRepoFile } from '../deploy/deploy-files.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('loadConfig', () => {
  it('defaults match ENV_DOC', () => {
    const c = loadConfig({});
    expect(c.grpcPort).toBe(9001);
    expect(c.adminHost).toBe('127.0.0.1');
    expect(c.adminTokens).toEqual([]);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reports every bad variable at once, each by name', () => {
    const p = problems({ GRPC_PORT: 'x', LOG_LEVEL: 'loud', REDIS_URL: 'memcached://h', SYNC_INTERVAL_MS: '1', ADMIN_TOKEN: 'short' });
    expect(p.map((s) => s.split(/[=:]/)[0])).toEqual(['ADMIN_TOKEN', 'REDIS_URL', 'LOG_LEVEL', 'GRPC_PORT', 'SYNC_INTERVAL_MS']);
  });

  it('refuses a non-loopback admin address without a token, and accepts a tokens file instead of ADMIN_TOKEN', () => {
    expect(problems({ ADMIN_HOST: '0.0.0.0' }).join()).toMatch(/ADMIN_TOKEN: a token \(ADMIN_TOKEN or ADMIN_TOKENS_FILE\) is required/);
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-cfg-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify([{ name: 'ci', sha256: hashAdminToken('a-token-for-ci-0000'), scope: 'read-write' }]));
    const c = loadConfig({ ADMIN_HOST: '0.0.0.0', ADMIN_TOKENS_FILE: file, ADMIN_TOKEN: 'root-token-0123456789' });
    expect(c.adminTokens.map((t) => [t.name, t.scope])).toEqual([['admin', 'read-write'], ['ci', 'read-write']]);
    expect(JSON.stringify(c)).not.toContain('a-token-for-ci-0000');
  });

  it('names ADMIN_TOKENS_FILE and the fix when it is missing, empty or malformed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-cfg-'));
    expect(problems({ ADMIN_TOKENS_FILE: join(dir, 'nope.json') }).join()).toMatch(/^ADMIN_TOKENS_FILE=.*cannot be read \(ENOENT\)/);
    writeFileSync(join(dir, 'empty.json'), '[]');
    expect(problems({ ADMIN_TOKENS_FILE: join(dir, 'empty.json') }).join()).toMatch(/lists no token/);
    writeFileSync(join(dir, 'plain.json'), '[{"name":"ci","token":"x"}]');
    expect(problems({ ADMIN_TOKENS_FILE: join(dir, 'plain.json') }).join()).toMatch(/ADMIN_TOKENS_FILE=.*plaintext "token"/);
  });

  it('accepts the Sentinel and Cluster URL forms and explains a bad one', () => {
    expect(loadConfig({ REDIS_URL: 'redis-sentinel://s1:26379,s2:26379/mymaster' }).redisUrl).toContain('sentinel');
    expect(loadConfig({ REDIS_URL: 'rediss-cluster://n1:7000' }).redisUrl).toContain('cluster');
    expect(problems({ REDIS_URL: 'redis-sentinel://s1:26379' }).join()).toMatch(/^REDIS_URL: .*primary's name/);
  });
});

describe('ENV_DOC', () => {
  it('lists every variable config.ts reads, and the README configuration table lists every ENV_DOC variable', () => {
    const source = readFileSync(new URL('../../src/config/config.ts', import.meta.url), 'utf8');
    const read = new Set([...source.matchAll(/\b(?:str|port|int|host)\('([A-Z_]+)'|env\.([A-Z_]+)/g)].map((m) => m[1] ?? m[2]));
    const documented = ENV_DOC.map(([name]) => name);
    expect([...read].filter((n) => !documented.includes(n as string))).toEqual([]);
    const readme = readRepoFile('README.md');
    for (const name of documented) expect(readme, name).toContain(`\`${name}\``);
  });
});
