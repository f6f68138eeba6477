/** Static serving of the web console: types, headers, traversal, missing build. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, ConsoleFiles } from '../../src/admin/console.js';

let server: Server | undefined;

afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** Serves `dir` with ConsoleFiles; requests it does not take answer 418. */
async function serve(dir: string): Promise<number> {
  const files = new ConsoleFiles(dir);
  server = createServer((req, res) => {
    if (!files.handle(req, res)) res.writeHead(418).end();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server!.address() as AddressInfo).port;
}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

function built(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cauthz-console-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(dir, 'assets', 'app.js'), 'export {};');
  writeFileSync(join(dir, 'assets', 'notes.txt'), 'not a console type');
  writeFileSync(join(dir, 'secret.json'), '{}');
  return dir;
}

describe('ConsoleFiles', () => {
  it('serves index.html for / and /index.html, assets by type, with CSP and nosniff', async () => {
    const port = await serve(built());
    for (const p of ['/', '/index.html', '/?x=1']) {
      const r = await get(port, p);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    const js = await get(port, '/assets/app.js');
    expect([js.status, js.headers['content-type'], js.body]).toEqual([200, 'text/javascript; charset=utf-8', 'export {};']);
    const head = await get(port, '/assets/app.js', 'HEAD');
    expect([head.status, head.body, head.headers['content-length']]).toEqual([200, '', '10']);
  });

  it('answers 404 for unknown files, unknown types and every way out of the folder', async () => {
    const port = await serve(built());
    for (const p of ['/assets/none.js', '/assets/notes.txt', '/assets/', '/assets/../secret.json', '/assets/%2e%2e/secret.json', '/assets/..%2fsecret.json', '/assets/a%5c..%5csecret.json', '/assets/%00.js', '/assets/%zz']) {
      const r = await get(port, p);
      expect(r.status, p).toBe(404);
      expect(r.headers['content-security-policy']).toBe(CONSOLE_CSP);
    }
  });

  it('leaves other paths and methods to the API', async () => {
    const port = await serve(built());
    expect((await get(port, '/v1/consumers')).status).toBe(418);
    expect((await get(port, '/healthz')).status).toBe(418);
    expect((await get(port, '/', 'POST')).status).toBe(418);
  });

  it('says to run npm run build when the console is not built', async () => {
    const port = await serve(join(tmpdir(), 'cauthz-no-console-here'));
    const r = await get(port, '/');
    expect(r.status).toBe(503);
    expect(r.body).toContain('npm run build');
    expect((await get(port, '/assets/app.js')).status).toBe(404);
  });
});
