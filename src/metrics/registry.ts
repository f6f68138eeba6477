/**
 * The service's Prometheus metrics (prom-client), one Registry per App.
 * Hot-path numbers live in plain counters (CheckStats, ConsumerReplica.stats) and
 * are copied into prom-client only when /metrics is scraped (`collect()`);
 * store operations and sync events are rare and observed directly.
 *
 * Every label is bounded: outcome/reason codes, auth types, store operation
 * names. No consumer name, route or path is ever a label.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ConsumerReplica } from '../replica/consumer-replica.js';
import type { ReloadReason, SyncObserver } from '../replica/replicator.js';
import type { CheckRecord } from '../consumers/check-record.js';
import type { ChangeSet } from '../store/store.js';
import { AUTH_TYPES, LATENCY_BUCKETS_S, OUTCOMES, type CheckStats } from './check-stats.js';
import type { StoreOpObserver } from './store-metrics.js';

export interface MetricsOptions {
  checkStats: CheckStats;
  replica: ConsumerReplica;
  /** Whether the store can be reached now. */
  storeConnected: () => boolean;
  /** Kind of store: `file`, `redis`, `redis-sentinel`, `redis-cluster`. */
  storeKind: string;
  ready: () => boolean;
  /** Clock in epoch ms for the invalidation lag. */
  now?: () => number;
  /** Adds Node.js process metrics (default true). */
  processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #storeOps: Counter<'op' | 'result'>;
  readonly #storeSeconds: Histogram<'op'>;
  readonly #lag: Histogram;
  readonly #syncs: Counter<'result'>;
  readonly #reloads: Counter<'reason'>;
  readonly #revision: Gauge;
  readonly #disconnects: Counter;
  readonly #tlsReloads: Counter<'result'>;
  readonly #now: () => number;

  constructor(opts: MetricsOptions) {
    const registers = [this.registry];
    const stats = opts.checkStats;
    const dir = opts.replica;
    this.#now = opts.now ?? Date.now;
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'cauthz_' });

    new Counter({
      name: 'cauthz_check_decisions_total',
      help: 'Check answers by result (allow/deny), reason (ok or the denial code) and auth type of the consumer (none when unidentified).',
      labelNames: ['result', 'reason', 'auth_type'] as const,
      registers,
      collect() {
        this.reset();
        OUTCOMES.forEach((reason, o) => {
          AUTH_TYPES.forEach((authType, t) => {
            const value = stats.decisions[o * AUTH_TYPES.length + t] as number;
            this.inc({ result: o === 0 ? 'allow' : 'deny', reason, auth_type: authType }, value);
          });
        });
      },
    });
    this.registry.registerMetric(
      new ArrayHistogram(
        'cauthz_check_duration_seconds',
        'Time from receiving a decoded Check to handing its answer to gRPC.',
        LATENCY_BUCKETS_S,
        () => ({ counts: stats.latencyBuckets, sum: stats.latencySumNs / 1e9, count: stats.latencyCount }),
      ),
    );

    new Gauge({
      name: 'cauthz_cache_consumers',
      help: 'Consumers held in the in-process cache (a full replica of the store).',
      registers,
      collect() {
        this.set(dir.size);
      },
    });
    const counterOf = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    counterOf('cauthz_cache_hits_total', 'Credential lookups found in the cache.', () => dir.stats.hits);
    counterOf('cauthz_cache_misses_total', 'Credential lookups not found in the cache (unknown credentials).', () => dir.stats.misses);
    counterOf('cauthz_cache_evictions_total', 'Cache entries dropped or replaced (consumer changed, deleted, or the data set reloaded).', () => dir.stats.evictions);
    new Gauge({
      name: 'cauthz_cache_authoritative',
      help: '1 while the cache is warm, in step with the store and confirmed so within MAX_STALENESS_MS (a miss is a definite "unknown"); 0 otherwise (what it would allow gets 503).',
      registers,
      collect() {
        this.set(dir.authoritative ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cauthz_cache_staleness_seconds',
      help: 'Time since the request of the last store round trip that confirmed the cache in step was sent; past MAX_STALENESS_MS allows get 503 (-1 before the first).',
      registers,
      collect() {
        const ms = dir.stalenessMs();
        this.set(Number.isFinite(ms) ? ms / 1000 : -1);
      },
    });

    this.#storeOps = new Counter({
      name: 'cauthz_store_operations_total',
      help: 'Store operations by name and result (ok, conflict, unavailable, error).',
      labelNames: ['op', 'result'] as const,
      registers,
    });
    this.#storeSeconds = new Histogram({
      name: 'cauthz_store_operation_duration_seconds',
      help: 'Duration of store operations.',
      labelNames: ['op'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registers,
    });
    const kind = opts.storeKind;
    new Gauge({
      name: 'cauthz_store_connected',
      help: '1 while the store (Redis) can be reached; the label names the deployment kind.',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        this.set({ kind }, opts.storeConnected() ? 1 : 0);
      },
    });
    this.#disconnects = new Counter({ name: 'cauthz_store_disconnects_total', help: 'Times the store connection was lost.', registers });

    this.#syncs = new Counter({
      name: 'cauthz_sync_total',
      help: 'Catch-up passes of the cache against the store change log, by result.',
      labelNames: ['result'] as const,
      registers,
    });
    this.#syncs.inc({ result: 'ok' }, 0);
    this.#syncs.inc({ result: 'error' }, 0);
    this.#reloads = new Counter({
      name: 'cauthz_sync_reloads_total',
      help: 'Full reloads of the cache, by reason: epoch (data set replaced), diverged (store history moved backwards), truncated (change log pruned past the cache).',
      labelNames: ['reason'] as const,
      registers,
    });
    for (const reason of ['epoch', 'diverged', 'truncated'] as const) this.#reloads.inc({ reason }, 0);
    this.#tlsReloads = new Counter({
      name: 'cauthz_grpc_tls_reloads_total',
      help: 'Changed gRPC TLS files seen: reloaded (new connections use them) or failed (the current certificate kept).',
      labelNames: ['result'] as const,
      registers,
    });
    this.#revision = new Gauge({ name: 'cauthz_sync_revision', help: 'Last store revision applied to the cache.', registers });
    this.#lag = new Histogram({
      name: 'cauthz_invalidation_lag_seconds',
      help: 'Time from a consumer or route write (its updatedAt) to its application in this instance\'s cache; deletions are not measured.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: 'cauthz_ready',
      help: '1 when /readyz answers 200 (cache warm, in step with the store, not draining).',
      registers,
      collect() {
        this.set(opts.ready() ? 1 : 0);
      },
    });
  }

  /** Counts a reload of the gRPC port's TLS files (see grpc/tls-reloader.ts). */
  tlsReload(result: 'reloaded' | 'failed'): void {
    this.#tlsReloads.inc({ result });
  }

  /** Feeds store operation counters (see instrumentStore). */
  readonly storeOp: StoreOpObserver = (op, result, seconds) => {
    this.#storeOps.inc({ op, result });
    this.#storeSeconds.observe({ op }, seconds);
  };

  /** Counts a lost store connection. */
  storeDown(): void {
    this.#disconnects.inc();
  }

  /** Feeds sync counters and the invalidation lag (see Replicator). */
  readonly sync: SyncObserver = {
    applied: (changes: ChangeSet<CheckRecord>, full: boolean) => {
      this.#syncs.inc({ result: 'ok' });
      this.#revision.set(changes.rev);
      if (full) return; // a load of everything says nothing about propagation delay
      const now = this.#now();
      const observe = (at: number) => {
        if (Number.isFinite(at) && at > 0) this.#lag.observe(Math.max(0, now - at) / 1000);
      };
      for (const c of changes.consumers.values()) if (c) observe(c[5]);
      for (const rec of changes.routes.values()) if (rec) observe(Date.parse(rec.updatedAt));
    },
    failed: () => this.#syncs.inc({ result: 'error' }),
    reloaded: (reason: ReloadReason = 'epoch') => this.#reloads.inc({ reason }),
  };

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/**
 * A histogram whose buckets are counted elsewhere (a Float64Array of
 * non-cumulative counts, the last slot +Inf) and read at scrape time.
 */
