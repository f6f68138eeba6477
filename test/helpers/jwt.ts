/**
 * JWT test helpers: token signing (with jose for honest tokens, by hand for
 * hostile ones) and an in-process harness (the stack of ./stack.ts) with a
 * clock. Key pairs are fixtures (./fixtures.ts).
 */
import { createHmac, createSign, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { ConsumerService } from '../../src/admin/consumer-service.js';
import type { Authorizer } from '../../src/authz/authorizer.js';
import type { Decision } from '../../src/authz/decision.js';
import type { AuthzRequest } from '../../src/authz/request.js';
import type { ConsumerReplica } from '../../src/replica/consumer-replica.js';
import { stack } from './stack.js';

/** A token signed properly with jose. */
export async function sign(
  payload: Record<string, unknown>,
  key: CryptoKey | Uint8Array,
  header: { alg: string; kid?: string; [k: string]: unknown },
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

export function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

/** A token assembled by hand: header and payload given as objects or raw JSON text. */
export function rawToken(header: object | string, payload: object | string, signer: (input: string) => string): string {
  const h = b64(typeof header === 'string' ? header : JSON.stringify(header));
  const p = b64(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const input = `${h}.${p}`;
  return `${input}.${signer(input)}`;
}

export function hmacSigner(secret: string | Buffer): (input: string) => string {
  return (input) => createHmac('sha256', secret).update(input).digest('base64url');
}

export function hs256Secret(jwks: { keys: Array<{ k: string }> }): Buffer {
  return Buffer.from(jwks.keys[0]!.k, 'base64url');
}

export function rsaSigner(key: KeyObject): (input: string) => string {
  return (input) => createSign('RSA-SHA256').update(input).sign(key).toString('base64url');
}

export interface Harness {
  service: ConsumerService;
  replica: ConsumerReplica;
  authorizer: Authorizer;
  clock: { now: number };
  /** Applies every store change made since the last sync to the ConsumerReplica. */
  sync(): Promise<void>;
  check(req: Partial<AuthzRequest>): Promise<Decision>;
}

export async function harness(opts: { tokenCacheSize?: number; start?: number } = {}): Promise<Harness> {
  const clock = { now: opts.start ?? Date.UTC(2026, 0, 15, 12, 0, 0) };
  const { service, replica, authorizer, sync } = await stack({ now: () => clock.now, tokenCacheSize: opts.tokenCacheSize });
  return {
    service,
    replica,
    authorizer,
    clock,
    sync,
    async check(req) {
      return authorizer.check({ id: 't', method: 'GET', path: '/', headers: {}, route: '', ...req });
    },
  };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Seconds since the epoch of a harness clock. */
export function secs(ms: number): number {
  return Math.floor(ms / 1000);
}
