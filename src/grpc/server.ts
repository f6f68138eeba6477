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
import { toCheckResponse, type WireCheckResponse } from './check-messages.js';
import { authPackage } from './protos.js';
import { decodeCheckRequest } from './wire-decode.js';
import { encodedCheckResponse } from './wire-encode.js';

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
      // Channelz tracks every call (counters, timestamps): cost on each Check, no reader here.
      'grpc.enable_channelz': 0,
    });
    // The Check method passes raw bytes through grpc-js: the request is read by
    // the hand-written decoder (only the fields a decision needs) and answers
    // are encoded once per answer object (see wire-decode.ts, wire-encode.ts).
    const check = (authPackage()[`${AUTH_SERVICE}`] as grpc.ServiceDefinition).Check as grpc.MethodDefinition<
      WireCheckResponse,
      WireCheckResponse
    >;
    const slowEncode = (res: WireCheckResponse) => check.responseSerialize(res);
    const def: grpc.ServiceDefinition = {
      Check: {
        path: check.path,
        requestStream: false,
        responseStream: false,
        originalName: check.originalName,
        requestSerialize: (buf: Buffer) => buf,
        requestDeserialize: (buf: Buffer) => buf,
        responseSerialize: (buf: Buffer) => buf,
        responseDeserialize: (buf: Buffer) => buf,
      } satisfies grpc.MethodDefinition<Buffer, Buffer>,
    };
    // Encoded up front, so the failure path below has nothing left that could throw.
    const unavailable = encodedCheckResponse(toCheckResponse(deny('authz_unavailable')), slowEncode);
    // Answers one Check; built once per server, so a request allocates no closure for it.
    const respond = (callback: grpc.sendUnaryData<Buffer>, req: AuthzRequest | undefined, decision: Decision, started: bigint) => {
      let res: Buffer;
      try {
        res = encodedCheckResponse(toCheckResponse(decision), slowEncode);
      } catch (err) {
        decision = failure(log, err);
        res = unavailable;
      }
      callback(null, res);
      telemetry?.record(req, decision, started);
    };
    this.#server.addService(def, {
      Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        const started = process.hrtime.bigint();
        let req: AuthzRequest | undefined;
        let decision: Decision | Promise<Decision>;
        try {
          req = decodeCheckRequest(call.request);
          if (req === undefined) {
            // Not a protobuf CheckRequest (Envoy never sends one): a protocol
            // error, which Envoy (failure_mode_allow off) turns into a 403.
            callback({ code: grpc.status.INVALID_ARGUMENT, details: 'malformed CheckRequest' });
            return;
          }
          decision = authorizer.check(req);
        } catch (err) {
          decision = failure(log, err);
        }
        if (decision instanceof Promise) {
          decision.then(
            (d) => respond(callback, req, d, started),
            (err: unknown) => respond(callback, req, failure(log, err), started),
          );
        } else {
          respond(callback, req, decision, started);
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

/** An exception is an outage, never a reason to allow: fail closed. */
function failure(log: Logger, err: unknown): Decision {
  log.error({ err }, 'check failed');
  return deny('authz_unavailable');
}
