/**
 * Composition root: picks the store, wires the replica, the authorizer, the
 * gRPC server and the admin API. The only module that constructs them.
 */
import type { Logger } from 'pino';
import { Authorizer } from './authz/authorizer.js';
import type { Config } from './config.js';
import { ConsumerService } from './consumers/service.js';
import { Auditor } from './admin/audit.js';
import { AdminServer } from './admin/http.js';
import { AdminTokens } from './admin/tokens.js';
import { GrpcServer } from './grpc/server.js';
import { createLogger } from './log.js';
import { CheckTelemetry } from './metrics/check-telemetry.js';
import { Metrics } from './metrics/registry.js';
import { instrumentStore } from './metrics/store-metrics.js';
import { Directory } from './store/directory.js';
import { FileStore } from './store/file-store.js';
import { parseRedisUrl } from './store/redis-connection.js';
import { RedisStore } from './store/redis-store.js';
import { Replicator } from './store/replicator.js';
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
}

export interface Ports {
  grpc: number;
  admin: number;
}

export class App {
  readonly config: Config;
  readonly logger: Logger;
  readonly directory = new Directory();
  readonly store: ConsumerStore;
  readonly replicator: Replicator;
  readonly service: ConsumerService;
  readonly authorizer: Authorizer;
  readonly metrics: Metrics;
  readonly telemetry: CheckTelemetry;
  readonly auditor: Auditor;
  readonly #sealed: SealedStore;
  readonly #grpc: GrpcServer;
  readonly #admin: AdminServer;
  #draining = false;
  /** The start-up upgrade passes (settled when done; never rejects). */
  upkeep: Promise<void> = Promise.resolve();

  private constructor(opts: AppOptions, inner: ConsumerStore) {
    this.config = opts.config;
    this.logger = opts.logger ?? createLogger(opts.config.logLevel);
    for (const w of opts.config.warnings) this.logger.warn(w);
    const keks = opts.config.secretsKeks;
    if (keks.length === 0) {
      this.logger.warn('no SECRETS_KEK or SECRETS_KEK_FILE: HS256 secrets of symmetric JWT consumers are stored unencrypted (see "Secrets at rest" in the README)');
    }
    // Seals HS256 secrets on their way into the store and opens them on the way out.
    const store = new SealedStore({ store: inner, keyring: keks.length > 0 ? new Keyring(keks) : undefined, logger: this.logger, now: opts.now });
    this.#sealed = store;
    this.telemetry = new CheckTelemetry({ logger: this.logger });
    this.metrics = new Metrics({
      checkStats: this.telemetry.stats,
      directory: this.directory,
      storeConnected: () => store.connected,
      storeKind: opts.config.redisUrl ? `redis-${parseRedisUrl(opts.config.redisUrl).kind}` : 'file',
      ready: () => this.readiness().ready,
      now: opts.now,
    });
    store.on('down', () => this.metrics.storeDown());
    this.store = instrumentStore(store, this.metrics.storeOp);
    this.replicator = new Replicator({
      store: this.store,
      directory: this.directory,
      logger: this.logger,
      pollMs: opts.config.syncIntervalMs,
      observer: this.metrics.sync,
    });
    this.authorizer = new Authorizer({ directory: this.directory, now: opts.now, tokenCacheSize: opts.tokenCacheSize });
    this.service = new ConsumerService({ store: this.store, now: opts.now });
    this.auditor = new Auditor({ store: this.store, service: this.service, logger: this.logger, now: opts.now });
    this.#grpc = new GrpcServer({ authorizer: this.authorizer, logger: this.logger, telemetry: this.telemetry });
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
    let store = opts.store;
    if (!store) {
      if (c.redisUrl) {
        const redis = new RedisStore({ url: c.redisUrl, keyPrefix: c.redisKeyPrefix, tlsCa: c.redisTlsCa });
        redis.connect();
        store = redis;
      } else {
        store = await FileStore.open({ path: c.dataFile });
      }
    }
    return new App(opts, store);
  }

  /** Ready: the replica is warm and in step with the store, and not draining. */
  /**
   * `secrets` says which KEK seals, and how many consumers' secrets this
   * instance cannot open (sealed under a KEK it lacks: their tokens get 503)
   * or still awaits re-sealing. An unreadable secret does not make the
   * instance unready: every other consumer is still served.
   */
  readiness(): { ready: boolean; warm: boolean; storeConnected: boolean; consumers: number; draining: boolean; secrets: SealStatus } {
    const warm = this.replicator.warm;
    const storeConnected = this.store.connected;
    return {
      ready: warm && this.directory.authoritative && !this.#draining,
      warm,
      storeConnected,
      consumers: this.directory.size,
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

  /** Starts syncing and both servers; gRPC health turns SERVING once the replica is warm. */
  async start(): Promise<Ports> {
    this.replicator.start();
    this.upkeep = this.#pruneGrants();
    const grpc = await this.#grpc.listen(this.config.grpcHost, this.config.grpcPort);
    const admin = await this.#admin.listen(this.config.adminHost, this.config.adminPort);
    void this.replicator.whenWarm().then(() => {
      if (!this.#draining) this.#grpc.setServing(true);
    });
    this.logger.info(
      { grpc: `${this.config.grpcHost}:${grpc}`, admin: `${this.config.adminHost}:${admin}`, store: this.config.redisUrl ? 'redis' : 'file' },
      'consumer-authz listening',
    );
    return { grpc, admin };
  }

  /** Drains in-flight Checks, then closes everything. */
  async stop(): Promise<void> {
    this.#draining = true;
    await this.#grpc.drain(this.config.drainMs);
    this.replicator.stop();
    await this.#admin.close();
    await this.store.close();
  }
}
