/**
 * Entry point: config → app → start. SIGTERM/SIGINT: lame duck (health
 * NOT_SERVING, Checks still answered for LAME_DUCK_MS), then drain and exit 0;
 * a second signal skips the lame duck. A start failure the operator must fix
 * (config, DATA_FILE, a port) is one line on stderr and exit code 2, never a
 * stack trace. WORKERS > 1: see cluster.ts.
 */
import cluster from 'node:cluster';
import { App, StartupError } from './app.js';
import { runPrimary } from './workers.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { createLogger } from './log.js';
import { DataFileError, fileIoStuck } from './store/file-store.js';

/** Extra time past LAME_DUCK_MS + DRAIN_MS before a stuck shutdown is cut short (exit 1). */
const SHUTDOWN_SLACK_MS = 5_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  if (config.workers > 1 && cluster.isPrimary) {
    const logger = createLogger(config.logLevel);
    logger.info({ workers: config.workers }, 'starting workers');
    process.exit(await runPrimary({ workers: config.workers, log: (msg, fields) => logger.info(fields ?? {}, msg) }));
  }
  let app: App | undefined;
  try {
    app = await App.create({ config });
    await app.start();
  } catch (err) {
    // Release what was taken (the DATA_FILE lock), bounded; then one line.
    if (app) await Promise.race([app.store.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    startFailed(err);
  }
  const running = app;
  let phase: 'serving' | 'lame-duck' | 'draining' = 'serving';
  let lameDuck: NodeJS.Timeout | undefined;
  const drain = (signal: string) => {
    if (phase === 'draining') return;
    phase = 'draining';
    clearTimeout(lameDuck);
    running.logger.info({ signal }, 'draining');
    // Bounded whatever the store does (a write stuck in the kernel, a Redis that does not answer).
    setTimeout(() => {
      running.logger.error({ drainMs: config.drainMs }, 'shutdown did not finish in time; exiting');
      exit(1);
    }, config.drainMs + SHUTDOWN_SLACK_MS).unref();
    running.stop().then(
      () => exit(0),
      (err) => {
        running.logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  const onSignal = (signal: string) => {
    if (phase !== 'serving' || config.lameDuckMs === 0) {
      drain(signal);
      return;
    }
    phase = 'lame-duck';
    running.lameDuck();
    running.logger.info({ signal, lameDuckMs: config.lameDuckMs }, 'lame duck: health NOT_SERVING, still answering Checks; a second signal drains at once');
    lameDuck = setTimeout(() => drain(signal), config.lameDuckMs);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // Re-read the gRPC TLS files at once (they are also polled every GRPC_TLS_RELOAD_MS).
  process.on('SIGHUP', () => running.reloadTls());
}

function fail(message: string, code: number): never {
  process.stderr.write(`consumer-authz: ${message}\n`);
  return exit(code);
}

/**
 * process.exit, unless a data-file operation is stuck in the kernel: exit()
 * would then wait for it forever, so the process ends by the default action
 * of SIGTERM instead (status 143), which waits for nothing.
 */
function exit(code: number): never {
  if (fileIoStuck()) {
    process.stderr.write('consumer-authz: a data file operation is stuck in the kernel (hung mount?); ending the process without waiting for it\n');
    process.removeAllListeners('SIGTERM');
    process.kill(process.pid, 'SIGTERM');
  }
  process.exit(code);
}

/**
 * A known start failure is its own message. Anything else is named by its
 * class and errno code with the first line of its message (no stack: a message
 * is kept to one line of 300 characters, and file-store errors never carry
 * file content).
 */
function startFailed(err: unknown): never {
  if (err instanceof DataFileError || err instanceof StartupError) fail(err.message, 2);
  const e = err as NodeJS.ErrnoException;
  const first = String(e?.message ?? err).split('\n')[0]?.slice(0, 300);
  fail(`start failed: ${e?.name ?? 'Error'}${e?.code ? ` ${e.code}` : ''}: ${first}`, 1);
}

await main();
