/**
 * loadConfig: defaults, each variable invalid in turn (named, with its fix,
 * every bad one at once), the ADMIN_TOKEN rule and the tokens file, the Redis
 * URL forms, a frozen result; ENV_DOC lists every variable read, and the
 * README every ENV_DOC variable.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashAdminToken } from '../../src/config/admin-tokens.js';
import { ConfigError, ENV_DOC, isLoopback, loadConfig } from '../../src/config/config.js';
import { readRepoFile } from '../deploy/deploy-files.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it('match PRODUCT.md', () => {
    const c = loadConfig({});
    expect(c).toEqual({
      grpcHost: '0.0.0.0',
      grpcPort: 9001,
      grpcTls: undefined,
      grpcTlsReloadMs: 10_000,
      adminHost: '127.0.0.1',
      adminPort: 9002,
      redisUrl: undefined,
      dataFile: './data/consumers.json',
      redisKeyPrefix: 'cauthz:',
      logLevel: 'info',
      syncIntervalMs: 1000,
      maxStalenessMs: 1000,
      drainMs: 10_000,
      lameDuckMs: 5_000,
      adminTokensFile: undefined,
      adminTokens: [],
      redisTlsCa: undefined,
      workers: 1,
      routeMismatch: 'extension',
      secretsKeks: [],
      warnings: [],
    });
  });

  it('empty strings mean "unset"', () => {
    expect(loadConfig({ GRPC_PORT: '', REDIS_URL: '', ADMIN_TOKEN: '', LOG_LEVEL: '' })).toMatchObject({
      grpcPort: 9001,
      grpcTls: undefined,
      grpcTlsReloadMs: 10_000,
      redisUrl: undefined,
      logLevel: 'info',
    });
  });

  it('reads every variable', () => {
    const c = loadConfig({
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      ADMIN_HOST: '::1',
      ADMIN_PORT: '65535',
      ADMIN_TOKEN: 'x'.repeat(16),
      REDIS_URL: 'rediss://u:p@redis.internal:6380/0',
      DATA_FILE: '/var/lib/cauthz/c.json',
      REDIS_KEY_PREFIX: 'app1:',
      LOG_LEVEL: 'debug',
      SYNC_INTERVAL_MS: '50',
      MAX_STALENESS_MS: '250',
      DRAIN_MS: '0',
      LAME_DUCK_MS: '0',
      ROUTE_MISMATCH: 'deny',
    });
    expect(c).toEqual({
      grpcHost: '127.0.0.1',
      grpcPort: 0,
      grpcTls: undefined,
      grpcTlsReloadMs: 10_000,
      adminHost: '::1',
      adminPort: 65535,
      redisUrl: 'rediss://u:p@redis.internal:6380/0',
      dataFile: '/var/lib/cauthz/c.json',
      redisKeyPrefix: 'app1:',
      logLevel: 'debug',
      syncIntervalMs: 50,
      maxStalenessMs: 250,
      drainMs: 0,
      lameDuckMs: 0,
      adminTokensFile: undefined,
      adminTokens: [{ name: 'admin', scope: 'read-write', sha256: createHash('sha256').update('x'.repeat(16)).digest('hex') }],
      redisTlsCa: undefined,
      workers: 1,
      routeMismatch: 'deny',
      secretsKeks: [],
      warnings: [],
    });
  });

  it('the result is frozen', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { grpcPort: number }).grpcPort = 1;
    }).toThrow(TypeError);
  });

  it('ROUTE_MISMATCH is "extension" or "deny", anything else is named with the fix', () => {
    expect(() => loadConfig({ ROUTE_MISMATCH: 'strict' })).toThrow(/ROUTE_MISMATCH=strict: must be "extension"/);
    expect(loadConfig({ ROUTE_MISMATCH: 'deny' }).routeMismatch).toBe('deny');
  });

  it('ENV_DOC lists every variable config.ts reads, and the README configuration table lists every ENV_DOC variable', () => {
    const source = readFileSync(new URL('../../src/config/config.ts', import.meta.url), 'utf8');
    const read = new Set([...source.matchAll(/\b(?:str|port|int|host)\('([A-Z_]+)'|env\.([A-Z_]+)/g)].map((m) => m[1] ?? m[2]));
    const documented = ENV_DOC.map(([name]) => name);
    expect([...read].filter((n) => !documented.includes(n as string))).toEqual([]);
    const readme = readRepoFile('README.md');
    for (const name of documented) expect(readme, name).toContain(`\`${name}\``);
    expect(ENV_DOC.map(([n]) => n).sort()).toEqual(
      ['ADMIN_HOST', 'ADMIN_PORT', 'ADMIN_TOKEN', 'ADMIN_TOKENS_FILE', 'DATA_FILE', 'DRAIN_MS', 'GRPC_HOST', 'GRPC_PORT',
        'GRPC_TLS_CERT_FILE', 'GRPC_TLS_KEY_FILE', 'GRPC_TLS_CLIENT_CA_FILE', 'GRPC_TLS_RELOAD_MS',
        'LAME_DUCK_MS', 'LOG_LEVEL', 'MAX_STALENESS_MS', 'REDIS_KEY_PREFIX', 'REDIS_TLS_CA_FILE', 'REDIS_URL', 'ROUTE_MISMATCH', 'SYNC_INTERVAL_MS', 'WORKERS',
        'SECRETS_KEK', 'SECRETS_KEK_FILE'].sort(),
    );
  });
});

describe('each variable invalid in turn: one problem, naming the variable', () => {
  const cases: Array<[string, string]> = [
    ['GRPC_HOST', 'not a host!'],
    ['GRPC_PORT', '65536'],
    ['GRPC_PORT', 'abc'],
    ['GRPC_PORT', '-1'],
    ['ADMIN_HOST', 'bad host'],
    ['ADMIN_PORT', '99999'],
    ['ADMIN_PORT', '80.5'],
    ['ADMIN_TOKEN', 'short'],
    ['ADMIN_TOKEN', 'has whitespace inside it'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['REDIS_URL', 'localhost:6379'],
    ['REDIS_KEY_PREFIX', 'has space'],
    ['REDIS_KEY_PREFIX', 'x'.repeat(65)],
    ['LOG_LEVEL', 'loud'],
    ['SYNC_INTERVAL_MS', '10'],
    ['SYNC_INTERVAL_MS', '60001'],
    ['SYNC_INTERVAL_MS', '1e3'],
    ['MAX_STALENESS_MS', '99'],
    ['MAX_STALENESS_MS', '600001'],
    ['MAX_STALENESS_MS', '1s'],
    ['DRAIN_MS', '600001'],
    ['DRAIN_MS', 'soon'],
    ['LAME_DUCK_MS', '600001'],
    ['LAME_DUCK_MS', '5s'],
  ];
  it.each(cases)('%s=%j', (name, value) => {
    // a token keeps a bad ADMIN_HOST from also raising the loopback rule
    const problems = problemsOf({ ...(name === 'ADMIN_HOST' ? { ADMIN_TOKEN: 't'.repeat(16) } : {}), [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
  });

  it('a bad token is not echoed in the message', () => {
    const [p] = problemsOf({ ADMIN_TOKEN: 'secret-ish tok' });
    expect(p).not.toContain('secret-ish');
  });

  it('reports every bad variable at once, each by name, in a fixed order', () => {
    const p = problemsOf({ GRPC_PORT: 'x', LOG_LEVEL: 'loud', REDIS_URL: 'memcached://h', SYNC_INTERVAL_MS: '1', ADMIN_TOKEN: 'short' });
    expect(p.map((s) => s.split(/[=:]/)[0])).toEqual(['ADMIN_TOKEN', 'REDIS_URL', 'LOG_LEVEL', 'GRPC_PORT', 'SYNC_INTERVAL_MS']);
  });

  it('reports every bad variable at once, in the error message too', () => {
    let err: unknown;
    try {
      loadConfig({ GRPC_PORT: 'x', LOG_LEVEL: 'loud', DRAIN_MS: 'soon' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.problems).toHaveLength(3);
    for (const n of ['GRPC_PORT', 'LOG_LEVEL', 'DRAIN_MS']) expect(e.message).toContain(n);
  });
});

describe('ADMIN_TOKEN on a non-loopback admin address', () => {
  it.each(['0.0.0.0', '10.1.2.3', '::', 'admin.internal'])('required when ADMIN_HOST=%s', (host) => {
    const problems = problemsOf({ ADMIN_HOST: host });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('ADMIN_TOKEN');
    expect(loadConfig({ ADMIN_HOST: host, ADMIN_TOKEN: 't'.repeat(24) }).adminTokens.map((t) => t.name)).toEqual(['admin']);
  });

  it('an empty ADMIN_TOKEN does not satisfy it', () => {
    expect(problemsOf({ ADMIN_HOST: '0.0.0.0', ADMIN_TOKEN: '' })[0]).toContain('ADMIN_TOKEN');
  });

  it.each(['127.0.0.1', '127.10.0.1', '::1', 'localhost'])('optional on loopback %s', (host) => {
    expect(loadConfig({ ADMIN_HOST: host }).adminTokens).toEqual([]);
    expect(isLoopback(host)).toBe(true);
  });
});

describe('ADMIN_TOKENS_FILE', () => {
  it('stands in for ADMIN_TOKEN on a non-loopback address; its tokens join ADMIN_TOKEN\'s, never in plaintext', () => {
    expect(problemsOf({ ADMIN_HOST: '0.0.0.0' }).join()).toMatch(/ADMIN_TOKEN: a token \(ADMIN_TOKEN or ADMIN_TOKENS_FILE\) is required/);
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-cfg-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify([{ name: 'ci', sha256: hashAdminToken('a-token-for-ci-0000'), scope: 'read-write' }]));
    expect(loadConfig({ ADMIN_HOST: '0.0.0.0', ADMIN_TOKENS_FILE: file }).adminTokens.map((t) => t.name)).toEqual(['ci']);
    const c = loadConfig({ ADMIN_HOST: '0.0.0.0', ADMIN_TOKENS_FILE: file, ADMIN_TOKEN: 'root-token-0123456789' });
    expect(c.adminTokens.map((t) => [t.name, t.scope])).toEqual([['admin', 'read-write'], ['ci', 'read-write']]);
    expect(JSON.stringify(c)).not.toContain('a-token-for-ci-0000');
  });

  it('is named with the fix when it is missing, empty or malformed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cauthz-cfg-'));
    expect(problemsOf({ ADMIN_TOKENS_FILE: join(dir, 'nope.json') }).join()).toMatch(/^ADMIN_TOKENS_FILE=.*cannot be read \(ENOENT\)/);
    writeFileSync(join(dir, 'empty.json'), '[]');
    expect(problemsOf({ ADMIN_TOKENS_FILE: join(dir, 'empty.json') }).join()).toMatch(/lists no token/);
    writeFileSync(join(dir, 'plain.json'), '[{"name":"ci","token":"x"}]');
    expect(problemsOf({ ADMIN_TOKENS_FILE: join(dir, 'plain.json') }).join()).toMatch(/ADMIN_TOKENS_FILE=.*plaintext "token"/);
  });
});

describe('REDIS_URL forms', () => {
  it('accepts the Sentinel and Cluster URL forms and explains a bad one', () => {
    expect(loadConfig({ REDIS_URL: 'redis-sentinel://s1:26379,s2:26379/mymaster' }).redisUrl).toContain('sentinel');
    expect(loadConfig({ REDIS_URL: 'rediss-cluster://n1:7000' }).redisUrl).toContain('cluster');
    expect(problemsOf({ REDIS_URL: 'redis-sentinel://s1:26379' }).join()).toMatch(/^REDIS_URL: .*primary's name/);
  });
});
