/**
 * WORKERS > 1: a node:cluster primary that forks the workers and nothing else.
 * Each worker is a whole instance (its own consumer cache loaded from Redis,
 * its own gRPC and admin servers); the workers share the listening ports
 * through the primary, which hands each new connection to the next worker
 * (round robin). Envoy keeps long-lived HTTP/2 connections, so load spreads by
 * connection: give the ext_authz cluster at least as many connections as
 * workers (e.g. several Envoy worker threads, or `max_requests_per_connection`).
 *
 * Health and readiness are per worker: a gRPC health check or /readyz is
 * answered by the worker that received its connection. Workers load the same
 * Redis data, so they turn ready together at start; a worker that died is
 * forked again and reports NOT_SERVING (and fails closed, 503) until its cache
 * is warm. Every SIGTERM/SIGINT is forwarded to every worker, which behave as
 * a single process does (lame duck, then drain; a second signal drains at
 * once); the primary exits when the last one has. A worker that exits with
 * code 2 (a start failure the operator must fix: a port in use, …) is not
 * forked again: the primary stops the others and exits 2.
 *
 * Why cluster and not SO_REUSEPORT: grpc-js has no reuse-port option, and
 * Node 20's net module cannot set SO_REUSEPORT.
 */
import cluster, { type Worker } from 'node:cluster';

export interface PrimaryOptions {
  workers: number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  /** Backoff before forking a worker that died (ms). */
  restartDelayMs?: number;
}

/** Runs the primary: forks `workers` copies of the current entry point. Resolves when all have exited after a signal. */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  let stopping = false;
  const delay = opts.restartDelayMs ?? 1000;
  const fork = () => cluster.fork();
  for (let i = 0; i < opts.workers; i++) fork();
  return new Promise((resolve) => {
    let exitCode = 0;
    cluster.on('exit', (w: Worker, code, signal) => {
      if (!stopping && code === 2) {
        opts.log('worker could not start; stopping', { pid: w.process.pid, code });
        exitCode = 2;
        stopping = true;
        for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      }
      if (stopping) {
        if (code !== 0 && exitCode === 0) exitCode = 1;
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve(exitCode);
        return;
      }
      opts.log('worker exited; starting another', { pid: w.process.pid, code, signal });
      setTimeout(() => {
        if (!stopping) fork();
      }, delay).unref();
    });
    // Forwarded every time: a second signal makes the workers skip the lame duck.
    const stop = (signal: NodeJS.Signals) => {
      if (!stopping) opts.log('stopping workers', { signal });
      stopping = true;
      const live = Object.values(cluster.workers ?? {});
      if (live.length === 0) resolve(exitCode);
      for (const w of live) w?.process.kill(signal);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // The workers re-read their gRPC TLS files (otherwise SIGHUP would end the primary).
    process.on('SIGHUP', () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
    });
  });
}
