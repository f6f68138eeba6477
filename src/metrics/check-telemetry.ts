/**
 * What the Check handler reports per call: counters and latency (CheckStats)
 * and one log line. Allowed requests log at debug, denials at info, outages
 * (503) at warn. Fields: requestId, route (the one the request was judged on:
 * `context_extensions.route` or the one match rules named), consumer, authType, reason, ms —
 * never a path, a header, a credential or a query string.
 *
 * At info level an allowed request costs the counters only: whether debug is
 * on is read once, at construction (pino's level is fixed for the process).
 */
import type { Logger } from 'pino';
import type { Decision } from '../authz/decision.js';
import { REASONS } from '../authz/reasons.js';
import type { AuthzRequest } from '../authz/request.js';
import { CheckStats } from './check-stats.js';

export class CheckTelemetry {
  readonly stats: CheckStats;
  readonly #log: Logger;
  readonly #debug: boolean;
  readonly #info: boolean;

  constructor(opts: { logger: Logger; stats?: CheckStats }) {
    this.#log = opts.logger;
    this.stats = opts.stats ?? new CheckStats();
    this.#debug = opts.logger.isLevelEnabled('debug');
    this.#info = opts.logger.isLevelEnabled('info');
  }

  /** Records one answered Check; `req` is undefined when the request could not be decoded. */
  record(req: AuthzRequest | undefined, decision: Decision, startedNs: bigint): void {
    const ns = this.stats.record(decision, startedNs);
    if (decision.allow) {
      if (!this.#debug) return;
      const who = decision.identity;
      this.#log.debug(
        { requestId: req?.id, route: decision.route ?? req?.route, consumer: who.consumerName, authType: who.authType, credentialId: who.credentialId, ms: ns / 1e6 },
        'check allowed',
      );
      return;
    }
    if (!this.#info) return;
    const fields = {
      requestId: req?.id,
      route: decision.route ?? req?.route,
      consumer: decision.consumer,
      authType: decision.authType,
      reason: decision.reason,
      ms: ns / 1e6,
    };
    if (REASONS[decision.reason].http === 503) this.#log.warn(fields, 'check denied: authorization unavailable');
    else this.#log.info(fields, 'check denied');
  }
}
