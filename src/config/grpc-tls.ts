/**
 * The gRPC port's TLS material (GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE,
 * GRPC_TLS_CLIENT_CA_FILE): read and checked as one set, at start (config.ts)
 * and at every reload (grpc/tls-reloader.ts). A problem names the variable and
 * the fix; it never carries file content (the key is a secret).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface GrpcTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: mTLS, a client must present a certificate this CA signed. */
  readonly clientCaFile: string | undefined;
}

/** File contents, as handed to tls.createSecureContext / server.setSecureContext. */
export interface GrpcTlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

export class GrpcTlsError extends Error {
  override name = 'GrpcTlsError';
}

function read(name: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new GrpcTlsError(`${name}=${JSON.stringify(file)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); fix the path or its permissions`);
  }
}

/** OpenSSL's reason (e.g. "key values mismatch"), without anything else of the error. */
function reason(err: unknown): string {
  const r = (err as { reason?: unknown }).reason;
  if (typeof r === 'string' && r !== '') return r;
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/^error:[0-9A-F]+:/i, '').slice(0, 120);
}

/** Reads and checks the set; throws GrpcTlsError naming what to fix. */
export function loadGrpcTls(f: GrpcTlsFiles): GrpcTlsMaterial {
  const cert = read('GRPC_TLS_CERT_FILE', f.certFile);
  const key = read('GRPC_TLS_KEY_FILE', f.keyFile);
  const ca = f.clientCaFile === undefined ? undefined : read('GRPC_TLS_CLIENT_CA_FILE', f.clientCaFile);
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) {
    throw new GrpcTlsError(`GRPC_TLS_CERT_FILE=${JSON.stringify(f.certFile)}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1'))) {
    throw new GrpcTlsError(`GRPC_TLS_KEY_FILE=${JSON.stringify(f.keyFile)}: holds no PEM private key (-----BEGIN PRIVATE KEY-----), or it is encrypted; give an unencrypted PEM key`);
  }
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new GrpcTlsError(`GRPC_TLS_CLIENT_CA_FILE=${JSON.stringify(f.clientCaFile)}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
    } catch (err) {
      throw new GrpcTlsError(`GRPC_TLS_CLIENT_CA_FILE=${JSON.stringify(f.clientCaFile)}: not a usable CA certificate (${reason(err)})`);
    }
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new GrpcTlsError(
      `GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE: not a usable certificate and key pair (${reason(err)}); give the PEM certificate chain and the unencrypted key it was issued for`,
    );
  }
  return { cert, key, ca };
}
