/**
 * The `consumer-authz` command line: `serve`, and a client of the admin API
 * for consumers, keys and route grants. `runCli` is a plain function of its
 * arguments and streams so tests drive it in-process.
 */
import { parseArgs } from 'node:util';
import { ENV_DOC } from '../config.js';
import { generateAdminToken, hashAdminToken } from './tokens.js';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

export const USAGE = `Usage: consumer-authz <command> [options]

Commands:
  serve                                   start the service (configured by environment variables)
  consumers create NAME [--description TEXT] [--disabled]
                   [--key KEY] [--source bearer|header:NAME|query:NAME] [--expires ISO8601]
                                          create an API-key consumer; without --key a key is generated
                                          and printed once
  consumers list [--limit N] [--cursor C]  list consumers
  consumers get NAME                      show one consumer (never a secret)
  consumers enable NAME | disable NAME    switch a consumer on or off
  consumers delete NAME                   delete a consumer and its keys
  keys add NAME [--key KEY] [--expires ISO8601]
                                          add a key (rotation); printed once
  keys remove NAME KEYID                  remove a key
  routes grant ROUTE NAME...              admit these consumers on ROUTE (others get 403)
  routes revoke ROUTE NAME...             take consumers off ROUTE (no grants left: open to all)
  routes show ROUTE                       show a route's grants
  routes list                             list routes with grants
  audit [--limit N] [--cursor C]          admin changes, newest first (who, what, when)
  tokens new NAME [--scope read-only|read-write]
                                          make an admin token (printed once) and its ADMIN_TOKENS_FILE
                                          entry (works offline; the file holds only the SHA-256)

Options:
  --url URL      admin API (env CONSUMER_AUTHZ_URL, default http://127.0.0.1:9002)
  --token TOKEN  admin token (env ADMIN_TOKEN)
  --json         print the API's JSON answer
  -h, --help     this text
`;

