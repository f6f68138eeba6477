/**
 * Serves the built web console (`npm run build` writes it to dist/console/)
 * from the admin server: `/` and `/index.html` answer index.html, `/assets/*`
 * answers the bundle. Every answer carries a strict Content-Security-Policy
 * and nosniff; nothing outside the console folder can be read.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The policy the console is written for: no inline script or style, nothing from elsewhere. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
};

const NOT_BUILT = 'The web console is not built. Run `npm run build`, then restart the service.\n';

/** dist/console of this package, found from this module whether it runs from src/ or dist/src/. */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return join(dir, 'dist', 'console');
}

export class ConsoleFiles {
  readonly #root: string;

  /** @param root the folder holding index.html and assets/ */
  constructor(root: string) {
    this.#root = resolve(root);
  }

  /**
   * Answers the request if it is a GET or HEAD for a console path and returns
   * true; returns false (and touches nothing) for every other request.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/' || path === '/index.html') {
      void this.#send(req, res, 'index.html', true);
      return true;
    }
    if (path.startsWith('/assets/')) {
      const rel = safeRelative(path.slice('/assets/'.length));
      if (rel === undefined) reply(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
      else void this.#send(req, res, `assets/${rel}`, false);
      return true;
    }
    return false;
  }

  async #send(req: IncomingMessage, res: ServerResponse, rel: string, isIndex: boolean): Promise<void> {
    const file = resolve(this.#root, rel);
    const type = CONTENT_TYPES[extname(file)];
    if (!file.startsWith(this.#root + sep) || type === undefined) {
      reply(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      if (isIndex) reply(req, res, 503, 'text/plain; charset=utf-8', NOT_BUILT);
      else reply(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    reply(req, res, 200, type, body);
  }
}

/** A decoded asset path of plain segments, or undefined for anything that could climb out. */
function safeRelative(raw: string): string | undefined {
  let p: string;
  try {
    p = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (p === '' || p.includes('\0') || p.includes('\\')) return undefined;
  const segments = p.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  return segments.join('/');
}

function reply(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('content-security-policy', CONSOLE_CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cache-control', 'no-cache');
  res.end(req.method === 'HEAD' ? undefined : body);
}
