/**
 * Named admin tokens with a scope, checked on every admin API request. The
 * entries come from the tokens file (its format: src/config/admin-tokens.ts)
 * and ADMIN_TOKEN, which, when set, is one more token named `admin` with
 * scope read-write.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ANONYMOUS_NAME, type AdminScope, type AdminTokenEntry } from '../config/admin-tokens.js';

/** Who made an admin request. */
export interface AdminPrincipal {
  readonly name: string;
  readonly scope: AdminScope;
}

/** The principal of requests on an admin API left open (no token configured; loopback only). */
export const ANONYMOUS: AdminPrincipal = Object.freeze({ name: ANONYMOUS_NAME, scope: 'read-write' });

/** Verifies bearer tokens against the configured entries. */
export class AdminTokens {
  readonly #entries: ReadonlyArray<{ principal: AdminPrincipal; digest: Buffer }>;

  constructor(entries: readonly AdminTokenEntry[]) {
    this.#entries = entries.map((e) => ({
      principal: Object.freeze({ name: e.name, scope: e.scope }),
      digest: Buffer.from(e.sha256, 'hex'),
    }));
  }

  /** True when at least one token is configured (the API is then closed to everyone else). */
  get required(): boolean {
    return this.#entries.length > 0;
  }

  /**
   * The principal a presented token belongs to, or undefined. Every entry is
   * compared (no early exit), each in constant time over equal-length digests.
   */
  verify(token: string): AdminPrincipal | undefined {
    const presented = createHash('sha256').update(token, 'utf8').digest();
    let found: AdminPrincipal | undefined;
    for (const e of this.#entries) {
      if (timingSafeEqual(presented, e.digest)) found = e.principal;
    }
    return found;
  }
}