class UsageError extends Error {}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Runs one command; resolves with the process exit code (0 ok, 1 refused by the API, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        description: { type: 'string' },
        disabled: { type: 'boolean', default: false },
        key: { type: 'string' },
        source: { type: 'string' },
        expires: { type: 'string' },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        scope: { type: 'string' },
      },
    });
  } catch (err) {
    io.stderr(`consumer-authz: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals: pos } = parsed;
  if (o.help || pos.length === 0) {
    io.stdout(USAGE + envHelp());
    return pos.length === 0 && !o.help ? 2 : 0;
  }
  const api = new AdminClient(
    o.url ?? io.env.CONSUMER_AUTHZ_URL ?? 'http://127.0.0.1:9002',
    o.token ?? io.env.ADMIN_TOKEN,
    io.fetch ?? fetch,
  );
  const print = (human: string, json: unknown) => io.stdout(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
  try {
    const [group, verb, ...rest] = pos;
    const one = (what: string) => {
      if (rest.length !== 1) throw new UsageError(`${group} ${verb} takes exactly one ${what}`);
      return rest[0] as string;
    };
    const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');
    switch (`${group} ${verb ?? ''}`.trim()) {
      case 'consumers create': {
        const name = one('NAME');
        const auth: Record<string, unknown> = { type: 'api-key', source: parseSource(o.source) };
        if (o.key !== undefined) {
          auth.generation = 'custom';
          auth.key = o.key;
        }
        if (o.expires !== undefined) auth.expiresAt = o.expires;
        const body: Record<string, unknown> = { name, auth, enabled: !o.disabled };
        if (o.description !== undefined) body.description = o.description;
        const res = (await api.call('POST', 'consumers', body)) as { consumer: Consumer; apiKey: string };
        print(
          `created consumer ${res.consumer.name} (${describeAuth(res.consumer)}, ${res.consumer.enabled ? 'enabled' : 'disabled'})\n` +
            `API key (shown once; store it now): ${res.apiKey}`,
          res,
        );
        return 0;
      }
      case 'consumers list': {
        const q = new URLSearchParams();
        if (o.limit) q.set('limit', o.limit);
        if (o.cursor) q.set('cursor', o.cursor);
        const res = (await api.call('GET', `consumers${q.size ? `?${q}` : ''}`)) as { items: Consumer[]; nextCursor: string | null };
        const lines = res.items.map((c) => `${c.name}\t${c.enabled ? 'enabled' : 'disabled'}\t${describeAuth(c)}\t${c.description}`);
        if (res.nextCursor) lines.push(`(more: --cursor ${res.nextCursor})`);
        print(lines.length ? lines.join('\n') : '(no consumers)', res);
        return 0;
      }
      case 'consumers get': {
        const res = (await api.call('GET', `consumers/${path(one('NAME'))}`)) as Consumer;
        print(JSON.stringify(res, null, 2), res);
        return 0;
      }
      case 'consumers enable':
      case 'consumers disable': {
        const enabled = verb === 'enable';
        const res = (await api.call('PATCH', `consumers/${path(one('NAME'))}`, { enabled })) as Consumer;
        print(`consumer ${res.name} is ${enabled ? 'enabled' : 'disabled'}`, res);
        return 0;
      }
      case 'consumers delete': {
        const name = one('NAME');
        await api.call('DELETE', `consumers/${path(name)}`);
        print(`deleted consumer ${name}`, { deleted: name });
        return 0;
      }
      case 'keys add': {
        const name = one('NAME');
        const body: Record<string, unknown> = {};
        if (o.key !== undefined) {
          body.generation = 'custom';
          body.key = o.key;
        }
        if (o.expires !== undefined) body.expiresAt = o.expires;
        const res = (await api.call('POST', `consumers/${path(name)}/keys`, body)) as { key: { id: string }; apiKey: string };
        print(`added key ${res.key.id} to ${name}\nAPI key (shown once; store it now): ${res.apiKey}`, res);
        return 0;
      }
      case 'keys remove': {
        if (rest.length !== 2) throw new UsageError('keys remove takes NAME KEYID');
        const [name, keyId] = rest as [string, string];
        await api.call('DELETE', `consumers/${path(name, 'keys', keyId)}`);
        print(`removed key ${keyId} from ${name}`, { removed: keyId });
        return 0;
      }
      case 'routes grant':
      case 'routes revoke': {
        const [route, ...names] = rest;
        if (!route || names.length === 0) throw new UsageError(`routes ${verb} takes ROUTE NAME...`);
        const cur = await api.callOr404('GET', `routes/${path(route)}`);
        const set = new Set((cur as { consumers?: string[] } | undefined)?.consumers ?? []);
        for (const n of names) {
          if (verb === 'grant') set.add(n);
          else set.delete(n);
        }
        if (set.size === 0) {
          if (cur) await api.call('DELETE', `routes/${path(route)}`);
          print(`route ${route} has no grants: it admits every enabled consumer`, { route, consumers: [] });
          return 0;
        }
        const res = (await api.call('PUT', `routes/${path(route)}`, { consumers: [...set] })) as { consumers: string[] };
        print(`route ${route} admits: ${res.consumers.join(', ')}`, res);
        return 0;
      }
      case 'routes show': {
        const route = one('ROUTE');
        const res = (await api.callOr404('GET', `routes/${path(route)}`)) as { consumers: string[] } | undefined;
        const shown = res ?? { route, consumers: [] };
        print(res ? `route ${route} admits: ${res.consumers.join(', ')}` : `route ${route} has no grants: it admits every enabled consumer`, shown);
        return 0;
      }
      case 'routes list': {
        const res = (await api.call('GET', 'routes')) as { items: Array<{ route: string; consumers: string[] }> };
        print(res.items.map((r) => `${r.route}\t${r.consumers.join(',')}`).join('\n') || '(no routes with grants)', res);
        return 0;
      }
      case 'audit': {
        const q = new URLSearchParams();
        if (o.limit) q.set('limit', o.limit);
        if (o.cursor) q.set('cursor', o.cursor);
        const res = (await api.call('GET', `audit${q.size ? `?${q}` : ''}`)) as { items: AuditItem[]; nextCursor: string | null };
        const lines = res.items.map((e) => `${e.at}\t${e.actor}\t${e.action}\t${e.target}`);
        if (res.nextCursor) lines.push(`(more: --cursor ${res.nextCursor})`);
        print(lines.length ? lines.join('\n') : '(no admin changes recorded)', res);
        return 0;
      }
      case 'tokens new': {
        const name = one('NAME');
        const scope = o.scope ?? 'read-only';
        if (scope !== 'read-only' && scope !== 'read-write') throw new UsageError('--scope must be read-only or read-write');
        const token = generateAdminToken();
        const entry = { name, sha256: hashAdminToken(token), scope };
        print(
          `admin token for ${name} (shown once; give it to its user): ${token}\n` +
            `add this entry to the ADMIN_TOKENS_FILE list:\n${JSON.stringify(entry)}`,
          { token, entry },
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command: ${pos.join(' ')}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`consumer-authz: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ApiError) {
      io.stderr(`consumer-authz: ${err.code} (${err.status}): ${err.message}\n`);
      return 1;
    }
    io.stderr(`consumer-authz: cannot reach the admin API at ${api.base}: ${(err as Error).message}\n`);
    return 1;
  }
}

interface AuditItem {
  at: string;
  actor: string;
  action: string;
  target: string;
}

interface Consumer {
  name: string;
  enabled: boolean;
  description: string;
  auth: { type: string; source?: { in: string; name?: string } };
}

function describeAuth(c: Consumer): string {
  const s = c.auth.source;
  if (c.auth.type === 'api-key' && s) return `api-key from ${s.in === 'bearer' ? 'Authorization: Bearer' : `${s.in} ${s.name}`}`;
  return c.auth.type;
}

function parseSource(s: string | undefined): unknown {
  if (s === undefined || s === 'bearer') return { in: 'bearer' };
  const m = /^(header|query):(.+)$/.exec(s);
  if (!m) throw new UsageError('--source must be bearer, header:NAME or query:NAME');
  return { in: m[1], name: m[2] };
}

function envHelp(): string {
  const rows = ENV_DOC.map(([name, dflt, what]) => `  ${name.padEnd(18)} ${dflt.padEnd(24)} ${what}`);
  return `\nEnvironment of "serve":\n${rows.join('\n')}\n`;
}

class AdminClient {
  readonly base: string;
  constructor(
    base: string,
    readonly token: string | undefined,
    readonly doFetch: typeof fetch,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.doFetch(`${this.base}/v1/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? 'error', e?.message ?? res.statusText);
    }
    return json;
  }

  async callOr404(method: string, path: string): Promise<unknown> {
    try {
      return await this.call(method, path);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }
}