class ArrayHistogram extends Histogram {
  readonly #read: () => { counts: Float64Array; sum: number; count: number };
  readonly #bounds: readonly number[];
  readonly #name: string;
  readonly #help: string;

  constructor(name: string, help: string, bounds: readonly number[], read: () => { counts: Float64Array; sum: number; count: number }) {
    super({ name, help, buckets: [...bounds], registers: [] });
    this.#name = name;
    this.#help = help;
    this.#bounds = bounds;
    this.#read = read;
  }

  /** The registry renders histograms through this method. */
  async getForPromString(): Promise<Awaited<ReturnType<Histogram['get']>>> {
    return this.get();
  }

  override async get(): Promise<Awaited<ReturnType<Histogram['get']>>> {
    const { counts, sum, count } = this.#read();
    const values: Awaited<ReturnType<Histogram['get']>>['values'] = [];
    let cumulative = 0;
    this.#bounds.forEach((le, i) => {
      cumulative += counts[i] as number;
      values.push({ labels: { le }, value: cumulative, metricName: `${this.#name}_bucket` });
    });
    values.push({ labels: { le: '+Inf' }, value: count, metricName: `${this.#name}_bucket` });
    values.push({ labels: {}, value: sum, metricName: `${this.#name}_sum` });
    values.push({ labels: {}, value: count, metricName: `${this.#name}_count` });
    // MetricType is a declared enum whose values are these strings.
    return { name: this.#name, help: this.#help, type: 'histogram' as never, values, aggregator: 'sum', collect: () => undefined };
  }
}
