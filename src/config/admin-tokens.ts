/**
 * The admin tokens file format (ADMIN_TOKENS_FILE, JSON or YAML). It holds
 * SHA-256 digests, never tokens, so a leaked file or config map grants
 * nothing:
 *
 *   [{"name": "ci", "sha256": "<64 hex>", "scope": "read-write"},
 *    {"name": "grafana", "sha256": "<64 hex>", "scope": "read-only"}]
 *
 * `consumer-authz tokens new NAME --scope read-only` makes a token and prints
 * its file entry. Checking a presented token is the admin server's job
 * (src/admin/tokens.ts); this file only reads, writes and hashes the format.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';

export type AdminScope = 'read-only' | 'read-write';

/** One entry of the tokens file. */
export interface AdminTokenEntry {
  readonly name: string;
  /** SHA-256 of the token, lower-case hex. */
  readonly sha256: string;
  readonly scope: AdminScope;
}

/** The name of the principal of an admin API left open (no token configured; loopback only). */
export const ANONYMOUS_NAME = 'anonymous';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SCOPES: readonly AdminScope[] = ['read-only', 'read-write'];

/** SHA-256 of a token, lower-case hex (the form the tokens file holds). */
export function hashAdminToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A fresh token: 192 random bits, prefixed so it is recognizable in a secret scanner. */
export function generateAdminToken(): string {
  return `cat_${randomBytes(24).toString('base64url')}`;
}

/**
 * Parses the tokens file's text. Throws an Error whose message names the
 * entry and the fix.
 */
export function parseAdminTokens(text: string): AdminTokenEntry[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`is not valid JSON or YAML (${(err as Error).message.split('\n')[0]})`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) throw new Error('must be a list of {name, sha256, scope} entries (or {"tokens": [...]})');
  const names = new Set<string>();
  const digests = new Set<string>();
  return list.map((raw, i) => {
    const at = `entry ${i}`;
    if (typeof raw !== 'object' || raw === null) throw new Error(`${at}: must be an object {name, sha256, scope}`);
    const e = raw as Record<string, unknown>;
    if ('token' in e) {
      throw new Error(`${at}: holds a plaintext "token"; store its SHA-256 as "sha256" instead (consumer-authz tokens new NAME prints the entry)`);
    }
    for (const k of Object.keys(e)) if (!['name', 'sha256', 'scope'].includes(k)) throw new Error(`${at}: unknown field "${k}"`);
    if (typeof e.name !== 'string' || !NAME_RE.test(e.name)) throw new Error(`${at}: "name" must match ${NAME_RE.source}`);
    if (e.name === 'admin' || e.name === ANONYMOUS_NAME) throw new Error(`${at}: the name "${e.name}" is reserved`);
    if (names.has(e.name)) throw new Error(`${at}: the name "${e.name}" appears twice`);
    if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) {
      throw new Error(`${at} (${e.name}): "sha256" must be 64 hex digits, e.g. from: printf %s "$TOKEN" | sha256sum`);
    }
    const sha256 = e.sha256.toLowerCase();
    if (digests.has(sha256)) throw new Error(`${at} (${e.name}): the same token is listed twice`);
    const scope = e.scope ?? 'read-only';
    if (!SCOPES.includes(scope as AdminScope)) throw new Error(`${at} (${e.name}): "scope" must be read-only or read-write`);
    names.add(e.name);
    digests.add(sha256);
    return Object.freeze({ name: e.name, sha256, scope: scope as AdminScope });
  });
}
