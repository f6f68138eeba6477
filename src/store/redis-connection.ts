/**
 * REDIS_URL → an ioredis client for one of three deployments:
 *
 *   redis://[user:pass@]host:6379[/db]                         standalone
 *   rediss://…                                                 standalone over TLS
 *   redis-sentinel://[user:pass@]h1:26379,h2:26379/mymaster[/db][?sentinelUsername=&sentinelPassword=]
 *   rediss-sentinel://…                                        TLS to the sentinels and to the data nodes
 *   redis-cluster://[user:pass@]h1:6379,h2:6379                Redis Cluster (any reachable seed nodes)
 *   rediss-cluster://…                                         Redis Cluster over TLS
 *
 * `user:pass` (percent-encoded) are the ACL credentials of the data nodes; a
 * sentinel with its own ACL gets them from the query string. Host lists are
 * comma-separated; an IPv6 address goes in brackets.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'standalone'; url: string; tls: boolean }
  | {
      kind: 'sentinel';
      tls: boolean;
      sentinels: HostPort[];
      /** The monitored primary's name (`sentinel monitor <name> …`). */
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
    }
  | { kind: 'cluster'; tls: boolean; nodes: HostPort[]; username?: string; password?: string };

/** REDIS_URL is malformed; the message says what is wrong (never echoes a password). */
export class RedisUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

const URL_RE = /^(rediss?)(?:-(sentinel|cluster))?:\/\/(?:([^@/]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/;

/** Parses REDIS_URL. Throws RedisUrlError. */
export function parseRedisUrl(url: string): RedisTarget {
  const m = URL_RE.exec(url);
  if (!m) {
    throw new RedisUrlError(
      'must be redis://host:6379, rediss://user:pass@host:6380/0, redis-sentinel://h1:26379,h2:26379/mymaster or redis-cluster://h1:6379,h2:6379',
    );
  }
  const [, scheme, mode, userinfo, hostlist = '', path = '', query = ''] = m;
  const tls = scheme === 'rediss';
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name') || undefined;
    password = colon < 0 ? undefined : decode(userinfo.slice(colon + 1), 'password') || undefined;
  }
  if (!mode) {
    const host = parseHosts(hostlist, 6379);
    if (host.length !== 1) throw new RedisUrlError('a standalone URL names one host; use redis-sentinel:// or redis-cluster:// for several');
    if (path !== '' && !/^\d{1,2}$/.test(path)) throw new RedisUrlError('the path must be a database number, e.g. /0');
    return { kind: 'standalone', url, tls };
  }
  const params = new URLSearchParams(query);
  if (mode === 'cluster') {
    if (path !== '') throw new RedisUrlError('a cluster URL has no path: Redis Cluster has only database 0');
    return { kind: 'cluster', tls, nodes: parseHosts(hostlist, 6379), ...creds(username, password) };
  }
  const [name = '', db = '0', ...extra] = path.split('/');
  if (!/^[\w.-]{1,128}$/.test(name)) throw new RedisUrlError('a sentinel URL ends with the primary\'s name: redis-sentinel://h1:26379,h2:26379/mymaster');
  if (!/^\d{1,2}$/.test(db) || extra.length > 0) throw new RedisUrlError('after the primary\'s name only a database number may follow, e.g. /mymaster/0');
  for (const k of params.keys()) {
    if (k !== 'sentinelUsername' && k !== 'sentinelPassword') throw new RedisUrlError(`unknown query parameter "${k}" (known: sentinelUsername, sentinelPassword)`);
  }
  return {
    kind: 'sentinel',
    tls,
    sentinels: parseHosts(hostlist, 26379),
    name,
    db: Number(db),
    ...creds(username, password),
    ...(params.get('sentinelUsername') ? { sentinelUsername: params.get('sentinelUsername') as string } : {}),
    ...(params.get('sentinelPassword') ? { sentinelPassword: params.get('sentinelPassword') as string } : {}),
  };
}

function creds(username: string | undefined, password: string | undefined): { username?: string; password?: string } {
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RedisUrlError(`the ${what} is not valid percent-encoding`);
  }
}

