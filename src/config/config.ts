/**
 * Environment → validated, frozen Config. Every bad variable is reported at
 * once, each with its name and the fix. Defaults follow PRODUCT.md.
 */
import { createSecretKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { GrpcTlsError, loadGrpcTls, type GrpcTlsFiles } from './grpc-tls.js';
import { hashAdminToken, parseAdminTokens, type AdminTokenEntry } from './admin-tokens.js';
import { derivedKekId, KEK_BYTES, KEK_ID_RE, type Kek } from '../consumers/secret-seal.js';
import { parseRedisUrl, RedisUrlError } from '../store/redis-connection.js';

export interface Config {
  readonly grpcHost: string;
  readonly grpcPort: number;
  /** TLS (and with a client CA, mTLS) on the gRPC port; undefined: plain h2c. */
  readonly grpcTls: GrpcTlsFiles | undefined;
  /** How often the TLS files are re-read for a changed certificate (also on SIGHUP). */
  readonly grpcTlsReloadMs: number;
  readonly adminHost: string;
  readonly adminPort: number;
  /** Every admin token: ADMIN_TOKEN (as `admin`, read-write) and the entries of ADMIN_TOKENS_FILE. */
  readonly adminTokens: readonly AdminTokenEntry[];
  /** The tokens file, when one is configured. */
  readonly adminTokensFile: string | undefined;
  /** Redis URL; undefined selects the embedded file store. */
  readonly redisUrl: string | undefined;
  /** PEM of a private CA trusted for rediss URLs (REDIS_TLS_CA_FILE). */
  readonly redisTlsCa: string | undefined;
  readonly dataFile: string;
  readonly redisKeyPrefix: string;
  readonly logLevel: string;
  /** How often the cache polls the store for changes whose notification was lost. */
  readonly syncIntervalMs: number;
  /**
   * The staleness bound: an instance allows from its replica only while a
   * store round trip sent within this many ms confirmed it in step; past it,
   * what it would allow gets 503 and /readyz is 503.
   */
  readonly maxStalenessMs: number;
  /** How long SIGTERM waits for in-flight calls. */
  readonly drainMs: number;
  /** After SIGTERM: how long health reports NOT_SERVING while Checks are still served, before the drain. */
  readonly lameDuckMs: number;
  /** Processes serving the same ports (node:cluster); more than 1 needs REDIS_URL. */
  readonly workers: number;
  /**
   * ROUTE_MISMATCH: when a CheckRequest's context_extensions.route differs
   * from the route the match rules name, `extension` lets the extension win,
   * `deny` refuses it (403 route_mismatch).
   */
  readonly routeMismatch: 'extension' | 'deny';
  /**
   * Key-encryption keys for secrets at rest (SECRETS_KEK or SECRETS_KEK_FILE),
   * the primary (which seals) first; empty: secrets are stored unencrypted.
   */
  readonly secretsKeks: readonly Kek[];
  /** Problems that do not stop the service (e.g. a world-readable KEK file); logged at start. */
  readonly warnings: readonly string[];
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The variables, their defaults and meaning (README and `--help` list these). */
export const ENV_DOC: ReadonlyArray<readonly [string, string, string]> = [
  ['GRPC_HOST', '0.0.0.0', 'address of the ext_authz gRPC server (and grpc.health.v1)'],
  ['GRPC_PORT', '9001', 'port of the ext_authz gRPC server'],
  ['GRPC_TLS_CERT_FILE', '(none)', 'PEM certificate chain of the gRPC port; with GRPC_TLS_KEY_FILE it serves TLS (h2 ALPN only, TLS 1.2+) instead of plain h2c'],
  ['GRPC_TLS_KEY_FILE', '(none)', 'PEM private key (unencrypted) of GRPC_TLS_CERT_FILE'],
  ['GRPC_TLS_CLIENT_CA_FILE', '(none)', 'PEM CA for mTLS: a client without a certificate it signed is refused at the handshake; needs GRPC_TLS_CERT_FILE'],
  ['GRPC_TLS_RELOAD_MS', '10000', 'how often the three TLS files are re-read; a changed, valid set is used for new connections (SIGHUP re-reads at once)'],
  ['ADMIN_HOST', '127.0.0.1', 'address of the admin HTTP API, /healthz, /readyz and /metrics'],
  ['ADMIN_PORT', '9002', 'port of the admin HTTP API'],
  ['ADMIN_TOKEN', '(none)', 'read-write bearer token (named "admin") for the admin API; it or ADMIN_TOKENS_FILE is required when ADMIN_HOST is not loopback'],
  ['ADMIN_TOKENS_FILE', '(none)', 'JSON/YAML list of named admin tokens as SHA-256 digests: [{"name","sha256","scope":"read-only"|"read-write"}]'],
  ['REDIS_URL', '(none)', 'Redis store: redis[s]://[user:pass@]host:port[/db], redis[s]-sentinel://[user:pass@]h1:26379,h2:26379/primary[/db], redis[s]-cluster://[user:pass@]h1:6379,h2:6379; unset = embedded store in DATA_FILE'],
  ['REDIS_TLS_CA_FILE', '(none)', 'PEM file of a private CA to trust for TLS URLs (rediss, rediss-sentinel, rediss-cluster), besides the system CAs'],
  ['DATA_FILE', './data/consumers.json', 'embedded store file (used when REDIS_URL is unset)'],
  ['REDIS_KEY_PREFIX', 'cauthz:', 'namespace of this service\'s keys inside Redis'],
  ['LOG_LEVEL', 'info', `pino level: ${LEVELS.join(', ')}`],
  ['SYNC_INTERVAL_MS', '1000', 'bound on how late a change arrives when its notification is lost'],
  ['MAX_STALENESS_MS', '1000', 'staleness bound: allows only while the cache was confirmed in step with the store within this many ms (polled 4x as often); past it, 503 authz_unavailable and /readyz 503'],
  ['DRAIN_MS', '10000', 'how long SIGTERM waits for in-flight calls'],
  ['LAME_DUCK_MS', '5000', 'after SIGTERM: gRPC health NOT_SERVING and /readyz 503 at once, Checks still answered this long (so Envoy\'s health check moves traffic away), then the drain; 0 drains at once'],
  ['WORKERS', '1', 'processes serving the same ports (node:cluster) on multi-core machines; >1 needs REDIS_URL'],
  ['ROUTE_MISMATCH', 'extension', 'a CheckRequest whose context_extensions.route is not the route the match rules name: "extension" (it wins) or "deny" (403 route_mismatch)'],
  ['SECRETS_KEK', '(none)', 'key-encryption key for HS256 secrets at rest: 32 bytes, base64 (`openssl rand -base64 32`); its id is derived from its hash'],
  ['SECRETS_KEK_FILE', '(none)', 'file of KEKs, one `<id> <base64 32 bytes>` a line (# comments); the first seals, all open; for rotation. Set this or SECRETS_KEK'],
];

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const str = (name: string, dflt: string) => {
    const v = env[name];
    return v === undefined || v === '' ? dflt : v;
  };
  const port = (name: string, dflt: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
      problems.push(`${name}=${JSON.stringify(raw)}: must be a port number from 0 to 65535`);
      return dflt;
    }
    return Number(raw);
  };
  const int = (name: string, dflt: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: must be an integer from ${min} to ${max}`);
      return dflt;
    }
    return Number(raw);
  };
  const host = (name: string, dflt: string) => {
    const v = str(name, dflt);
    if (isIP(v) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(v)) problems.push(`${name}=${JSON.stringify(v)}: must be an IP address or host name`);
    return v;
  };

  const adminHost = host('ADMIN_HOST', '127.0.0.1');
  const adminToken = env.ADMIN_TOKEN === '' ? undefined : env.ADMIN_TOKEN;
  if (adminToken !== undefined && (adminToken.length < 16 || /\s/.test(adminToken))) {
    problems.push('ADMIN_TOKEN: must be at least 16 characters without whitespace (e.g. `openssl rand -hex 24`)');
  }
  const adminTokensFile = env.ADMIN_TOKENS_FILE === '' ? undefined : env.ADMIN_TOKENS_FILE;
  const adminTokens: AdminTokenEntry[] = [];
  if (adminToken !== undefined) adminTokens.push({ name: 'admin', sha256: hashAdminToken(adminToken), scope: 'read-write' });
  if (adminTokensFile !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(adminTokensFile, 'utf8');
    } catch (err) {
      problems.push(`ADMIN_TOKENS_FILE=${JSON.stringify(adminTokensFile)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); fix the path or its permissions`);
    }
    if (text !== undefined) {
      try {
        const entries = parseAdminTokens(text);
        if (entries.length === 0) problems.push(`ADMIN_TOKENS_FILE=${JSON.stringify(adminTokensFile)}: lists no token; add one or unset the variable`);
        adminTokens.push(...entries);
      } catch (err) {
        problems.push(`ADMIN_TOKENS_FILE=${JSON.stringify(adminTokensFile)}: ${(err as Error).message}`);
      }
    }
  }
  if (adminTokens.length === 0 && adminTokensFile === undefined && !isLoopback(adminHost)) {
    problems.push(`ADMIN_TOKEN: a token (ADMIN_TOKEN or ADMIN_TOKENS_FILE) is required when ADMIN_HOST (${adminHost}) is not a loopback address; set one, or bind ADMIN_HOST=127.0.0.1`);
  }
  const redisUrl = env.REDIS_URL === '' ? undefined : env.REDIS_URL;
  let redisTls = false;
  if (redisUrl !== undefined) {
    try {
      redisTls = parseRedisUrl(redisUrl).tls;
    } catch (err) {
      if (!(err instanceof RedisUrlError)) throw err;
      problems.push(`REDIS_URL: ${err.message}`);
    }
  }
  const caFile = env.REDIS_TLS_CA_FILE === '' ? undefined : env.REDIS_TLS_CA_FILE;
  let redisTlsCa: string | undefined;
  if (caFile !== undefined) {
    try {
      redisTlsCa = readFileSync(caFile, 'utf8');
      if (!redisTlsCa.includes('-----BEGIN CERTIFICATE-----')) {
        problems.push(`REDIS_TLS_CA_FILE=${JSON.stringify(caFile)}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
      }
    } catch (err) {
      problems.push(`REDIS_TLS_CA_FILE=${JSON.stringify(caFile)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); fix the path or its permissions`);
    }
    if (redisUrl !== undefined && !redisTls) {
      problems.push('REDIS_TLS_CA_FILE: is set but REDIS_URL does not use TLS; use rediss://, rediss-sentinel:// or rediss-cluster://, or unset it');
    }
  }
  const grpcTls = loadGrpcTlsConfig(env, problems);
  const logLevel = str('LOG_LEVEL', 'info');
  const routeMismatch = str('ROUTE_MISMATCH', 'extension');
  if (routeMismatch !== 'extension' && routeMismatch !== 'deny') {
    problems.push(`ROUTE_MISMATCH=${routeMismatch}: must be "extension" (context_extensions.route wins) or "deny" (a disagreement with the match rules is refused)`);
  }
  if (!LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)}: must be one of ${LEVELS.join(', ')}`);
  const redisKeyPrefix = str('REDIS_KEY_PREFIX', 'cauthz:');
  if (!/^[\x21-\x7e]{1,64}$/.test(redisKeyPrefix)) problems.push('REDIS_KEY_PREFIX: must be 1-64 printable characters without spaces');

  const warnings: string[] = [];
  const secretsKeks = loadKeks(env, problems, warnings);

  const config: Config = {
    grpcHost: host('GRPC_HOST', '0.0.0.0'),
    grpcPort: port('GRPC_PORT', 9001),
    grpcTls,
    grpcTlsReloadMs: int('GRPC_TLS_RELOAD_MS', 10_000, 100, 3_600_000),
    adminHost,
    adminPort: port('ADMIN_PORT', 9002),
    adminTokens: Object.freeze(adminTokens),
    adminTokensFile,
    redisUrl,
    redisTlsCa,
    dataFile: str('DATA_FILE', './data/consumers.json'),
    redisKeyPrefix,
    logLevel,
    syncIntervalMs: int('SYNC_INTERVAL_MS', 1000, 50, 60_000),
    maxStalenessMs: int('MAX_STALENESS_MS', 1000, 100, 600_000),
    drainMs: int('DRAIN_MS', 10_000, 0, 600_000),
    lameDuckMs: int('LAME_DUCK_MS', 5_000, 0, 600_000),
    workers: int('WORKERS', 1, 1, 64),
    routeMismatch: routeMismatch === 'deny' ? 'deny' : 'extension',
    secretsKeks: Object.freeze(secretsKeks),
    warnings: Object.freeze(warnings),
  };
  if (config.workers > 1 && redisUrl === undefined) {
    problems.push(`WORKERS=${config.workers}: several processes cannot share the embedded store file; set REDIS_URL or WORKERS=1`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** GRPC_TLS_* → the files (read and checked once here), or undefined for plain h2c. */
function loadGrpcTlsConfig(env: Record<string, string | undefined>, problems: string[]): GrpcTlsFiles | undefined {
  const v = (name: string) => (env[name] === '' ? undefined : env[name]);
  const certFile = v('GRPC_TLS_CERT_FILE');
  const keyFile = v('GRPC_TLS_KEY_FILE');
  const clientCaFile = v('GRPC_TLS_CLIENT_CA_FILE');
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) problems.push('GRPC_TLS_CLIENT_CA_FILE: mTLS needs the server\'s own certificate; set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE too, or unset it');
    return undefined;
  }
  if (certFile === undefined) {
    problems.push('GRPC_TLS_KEY_FILE: is set without GRPC_TLS_CERT_FILE; set both (the certificate and its key), or neither for plain h2c');
    return undefined;
  }
  if (keyFile === undefined) {
    problems.push('GRPC_TLS_CERT_FILE: is set without GRPC_TLS_KEY_FILE; set both (the certificate and its key), or neither for plain h2c');
    return undefined;
  }
  const files: GrpcTlsFiles = Object.freeze({ certFile, keyFile, clientCaFile });
  try {
    loadGrpcTls(files);
  } catch (err) {
    if (!(err instanceof GrpcTlsError)) throw err;
    problems.push(err.message);
  }
  return files;
}

/** A KEK from its base64 text (standard or url alphabet); undefined unless exactly 32 bytes, canonical. */
function kekBytes(text: string): Buffer | undefined {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return undefined;
  const url = t.includes('-') || t.includes('_');
  const b = Buffer.from(t, url ? 'base64url' : 'base64');
  if (b.length !== KEK_BYTES) return undefined;
  const again = b.toString(url ? 'base64url' : 'base64');
  return again.replace(/=+$/, '') === t.replace(/=+$/, '') ? b : undefined;
}

/** SECRETS_KEK / SECRETS_KEK_FILE → KEKs, primary first. Never puts key text in a problem. */
function loadKeks(env: Record<string, string | undefined>, problems: string[], warnings: string[]): Kek[] {
  const single = env.SECRETS_KEK === '' ? undefined : env.SECRETS_KEK;
  const file = env.SECRETS_KEK_FILE === '' ? undefined : env.SECRETS_KEK_FILE;
  if (single !== undefined && file !== undefined) {
    problems.push('SECRETS_KEK and SECRETS_KEK_FILE: set one, not both (to rotate, list every KEK in SECRETS_KEK_FILE)');
    return [];
  }
  if (single !== undefined) {
    const b = kekBytes(single);
    if (!b) {
      problems.push(`SECRETS_KEK: must be ${KEK_BYTES} bytes in base64 (make one with \`openssl rand -base64 32\`)`);
      return [];
    }
    const key = createSecretKey(b);
    return [Object.freeze({ id: derivedKekId(key), key })];
  }
  if (file === undefined) return [];
  const where = `SECRETS_KEK_FILE=${JSON.stringify(file)}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
    if ((statSync(file).mode & 0o004) !== 0) warnings.push(`${where}: is readable by every user of the machine; restrict it (chmod 600)`);
  } catch (err) {
    problems.push(`${where}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); fix the path or its permissions`);
    return [];
  }
  const keks: Kek[] = [];
  const seen = new Set<string>();
  const material = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `${where} line ${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) {
      problems.push(`${at}: must be \`<id> <base64 key>\``);
      return;
    }
    const [id, keyText] = parts as [string, string];
    if (!KEK_ID_RE.test(id)) {
      problems.push(`${at}: id ${JSON.stringify(id.slice(0, 70))} must be 1-64 characters of A-Z a-z 0-9 _ -`);
      return;
    }
    if (seen.has(id)) {
      problems.push(`${at}: duplicate id "${id}"`);
      return;
    }
    const b = kekBytes(keyText);
    if (!b) {
      problems.push(`${at}: the key of "${id}" must be ${KEK_BYTES} bytes in base64 (\`openssl rand -base64 32\`)`);
      return;
    }
    const hex = b.toString('hex');
    if (material.has(hex)) {
      problems.push(`${at}: the key of "${id}" is the same as an earlier one; each id needs its own key`);
      return;
    }
    seen.add(id);
    material.add(hex);
    keks.push(Object.freeze({ id, key: createSecretKey(b) }));
  });
  if (keks.length === 0 && !problems.some((p) => p.startsWith(where))) problems.push(`${where}: lists no key; add \`<id> <base64 key>\` or unset it`);
  return keks;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
