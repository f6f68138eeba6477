/**
 * The admin HTTP API (JSON, prefix /v1), plus /healthz and /readyz.
 * Request handling is a plain function of (method, path, query, body) so it
 * is testable without sockets; `AdminServer` puts it on node:http.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ConsumerService } from '../consumers/service.js';
import { ConsoleFiles, defaultConsoleDir } from './console.js';
import { AdminError, invalid } from './errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export interface AdminServerOptions {
  service: ConsumerService;
  logger: Logger;
  /** Bearer token the /v1 API requires; undefined leaves it open (loopback only). */
  token: string | undefined;
  readiness: () => Readiness;
  /** Folder of the built web console served at `/`; default dist/console of this package. */
  consoleDir?: string;
}

interface Reply {
  status: number;
  body?: unknown;
}

type Handler = (params: string[], query: URLSearchParams, body: unknown) => Promise<Reply>;

interface RouteDef {
  pattern: RegExp;
  methods: Record<string, Handler>;
}

export class AdminServer {
  readonly #server: Server;
  readonly #log: Logger;
  readonly #tokenDigest: Buffer | undefined;
  readonly #routes: RouteDef[];
  readonly #readiness: () => Readiness;
  readonly #console: ConsoleFiles;

  constructor(opts: AdminServerOptions) {
    this.#log = opts.logger;
    this.#readiness = opts.readiness;
    this.#console = new ConsoleFiles(opts.consoleDir ?? defaultConsoleDir());
    this.#tokenDigest = opts.token === undefined ? undefined : digest(opts.token);
    const s = opts.service;
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
      {
        pattern: /^\/v1\/routes$/,
        methods: { GET: async (_p, q) => ({ status: 200, body: await s.listRoutes(q.get('limit'), q.get('cursor')) }) },
      },
      {
        pattern: /^\/v1\/routes\/([^/]+)$/,
        methods: {
          GET: async ([r]) => ({ status: 200, body: await s.getRoute(r as string) }),
          PUT: async ([r], _q, b) => ({ status: 200, body: await s.putRoute(r as string, b) }),
          DELETE: async ([r]) => {
            await s.deleteRoute(r as string);
            return { status: 204 };
          },
        },
      },
    ];
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  listen(host: string, port: number): Promise<number> {
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
    const route = this.#routes.find((r) => r.pattern.test(url.pathname));
    if (!route) throw new AdminError('not_found', `no such endpoint: ${method} ${url.pathname}`);
    this.#authenticate(req);
    const handler = route.methods[method];
    if (!handler) {
      throw new AdminError('method_not_allowed', `${method} is not supported here; use ${Object.keys(route.methods).join(', ')}`);
    }
    const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeParam);
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? await readJson(req) : undefined;
    return handler(params, url.searchParams, body);
  }

  #authenticate(req: IncomingMessage): void {
    if (!this.#tokenDigest) return;
    const m = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '');
    // Digests have equal length, so the comparison is constant-time whatever was sent.
    if (!m || !timingSafeEqual(digest(m[1] as string), this.#tokenDigest)) {
      throw new AdminError('unauthorized', 'a valid admin token is required: send "Authorization: Bearer <ADMIN_TOKEN>"');
    }
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
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
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw invalid('body', 'is not valid JSON');
  }
}

function errorReply(err: unknown, log: Logger): Reply {
  if (err instanceof AdminError) {
    const error: Record<string, string> = { code: err.code, message: err.message };
    if (err.field) error.field = err.field;
    return { status: err.status, body: { error } };
  }
  log.error({ err }, 'admin request failed');
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error; see the service log' } } };
}

function send(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  if (reply.body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