function parseHosts(list: string, defaultPort: number): HostPort[] {
  if (list === '') throw new RedisUrlError('names no host');
  return list.split(',').map((item) => {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+))(?::(\d{1,5}))?$/.exec(item);
    if (!m) throw new RedisUrlError(`"${item}" is not host or host:port`);
    const port = m[3] === undefined ? defaultPort : Number(m[3]);
    if (port < 1 || port > 65535) throw new RedisUrlError(`"${item}": the port must be from 1 to 65535`);
    return { host: (m[1] ?? m[2]) as string, port };
  });
}

/**
 * The key prefix a deployment needs. In Cluster mode every key one Lua script
 * touches must live in one hash slot, so the prefix is made a hash tag:
 * `cauthz:` becomes `{cauthz}:`. A prefix that already holds a `{…}` tag is
 * kept as it is. Elsewhere the prefix is unchanged.
 */
export function effectiveKeyPrefix(target: RedisTarget, prefix: string): string {
  if (target.kind !== 'cluster' || /\{[^}]+\}/.test(prefix)) return prefix;
  const stem = prefix.endsWith(':') ? prefix.slice(0, -1) : prefix;
  return `{${stem}}:`;
}

/** TLS settings beyond the scheme: a private CA (PEM) to trust besides the system's. */
export interface RedisTls {
  ca?: string;
}

/** What RedisStore needs of a client; both `Redis` and `Cluster` provide it. */
export type RedisClient = Redis;

/**
 * Makes a client for the target. `base` holds the per-connection behaviour
 * (no offline queue, retry delays, timeouts); the target adds addresses,
 * credentials and TLS.
 */
export function createRedisClient(target: RedisTarget, base: RedisOptions, tlsOptions: RedisTls = {}): RedisClient {
  const tlsConfig = tlsOptions.ca ? { ca: tlsOptions.ca } : {};
  switch (target.kind) {
    case 'standalone':
      // ioredis turns rediss:// into `tls: true` only when no tls option is given.
      return new Redis(target.url, target.tls ? { ...base, tls: tlsConfig } : base);
    case 'sentinel': {
      const tls = target.tls ? { tls: tlsConfig, sentinelTLS: tlsConfig, enableTLSForSentinelMode: true } : {};
      return new Redis({
        ...base,
        ...tls,
        sentinels: target.sentinels,
        name: target.name,
        role: 'master',
        db: target.db,
        ...(target.username ? { username: target.username } : {}),
        ...(target.password ? { password: target.password } : {}),
        ...(target.sentinelUsername ? { sentinelUsername: target.sentinelUsername } : {}),
        ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
        // Reconnect to whichever node the sentinels name as primary. No
        // failoverDetector: in ioredis 5.11 its +switch-master handling could
        // leave a client that was still connecting in status "end" (never
        // redialled; seen here in about 1 of 5 failovers); the 250 ms poll,
        // the socket timeout and READONLY below notice a failover as fast.
        failoverDetector: false,
        sentinelRetryStrategy: base.retryStrategy ?? undefined,
        // A demoted primary answers writes with READONLY: drop it and ask the sentinels again.
        reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
      });
    }
    case 'cluster': {
      const { retryStrategy, enableOfflineQueue, ...perNode } = base;
      const opts: ClusterOptions = {
        enableOfflineQueue: enableOfflineQueue ?? false,
        lazyConnect: base.lazyConnect ?? false,
        clusterRetryStrategy: retryStrategy ?? undefined,
        scaleReads: 'master',
        slotsRefreshTimeout: 2000,
        redisOptions: {
          ...perNode,
          ...(target.tls ? { tls: tlsConfig } : {}),
          ...(target.username ? { username: target.username } : {}),
          ...(target.password ? { password: target.password } : {}),
        },
      };
      // Cluster and Redis share the command API this service uses.
      return new Cluster(target.nodes, opts) as unknown as RedisClient;
    }
  }
}
