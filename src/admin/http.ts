/**
 * The admin HTTP API (JSON, prefix /v1), plus /healthz, /readyz and /metrics.
 * Request handling is a plain function of (method, path, query, body) so it
 * is testable without sockets; `AdminServer` puts it on node:http.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { isLoopback } from '../config/config.js';
import { routeEtag, type ConsumerService } from './consumer-service.js';
import { duplicateMember } from '../consumers/strict-json.js';
import { ConsoleFiles, defaultConsoleDir } from './console.js';
import type { Auditor } from './audit.js';
import { invalid } from '../consumers/errors.js';
import { AdminError, adminErrorOf } from './errors.js';
import { AdminTokens, ANONYMOUS, type AdminPrincipal } from './tokens.js';

export const MAX_BODY_BYTES = 64 * 1024;

export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export interface AdminServerOptions {
  service: ConsumerService;
  logger: Logger;
  /** Named tokens with scopes; none (or absent) leaves the API open (loopback only). */
  tokens?: AdminTokens;
  readiness: () => Readiness;
  /** Folder of the built web console served at `/`; default dist/console of this package. */
  consoleDir?: string;
  /** Prometheus exposition for GET /metrics (unauthenticated, like the probes). */
  metrics?: () => Promise<{ contentType: string; text: string }>;
  /** Records successful mutations and serves GET /v1/audit. */
  auditor?: Auditor;
}

interface Reply {
  status: number;
  body?: unknown;
  /** A non-JSON body (the metrics exposition). */
  raw?: { contentType: string; text: string };
  /** A route's entity tag (the ETag header), for a later If-Match. */
  etag?: string;
}

type Handler = (params: string[], query: URLSearchParams, body: unknown, cond: Conditions) => Promise<Reply>;

/** The request's conditional headers (RFC 9110 §13), when given. */
interface Conditions {
  ifMatch: string | undefined;
  ifNoneMatch: string | undefined;
}

interface RouteDef {
  pattern: RegExp;
  methods: Record<string, Handler>;
}

export class AdminServer {
  readonly #server: Server;
  readonly #log: Logger;
  readonly #tokens: AdminTokens;
  readonly #routes: RouteDef[];
  readonly #readiness: () => Readiness;
  readonly #console: ConsoleFiles;
  readonly #metrics: AdminServerOptions['metrics'];
  readonly #auditor: Auditor | undefined;

