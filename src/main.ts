/** Entry point: config → app → start; SIGTERM/SIGINT drain and exit. WORKERS > 1: see cluster.ts. */
import cluster from 'node:cluster';
import { App } from './app.js';
import { runPrimary } from './workers.js';
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './log.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`consumer-authz: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.workers > 1 && cluster.isPrimary) {
    const logger = createLogger(config.logLevel);
    logger.info({ workers: config.workers }, 'starting workers');
    process.exit(await runPrimary({ workers: config.workers, log: (msg, fields) => logger.info(fields ?? {}, msg) }));
  }
  const app = await App.create({ config });
  await app.start();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'draining');
    app.stop().then(
      () => process.exit(0),
      (err) => {
        app.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
