/**
 * Certificates of the gRPC port reloaded without a restart: the three files
 * are re-read every `pollMs` (GRPC_TLS_RELOAD_MS) and on demand (SIGHUP, see
 * main.ts). A set that differs from the one last tried is checked as a whole
 * (config/grpc-tls.ts) and, when good, handed to the server for connections
 * accepted from then on; open connections keep the certificate they started
 * with. A bad set keeps the current context and gives one warning (per bad
 * content, not per poll), naming the variable and never the content.
 */
import { createHash } from 'node:crypto';
import { GrpcTlsError, loadGrpcTls, type GrpcTlsFiles, type GrpcTlsMaterial } from '../config/grpc-tls.js';

export type TlsReloadResult = 'reloaded' | 'unchanged' | 'failed';

export interface TlsReloaderOptions {
  files: GrpcTlsFiles;
  /** The material the server started with. */
  initial: GrpcTlsMaterial;
  pollMs: number;
  /** Applies a checked set to the server (GrpcTransport.setSecureContext). */
  apply(material: GrpcTlsMaterial): void;
  /** Told of each attempt that found changed files: reloaded, or failed with a one-line reason. */
  onReload(result: 'reloaded' | 'failed', problem?: string): void;
}

/** A digest of the set's content, to tell a change (the key itself is not kept here). */
function digest(m: GrpcTlsMaterial): string {
  const h = createHash('sha256');
  for (const b of [m.cert, m.key, m.ca ?? Buffer.alloc(0)]) h.update(String(b.length)).update(':').update(b);
  return h.digest('hex');
}

export class TlsReloader {
  readonly #opts: TlsReloaderOptions;
  #tried: string;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: TlsReloaderOptions) {
    this.#opts = opts;
    this.#tried = digest(opts.initial);
  }

  start(): void {
    this.#timer ??= setInterval(() => this.reload(), this.#opts.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Re-reads the files now; a changed good set becomes the server's. */
  reload(): TlsReloadResult {
    let material: GrpcTlsMaterial;
    try {
      material = loadGrpcTls(this.#opts.files);
    } catch (err) {
      // A file half-written or unreadable: what it holds now is "tried" under
      // the error text, so the warning is not repeated every poll.
      const problem = err instanceof GrpcTlsError ? err.message : 'the TLS files could not be checked';
      const mark = `error:${problem}`;
      if (mark === this.#tried) return 'unchanged';
      this.#tried = mark;
      this.#opts.onReload('failed', problem);
      return 'failed';
    }
    const d = digest(material);
    if (d === this.#tried) return 'unchanged';
    this.#tried = d;
    try {
      this.#opts.apply(material);
    } catch {
      this.#opts.onReload('failed', 'the server refused the new certificate and key');
      return 'failed';
    }
    this.#opts.onReload('reloaded');
    return 'reloaded';
  }
}
