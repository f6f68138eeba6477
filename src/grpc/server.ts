/**
 * The gRPC server: envoy.service.auth.v3.Authorization/Check and
 * grpc.health.v1.Health (services "" and the Authorization service), on the
 * node:http2 transport of transport.ts.
 */
import type { Logger } from 'pino';
import type { Authorizer } from '../authz/authorizer.js';
import { deny, type Decision } from '../authz/decision.js';
import type { AuthzRequest } from '../authz/request.js';
import { answerFrame } from './check-answers.js';
import type { GrpcTlsFiles } from '../config/grpc-tls.js';
import { loadGrpcTls } from '../config/grpc-tls.js';
import { Health } from './health.js';
import { AUTH_SERVICE } from './protos.js';
import { GrpcTransport, Status, type Method, type ServerCall, type TransportLimits } from './transport.js';
import { TlsReloader } from './tls-reloader.js';
import { decodeCheckRequest } from './wire-decode.js';

export { AUTH_SERVICE };
const CHECK_PATH = `/${AUTH_SERVICE}/Check`;

export interface GrpcServerOptions {
  authorizer: Authorizer;
  logger: Logger;
  /** Told of every answered Check (metrics and decision logs). */
  telemetry?: { record(req: AuthzRequest | undefined, decision: Decision, startedNs: bigint): void };
  /** Transport bounds other than the defaults (tests). */
  limits?: Partial<TransportLimits>;
  /** TLS on the port (mTLS with a client CA); the files are re-read every `reloadMs`. */
  tls?: { files: GrpcTlsFiles; reloadMs: number; onReload?: (result: 'reloaded' | 'failed') => void };
}

export class GrpcServer {
  readonly #transport: GrpcTransport;
  readonly #health = new Health({ '': 'NOT_SERVING', [AUTH_SERVICE]: 'NOT_SERVING' });
  readonly #log: Logger;
  readonly #tls: TlsReloader | undefined;

  constructor(opts: GrpcServerOptions) {
    this.#log = opts.logger;
    const authorizer = opts.authorizer;
    const log = opts.logger;
    const telemetry = opts.telemetry;
    // Built when check-answers loads, so the failure path below has nothing left that could throw.
    const unavailable = answerFrame(deny('authz_unavailable'));
    const respond = (call: ServerCall, req: AuthzRequest | undefined, decision: Decision, started: bigint) => {
      let res: Buffer;
      try {
        res = answerFrame(decision);
      } catch (err) {
        decision = failure(log, err);
        res = unavailable;
      }
      if (call.done) return; // cancelled or past its deadline: nobody to answer
      call.send(res);
      telemetry?.record(req, decision, started);
    };
    const check: Method = {
      streaming: false,
      handle(body, call) {
        const started = process.hrtime.bigint();
        let req: AuthzRequest | undefined;
        let decision: Decision | Promise<Decision>;
        try {
          req = decodeCheckRequest(body);
          if (req === undefined) {
            // Not a protobuf CheckRequest (Envoy never sends one): a protocol
            // error, which Envoy (failure_mode_allow off) turns into a 403.
            call.end(Status.INVALID_ARGUMENT, 'malformed CheckRequest');
            return;
          }
          decision = authorizer.check(req);
        } catch (err) {
          decision = failure(log, err);
        }
        if (decision instanceof Promise) {
          decision.then(
            (d) => respond(call, req, d, started),
            (err: unknown) => respond(call, req, failure(log, err), started),
          );
        } else {
          respond(call, req, decision, started);
        }
      },
    };
    // Checked at start by config.ts; read again here, so a file changed since then is checked too (throws).
    const tls = opts.tls;
    const material = tls === undefined ? undefined : loadGrpcTls(tls.files);
    this.#transport = new GrpcTransport({
      methods: new Map<string, Method>([[CHECK_PATH, check], ...this.#health.methods()]),
      limits: opts.limits,
      onAbuse: (what) => log.warn({ abuse: what }, 'gRPC connection closed for abuse'),
      tls: material,
    });
    if (tls !== undefined && material !== undefined) {
      this.#tls = new TlsReloader({
        files: tls.files,
        initial: material,
        pollMs: tls.reloadMs,
        apply: (m) => this.#transport.setSecureContext(m),
        onReload: (result, problem) => {
          if (result === 'reloaded') log.info({ certFile: tls.files.certFile }, 'gRPC TLS certificate reloaded; new connections use it');
          else log.warn({ problem }, 'gRPC TLS files changed but are not usable; keeping the current certificate');
          tls.onReload?.(result);
        },
      });
    }
  }

  /** Re-reads the TLS files now (SIGHUP); 'unchanged' without TLS. */
  reloadTls(): 'reloaded' | 'unchanged' | 'failed' {
    return this.#tls?.reload() ?? 'unchanged';
  }

  /** Binds and starts; resolves with the bound port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    const bound = await this.#transport.listen(host, port);
    this.#tls?.start();
    return bound;
  }

  /** Health of both service names. */
  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.#health.setStatus('', status);
    this.#health.setStatus(AUTH_SERVICE, status);
  }

  /** The transport, for its counters (tests). */
  get transport(): GrpcTransport {
    return this.#transport;
  }

  /**
   * Stops taking calls (GOAWAY on every connection, new streams UNAVAILABLE,
   * the listener closed), lets in-flight ones finish (up to `graceMs`), then
   * closes what is left. Health Watch streams get NOT_SERVING, then end.
   */
  async drain(graceMs: number): Promise<void> {
    this.setServing(false);
    this.#tls?.stop();
    this.#health.endWatches();
    const started = Date.now();
    await this.#transport.drain(graceMs);
    if (Date.now() - started >= graceMs) this.#log.warn('drain timed out; closed remaining calls');
  }
}

/** An exception is an outage, never a reason to allow: fail closed. */
function failure(log: Logger, err: unknown): Decision {
  log.error({ err }, 'check failed');
  return deny('authz_unavailable');
}
