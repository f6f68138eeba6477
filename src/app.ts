/**
 * Composition root: picks the store, wires the replica, the authorizer, the
 * gRPC server and the admin API. The only module that constructs them.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Authorizer } from './authz/authorizer.js';
import type { Config } from './config/config.js';
import { ConsumerService } from './admin/consumer-service.js';
import { Auditor } from './admin/audit.js';
import { AdminServer } from './admin/http.js';
import { AdminTokens } from './admin/tokens.js';
import { GrpcServer } from './grpc/server.js';
import { createLogger } from './log.js';
import { CheckTelemetry } from './metrics/check-telemetry.js';
import { Metrics } from './metrics/registry.js';
import { instrumentStore } from './metrics/store-metrics.js';
import { ConsumerReplica } from './replica/consumer-replica.js';
import { FileStore } from './store/file-store.js';
import { Limiter } from './limits/limiter.js';
import { LocalCounters, type UsageCounters } from './store/usage-counters.js';
import { parseRedisUrl } from './store/redis-connection.js';
import { LAYOUT_VERSION, RedisStore } from './store/redis-store.js';
import { Replicator } from './replica/replicator.js';
import { Keyring } from './consumers/secret-seal.js';
import { SealedStore, type SealStatus } from './store/sealed-store.js';
import type { ConsumerStore } from './store/store.js';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** Clock in epoch ms (tests inject one). */
  now?: () => number;
  /** A ready-made store (tests); otherwise chosen from the config. */
  store?: ConsumerStore;
  /**
   * Verified-token cache entries (default 10000; 0 turns it off). Not an env
   * setting: the benchmark sets 0 to measure JWT verification itself.
   */
  tokenCacheSize?: number;
  /** How long tombstones stay in the store's change log (default 10 min; tests shorten it). */
  tombstoneRetentionMs?: number;
}

export interface Ports {
  grpc: number;
  admin: number;
}

/** The service cannot start for a reason the operator must fix (a port in use, …); the message is one line. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

const LISTEN_ERRORS: Record<string, (addr: string) => string> = {
  EADDRINUSE: (a) => `address ${a} is already in use; stop the other process or choose another port`,
  EACCES: (a) => `binding ${a} is not permitted (a port below 1024 needs privileges); choose a port from 1024 up`,
  EADDRNOTAVAIL: (a) => `address ${a} is not an address of this machine; use one of its addresses, 0.0.0.0 or 127.0.0.1`,
  ENOTFOUND: (a) => `the host of ${a} cannot be resolved; use an IP address or a resolvable host name`,
  EAI_AGAIN: (a) => `the host of ${a} cannot be resolved right now (DNS); use an IP address`,
};

/** A listen failure as one line naming the variable, e.g. `GRPC_PORT=9001: address 0.0.0.0:9001 is already in use; …`. */
function listenError(variable: string, host: string, port: number, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const code = e.code && LISTEN_ERRORS[e.code] ? e.code : /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN)\b/.exec(String(e.message))?.[1];
  const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const describe = code ? LISTEN_ERRORS[code] : undefined;
  if (!describe) return err as Error;
  const name = code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? variable.replace('_PORT', '_HOST') : variable;
  const value = name === variable ? String(port) : host;
  return new StartupError(`${name}=${value}: ${describe(addr)}`);
}

