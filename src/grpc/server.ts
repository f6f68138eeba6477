/**
 * The gRPC server: envoy.service.auth.v3.Authorization/Check and
 * grpc.health.v1.Health (services "" and the Authorization service).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { Authorizer } from '../authz/authorizer.js';
import { deny, type Decision } from '../authz/decision.js';
import type { AuthzRequest } from '../authz/request.js';
import { toAuthzRequest, toCheckResponse, type WireCheckRequest, type WireCheckResponse } from './check-codec.js';
import { authPackage } from './protos.js';

export const AUTH_SERVICE = 'envoy.service.auth.v3.Authorization';

export interface GrpcServerOptions {
  authorizer: Authorizer;
  logger: Logger;
  /** Told of every answered Check (metrics and decision logs). */
  telemetry?: { record(req: AuthzRequest | undefined, decision: Decision, startedNs: bigint): void };
}

export class GrpcServer {
  readonly #server: grpc.Server;
  readonly #health = new HealthImplementation({ '': 'NOT_SERVING', [AUTH_SERVICE]: 'NOT_SERVING' });
  readonly #log: Logger;

  constructor(opts: GrpcServerOptions) {
    this.#log = opts.logger;
    const authorizer = opts.authorizer;
    const log = opts.logger;
    const telemetry = opts.telemetry;
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const def = authPackage()[`${AUTH_SERVICE}`] as grpc.ServiceDefinition;
    this.#server.addService(def, {
      Check(
        call: grpc.ServerUnaryCall<WireCheckRequest, WireCheckResponse>,
        callback: grpc.sendUnaryData<WireCheckResponse>,
      ) {
        const started = process.hrtime.bigint();
        let req: AuthzRequest | undefined;
        let decision: Decision | Promise<Decision>;
        try {
          req = toAuthzRequest(call.request);
          decision = authorizer.check(req);
        } catch (err) {
          decision = failure(log, err);
        }
        if (decision instanceof Promise) {
          decision.then(
            (d) => respond(callback, req, d, started, telemetry, log),
            (err: unknown) => respond(callback, req, failure(log, err), started, telemetry, log),
          );
        } else {
          respond(callback, req, decision, started, telemetry, log);
        }
      },
    });
    this.#health.addToServer(this.#server);
  }

  /** Binds and starts; resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.#server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err) reject(err);
        else resolve(bound);
      });
    });
  }

  /** Health of both service names. */
  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.#health.setStatus('', status);
    this.#health.setStatus(AUTH_SERVICE, status);
  }

  /** Stops taking calls, lets in-flight ones finish (up to `graceMs`), then closes. */
  drain(graceMs: number): Promise<void> {
    this.setServing(false);
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        this.#log.warn('drain timed out; closing remaining calls');
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

type Telemetry = GrpcServerOptions['telemetry'];

/** An exception is an outage, never a reason to allow: fail closed. */
function failure(log: Logger, err: unknown): Decision {
  log.error({ err }, 'check failed');
  return deny('authz_unavailable');
}

function respond(
  callback: grpc.sendUnaryData<WireCheckResponse>,
  req: AuthzRequest | undefined,
  decision: Decision,
  started: bigint,
  telemetry: Telemetry,
  log: Logger,
): void {
  let res: WireCheckResponse;
  try {
    res = toCheckResponse(decision);
  } catch (err) {
    decision = failure(log, err);
    res = toCheckResponse(decision);
  }
  callback(null, res);
  telemetry?.record(req, decision, started);
}