  constructor(opts: AdminServerOptions) {
    this.#log = opts.logger;
    this.#readiness = opts.readiness;
    this.#console = new ConsoleFiles(opts.consoleDir ?? defaultConsoleDir());
    this.#metrics = opts.metrics;
    this.#auditor = opts.auditor;
    this.#tokens = opts.tokens ?? new AdminTokens([]);
    const s = opts.service;
    const auditor = opts.auditor;
    this.#routes = [
      {
        pattern: /^\/v1\/consumers$/,
        methods: {
          GET: async (_p, q) => ({ status: 200, body: await s.list(q.get('limit'), q.get('cursor')) }),
          POST: async (_p, _q, b) => ({ status: 201, body: await s.create(b) }),
        },
      },
      {
        pattern: /^\/v1\/consumers\/([^/]+)$/,
        methods: {
          GET: async ([n]) => ({ status: 200, body: await s.get(n as string) }),
          PATCH: async ([n], _q, b) => ({ status: 200, body: await s.update(n as string, b) }),
          DELETE: async ([n]) => {
            await s.remove(n as string);
            return { status: 204 };
          },
        },
      },
      {
        pattern: /^\/v1\/consumers\/([^/]+)\/usage$/,
        methods: { GET: async ([n]) => ({ status: 200, body: await s.usage(n as string) }) },
      },
      {
        pattern: /^\/v1\/consumers\/([^/]+)\/quota\/reset$/,
        methods: { POST: async ([n]) => ({ status: 200, body: await s.resetQuota(n as string) }) },
      },
      {
        pattern: /^\/v1\/consumers\/([^/]+)\/quota\/top-up$/,
        methods: { POST: async ([n], _q, b) => ({ status: 200, body: await s.topUpQuota(n as string, b) }) },
      },
      {
        pattern: /^\/v1\/consumers\/([^/]+)\/keys$/,
        methods: {
          POST: async ([n], _q, b) => ({ status: 201, body: await s.addKey(n as string, b) }),
        },
      },
      {
        pattern: /^\/v1\/consumers\/([^/]+)\/keys\/([^/]+)$/,
        methods: {
          DELETE: async ([n, k]) => {
            await s.removeKey(n as string, k as string);
            return { status: 204 };
          },
        },
      },
      ...(auditor
        ? [{ pattern: /^\/v1\/audit$/, methods: { GET: async (_p: string[], q: URLSearchParams) => ({ status: 200, body: await auditor.list(q.get('limit'), q.get('cursor')) }) } }]
        : []),
      {
        pattern: /^\/v1\/routes$/,
        methods: {
          GET: async (_p, q) => {
            const page = await s.listRoutes(q.get('limit'), q.get('cursor'));
            return { status: 200, body: { ...page, items: page.items.map((r) => s.routeView(r)) } };
          },
        },
      },
      {
        pattern: /^\/v1\/routes\/([^/]+)$/,
        methods: {
          GET: async ([r]) => {
            const rec = await s.getRoute(r as string);
            return { status: 200, body: s.routeView(rec), etag: routeEtag(rec) };
          },
          PUT: async ([r], _q, b, cond) => {
            const rec = await s.putRoute(r as string, b, cond.ifMatch, cond.ifNoneMatch);
            return { status: 200, body: s.routeView(rec), etag: routeEtag(rec) };
          },
          DELETE: async ([r], _q, _b, cond) => {
            await s.deleteRoute(r as string, cond.ifMatch);
            return { status: 204 };
          },
        },
      },
    ];
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  listen(host: string, port: number): Promise<number> {
    if (!this.#tokens.required && !isLoopback(host)) {
      return Promise.reject(new Error(`the admin API will not listen on ${host} without a token: set ADMIN_TOKEN or ADMIN_TOKENS_FILE, or bind a loopback address`));
    }
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#console.handle(req, res)) return;
    const started = process.hrtime.bigint();
    let reply: Reply;
    try {
      reply = await this.#route(req);
    } catch (err) {
      reply = errorReply(err, this.#log);
    }
    send(res, reply);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const path = (req.url ?? '').split('?')[0];
    this.#log.debug({ method: req.method, path, status: reply.status, ms }, 'admin request');
  }

  async #route(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname === '/healthz') return { status: 200, body: { status: 'ok' } };
    if (url.pathname === '/readyz') {
      const r = this.#readiness();
      return { status: r.ready ? 200 : 503, body: r };
    }
    if (url.pathname === '/metrics' && this.#metrics) {
      if (method !== 'GET') throw new AdminError('method_not_allowed', `${method} is not supported here; use GET`);
      return { status: 200, raw: await this.#metrics() };
    }
    const route = this.#routes.find((r) => r.pattern.test(url.pathname));
    if (!route) throw new AdminError('not_found', `no such endpoint: ${method} ${url.pathname}`);
    const principal = this.#authenticate(req);
    const handler = route.methods[method];
    if (!handler) {
      throw new AdminError('method_not_allowed', `${method} is not supported here; use ${Object.keys(route.methods).join(', ')}`);
    }
    if (method !== 'GET' && method !== 'HEAD' && principal.scope !== 'read-write') {
      throw new AdminError('forbidden', `the admin token "${principal.name}" is read-only; changes need a read-write token`);
    }
    const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeParam);
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? await readJson(req) : undefined;
    const cond = { ifMatch: req.headers['if-match'], ifNoneMatch: req.headers['if-none-match'] };
    const run = () => handler(params, url.searchParams, body, cond);
    return this.#auditor ? this.#auditor.around(principal.name, method, url.pathname, body, run) : run();
  }

  /** Who sent the request; throws 401 unless the token is one of the configured ones. */
  #authenticate(req: IncomingMessage): AdminPrincipal {
    if (!this.#tokens.required) return ANONYMOUS;
    const m = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '');
    const principal = m ? this.#tokens.verify(m[1] as string) : undefined;
    if (!principal) {
      throw new AdminError('unauthorized', 'a valid admin token is required: send "Authorization: Bearer <token>"');
    }
    return principal;
  }
}

function decodeParam(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw invalid('path', 'is not valid percent-encoding');
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > MAX_BODY_BYTES) throw new AdminError('payload_too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new AdminError('payload_too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  if (!/^application\/json\b/i.test(type)) {
    throw new AdminError('unsupported_media_type', 'send the body as JSON with "Content-Type: application/json"');
  }
  let text: string;
  try {
    text = UTF8.decode(Buffer.concat(chunks));
  } catch {
    throw invalid('body', 'is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('body', 'is not valid JSON');
  }
  // JSON.parse keeps the last of `{"enabled":true,"enabled":false}`; refuse rather than guess.
  const dup = duplicateMember(text);
  if (dup !== undefined) throw invalid(dup, 'is given more than once');
  return value;
}

/** Strict UTF-8: a lenient decode would turn bad bytes into U+FFFD and store them. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function errorReply(err: unknown, log: Logger): Reply {
  const refused = adminErrorOf(err);
  if (refused) {
    const error: Record<string, string> = { code: refused.code, message: refused.message };
    if (refused.field) error.field = refused.field;
    return { status: refused.status, body: { error } };
  }
  log.error({ err }, 'admin request failed');
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error; see the service log' } } };
}

function send(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  if (reply.etag) res.setHeader('etag', reply.etag);
  if (reply.raw) {
    res.setHeader('content-type', reply.raw.contentType);
    res.setHeader('content-length', Buffer.byteLength(reply.raw.text));
    res.end(reply.raw.text);
    return;
  }
  if (reply.body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