const hostPort = (h: string, p: number) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`);

/** Where the data lives: the data file's path, or the Redis URL without its user, password or query (which may hold the sentinels' password). */
function dataLocation(c: Config): string {
  return c.redisUrl ? c.redisUrl.replace(/\?.*$/s, '').replace(/\/\/.*@/s, '//') : resolve(c.dataFile);
}

export class App {
  readonly config: Config;
  readonly logger: Logger;
  readonly replica: ConsumerReplica;
  readonly store: ConsumerStore;
  readonly replicator: Replicator;
  readonly service: ConsumerService;
  readonly authorizer: Authorizer;
  /** Rate limits and quotas: leases of budget from the store's counters. */
  readonly limiter: Limiter;
  /** Where the counts behind limits live: Redis, or this instance's own (the file store). */
  readonly counters: UsageCounters;
  readonly metrics: Metrics;
  readonly telemetry: CheckTelemetry;
  readonly auditor: Auditor;
  readonly #sealed: SealedStore;
  /** The Redis store, whose layout this instance upgrades at start (the file store has no layouts). */
  readonly #redis: RedisStore | undefined;
  readonly #grpc: GrpcServer;
  readonly #admin: AdminServer;
  /** Why the store refuses writes (the file store's `fault`); undefined when it takes them. */
  readonly #storeFault: () => string | undefined;
  #draining = false;
  /** The start-up upgrade passes (settled when done; never rejects). */
  upkeep: Promise<void> = Promise.resolve();

  private constructor(opts: AppOptions, inner: ConsumerStore) {
    this.config = opts.config;
    this.replica = new ConsumerReplica({ maxStalenessMs: opts.config.maxStalenessMs });
    this.logger = opts.logger ?? createLogger(opts.config.logLevel);
    for (const w of opts.config.warnings) this.logger.warn(w);
    const keks = opts.config.secretsKeks;
    if (keks.length === 0) {
      this.logger.warn('no SECRETS_KEK or SECRETS_KEK_FILE: HS256 secrets of symmetric JWT consumers are stored unencrypted (see docs/operations.md#secrets-at-rest)');
    }
    // Seals HS256 secrets on their way into the store and opens them on the way out.
    const store = new SealedStore({ store: inner, keyring: keks.length > 0 ? new Keyring(keks) : undefined, logger: this.logger, now: opts.now });
    this.#sealed = store;
    this.telemetry = new CheckTelemetry({ logger: this.logger });
    this.metrics = new Metrics({
      checkStats: this.telemetry.stats,
      replica: this.replica,
      storeConnected: () => store.connected,
      storeKind: opts.config.redisUrl ? `redis-${parseRedisUrl(opts.config.redisUrl).kind}` : 'file',
      ready: () => this.readiness().ready,
      now: opts.now,
    });
    store.on('down', () => this.metrics.storeDown());
    this.#storeFault = inner instanceof FileStore ? () => inner.fault : () => undefined;
    this.#redis = inner instanceof RedisStore ? inner : undefined;
    this.store = instrumentStore(store, this.metrics.storeOp);
    this.replicator = new Replicator({
      store: this.store,
      replica: this.replica,
      logger: this.logger,
      pollMs: opts.config.syncIntervalMs,
      observer: this.metrics.sync,
      tombstoneRetentionMs: opts.tombstoneRetentionMs,
    });
    this.counters = inner instanceof RedisStore ? inner : inner instanceof FileStore ? inner.counters : new LocalCounters();
    this.limiter = new Limiter({ counters: this.counters, now: opts.now });
    this.authorizer = new Authorizer({
      replica: this.replica,
      now: opts.now,
      tokenCacheSize: opts.tokenCacheSize,
      routeMismatch: opts.config.routeMismatch,
      limiter: this.limiter,
    });
    this.service = new ConsumerService({ store: this.store, counters: this.counters, now: opts.now });
    this.auditor = new Auditor({ store: this.store, service: this.service, logger: this.logger, now: opts.now });
    const tls = opts.config.grpcTls;
    this.#grpc = new GrpcServer({
      authorizer: this.authorizer,
      logger: this.logger,
      telemetry: this.telemetry,
      tls: tls && { files: tls, reloadMs: opts.config.grpcTlsReloadMs, onReload: (r) => this.metrics.tlsReload(r) },
    });
    this.#admin = new AdminServer({
      service: this.service,
      logger: this.logger,
      tokens: new AdminTokens(opts.config.adminTokens),
      readiness: () => this.readiness(),
      metrics: () => this.metrics.render(),
      auditor: this.auditor,
    });
  }

  static async create(opts: AppOptions): Promise<App> {
    const c = opts.config;
    const logger = opts.logger ?? createLogger(c.logLevel);
    let store = opts.store;
    if (!store) {
      if (c.redisUrl) {
        const redis = new RedisStore({
          url: c.redisUrl,
          keyPrefix: c.redisKeyPrefix,
          tlsCa: c.redisTlsCa,
          // A silent link is noticed within the staleness bound.
          readTimeoutMs: Math.min(c.maxStalenessMs, 1000),
        });
        redis.connect();
        store = redis;
      } else {
        store = await FileStore.open({ path: c.dataFile, logger });
      }
    }
    return new App({ ...opts, logger }, store);
  }

  /**
   * Ready: the replica is warm, in step with the store and confirmed so within
   * MAX_STALENESS_MS (`fresh`), the store takes writes, and not draining.
   * `secrets` says which KEK seals, and how many consumers' secrets this
   * instance cannot open (sealed under a KEK it lacks: their tokens get 503)
   * or still awaits re-sealing. An unreadable secret does not make the
   * instance unready: every other consumer is still served.
   */
  readiness(): { ready: boolean; warm: boolean; storeConnected: boolean; fresh: boolean; storeFault?: string; consumers: number; draining: boolean; secrets: SealStatus } {
    const warm = this.replicator.warm;
    const storeConnected = this.store.connected;
    const fresh = this.replica.isFresh();
    const storeFault = this.#storeFault();
    return {
      ready: warm && fresh && this.replica.authoritative && !this.#draining && storeFault === undefined,
      warm,
      storeConnected,
      fresh,
      ...(storeFault === undefined ? {} : { storeFault }),
      consumers: this.replica.size,
      draining: this.#draining,
      secrets: this.#sealed.status(),
    };
  }

  /** Runs the re-seal pass now (tests; it also runs by itself when records need it). */
  reseal(): Promise<number> {
    return this.#sealed.reseal();
  }

  /**
   * Upgrade pass, once per start (idempotent; several instances may run it
   * at once): grants naming a consumer that no longer exists are dropped, so
   * a consumer created later under that name inherits none. Retried until the
   * store answers; each changed route is audited as actor `system`.
   */
  async #pruneGrants(): Promise<void> {
    for (let delay = 200; !this.#draining; delay = Math.min(delay * 2, 5000)) {
      try {
        const changed = await this.store.pruneDanglingGrants();
        const dropped = changed.reduce((n, c) => n + c.before.consumers.length - c.after.consumers.length, 0);
        if (dropped > 0) this.logger.warn({ dropped, routes: changed.map((c) => c.after.route) }, 'dropped route grants naming consumers that no longer exist');
        else this.logger.debug('no route grant names a missing consumer');
        for (const c of changed) {
          await this.auditor.recordRoute('system', 'route.consumer_removed', c.before, c.after).catch((err: unknown) => {
            this.logger.error({ err: String(err), target: `route:${c.after.route}` }, 'audit entry could not be written');
          });
        }
        return;
      } catch (err) {
        this.logger.debug({ err: String(err) }, 'grants upgrade pass waits for the store');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  /**
   * Layout upgrade, once per data set (see RedisStore.upgradeLayout): the
   * instance that takes the lock writes every consumer's check record; the
   * others ask again every second until the version is set, and take over
   * if the upgrader dies (its lock expires). Nobody waits for it: until it is
   * done, the replica reads full records where check records are missing.
   */
  async #upgradeLayout(): Promise<void> {
    const redis = this.#redis;
    if (!redis) return;
    let waiting = false;
    for (let delay = 200; !this.#draining; ) {
      try {
        const started = performance.now();
        let told = -1;
        const r = await redis.upgradeLayout({
          progress: (seen, written) => {
            if (told < 0) this.logger.info({ to: LAYOUT_VERSION }, "upgrading the store layout: writing each consumer's check record");
            else if (seen - told < 100_000) return;
            else this.logger.info({ seen, written }, 'store layout upgrade in progress');
            told = seen;
          },
        });
        if (r.state === 'upgraded') {
          this.logger[r.written > 0 ? 'info' : 'debug']({ to: LAYOUT_VERSION, written: r.written, ms: Math.round(performance.now() - started) }, 'store layout upgraded');
        }
        if (r.state !== 'busy') return;
        if (!waiting) this.logger.info('another instance is upgrading the store layout; this one reads full records meanwhile');
        waiting = true;
        await new Promise((res) => setTimeout(res, 1000).unref());
      } catch (err) {
        // An unreachable Redis is reported once by #watchRedisLink, not by every pass that needs it.
        this.logger[redis.connected ? 'warn' : 'debug']({ err: String(err) }, 'store layout upgrade interrupted; it is tried again');
        await new Promise((res) => setTimeout(res, delay).unref());
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /**
   * Says so while Redis cannot be reached: a warning naming the address and
   * the error once the link has been down for a second, repeated with a
   * back-off (2 s, 4 s, … up to a minute) while it lasts, and one line when
   * it is back. Until then unknown credentials get 503 and writes fail.
   */
  #watchRedisLink(): void {
    const redis = this.#redis;
    if (!redis) return;
    const where = dataLocation(this.config);
    let downSince: number | undefined;
    let nextWarnAt = 0;
    let warned = 0;
    const tick = () => {
      if (this.#draining) return;
      const now = performance.now();
      if (redis.connected) {
        if (warned > 0) this.logger.info({ redis: where, downMs: Math.round(now - (downSince ?? now)) }, `Redis at ${where} reachable again`);
        downSince = undefined;
        warned = 0;
      } else {
        downSince ??= now;
        if (now - downSince >= 1000 && now >= nextWarnAt) {
          const why = redis.linkError ?? 'no answer';
          this.logger.warn(
            { redis: where, err: why, downMs: Math.round(now - downSince) },
            `cannot reach Redis at ${where} (${why}): unknown credentials get 503 and admin writes fail until it answers; retrying (REDIS_URL)`,
          );
          nextWarnAt = now + Math.min(2000 * 2 ** warned, 60_000);
          warned++;
        }
      }
      setTimeout(tick, 250).unref();
    };
    tick();
  }

  /** Starts syncing and both servers; gRPC health turns SERVING once the replica is warm. */
  async start(): Promise<Ports> {
    this.replicator.start();
    this.#watchRedisLink();
    this.upkeep = Promise.all([this.#pruneGrants(), this.#upgradeLayout()]).then(() => undefined);
    const c = this.config;
    const grpc = await this.#grpc.listen(c.grpcHost, c.grpcPort).catch((err: unknown) => {
      throw listenError('GRPC_PORT', c.grpcHost, c.grpcPort, err);
    });
    const admin = await this.#admin.listen(c.adminHost, c.adminPort).catch((err: unknown) => {
      throw listenError('ADMIN_PORT', c.adminHost, c.adminPort, err);
    });
    void this.replicator.whenWarm().then(() => {
      if (!this.#draining) this.#grpc.setServing(true);
    });
    // Where things are, for the person who just started it: addresses, the console, the data.
    const data = dataLocation(c);
    const console = `http://${hostPort(c.adminHost, admin)}/`;
    this.logger.info(
      { grpc: hostPort(c.grpcHost, grpc), admin: hostPort(c.adminHost, admin), console, store: c.redisUrl ? 'redis' : 'file', data },
      `consumer-authz listening: gRPC ${hostPort(c.grpcHost, grpc)}, admin API and console ${console}, data in ${c.redisUrl ? 'Redis ' : ''}${data}`,
    );
    return { grpc, admin };
  }

  /**
   * Lame duck (after SIGTERM, before stop()): gRPC health NOT_SERVING and
   * /readyz 503 at once, so load balancers move traffic away, while Checks
   * are still answered as usual.
   */
  lameDuck(): void {
    this.#draining = true;
    this.#grpc.setServing(false);
  }

  /** Re-reads the gRPC port's TLS files now (SIGHUP); a changed good set is used for new connections. */
  reloadTls(): 'reloaded' | 'unchanged' | 'failed' {
    return this.#grpc.reloadTls();
  }

  /** Drains in-flight Checks, then closes everything. */
  async stop(): Promise<void> {
    this.#draining = true;
    await this.#grpc.drain(this.config.drainMs);
    this.replicator.stop();
    await this.#admin.close();
    // Unspent budget back to the shared counts before the link goes.
    await this.limiter.close();
    await this.store.close();
  }
}
