/**
 * The `consumer-authz` command line: `serve`, and a client of the admin API
 * for consumers, keys and route grants. `runCli` is a plain function of its
 * arguments and streams so tests drive it in-process.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type {
  ApiKeyAuthView,
  AuditEntryView,
  AuthView,
  ConsumerLimits,
  ConsumerView,
  JwtAuthView,
  QuotaUsageView,
  RateLimitSpec,
  RouteMatchRuleView,
  RouteView,
} from '../admin/views.js';
// jose, config (ioredis, yaml) and tokens are loaded by the commands that use them: every command
// is a fresh process, and these imports were most of its start-up time.

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

export const USAGE = `Usage: consumer-authz <command> [options]

Commands:
  serve                                   start the service (configured by environment variables)
  check [-H 'NAME: VALUE']... [--path P] [--method M] [--host H] [--route R] [--grpc HOST:PORT]
        [--json] [--explain]              send the CheckRequest Envoy would send for this request
                                          and print the decision; exit 0 allow, 1 deny, 3 no
                                          decision (503, port unreachable); "check --help" for more
  consumers create NAME [--description TEXT] [--disabled]
                   [--key KEY] [--source bearer|header:NAME|query:NAME] [--expires RFC3339]
                   [--key-out FILE]       create an API-key consumer; without --key a key is generated
                                          and printed once (and written to --key-out FILE, mode 0600)
  consumers list [--limit N] [--cursor C]  list consumers
  consumers get NAME                      show one consumer (never a secret)
  consumers enable NAME | disable NAME    switch a consumer on or off
  consumers update NAME --description TEXT
                                          change a consumer's description ("" clears it)
  consumers delete NAME                   delete a consumer and its keys
  consumers create NAME --jwt symmetric|asymmetric [--jwks FILE] [--jwks-out FILE]
                   [--token header:NAME|query:NAME|cookie:NAME] [--prefix Bearer] [--passthrough]
                   [--claim uid] [--claim-value VALUE] [--issuer ISS] [--audience AUD]
                                          create a JWT consumer. symmetric: the service generates an
                                          HS256 JWKS, printed once (and written to --jwks-out FILE,
                                          mode 0600). asymmetric: --jwks FILE holds the public keys
                                          (a JWKS, one JWK, or a PEM public key)
  keys add NAME [--key KEY] [--expires RFC3339] [--key-out FILE]
                                          add an API key (rotation); printed once
  keys add NAME [--jwk FILE] [--jwks-out FILE]
                                          add a key to a JWT consumer: symmetric generates one (printed
                                          once); asymmetric takes a public JWK or PEM in FILE
  keys remove NAME KEYID                  remove a key (for JWT consumers KEYID is the kid)
  jwt mint NAME --jwks FILE [--ttl SECONDS] [--claim-value V]
                                          print a test token for a symmetric consumer: HS256 with the
                                          first key of FILE, claims read from the admin API
  jwt mint NAME --private-key FILE [--ttl SECONDS] [--claim-value V]
                                          the same for an asymmetric consumer, signed with a PEM
                                          private key (EC, RSA as RS256, or Ed25519)
  routes grant ROUTE NAME... [--expires RFC3339]
                                          admit these consumers on ROUTE (others get 403); with
                                          --expires the grant is short-term (then 403 grant_expired),
                                          without it long-term (granting again renews or makes it so)
  routes revoke ROUTE NAME...             take consumers off ROUTE (none left: ROUTE admits nobody)
  routes clear ROUTE                      remove ROUTE's grants: it admits every enabled consumer
  routes match ROUTE [--host H]... [--path P] [--method M]... [--add]
                                          name ROUTE from requests that carry no route name (Istio):
                                          H exact or *.suffix; P exact:/p, prefix:/p, template:/p/{id}
                                          (bare: /p exact, /p/* prefix, {name} template); no --host /
                                          --method: any. Replaces ROUTE's rules; --add adds this one
  routes match ROUTE --clear              remove ROUTE's match rules
  routes show ROUTE                       show a route's grants and match rules
  routes list                             list routes with grants or match rules
  limits set NAME [--rate N/s|N/m|N/h] [--burst N] [--route ROUTE=N/s]... [--quota N/day|N/month]
                  [--time-zone TZ] [--headers]
                                          set a consumer's limits (replaces them): a rate limit on
                                          every route, one per route, a calendar quota (in TZ, default
                                          UTC); --headers: RateLimit headers on allowed answers too.
                                          Past a limit: 429 rate_limited / quota_exhausted
  limits clear NAME                       remove a consumer's limits
  limits show NAME                        a consumer's limits and this period's quota use
  quota top-up NAME N                     add N requests to this period's quota (credits)
  quota reset NAME                        start this period's quota count over
  audit [--limit N] [--cursor C]          admin changes, newest first (who, what, when)
  tokens new NAME [--scope read-only|read-write]
                                          make an admin token (printed once) and its ADMIN_TOKENS_FILE
                                          entry (works offline; the file holds only the SHA-256)

Options:
  --url URL      admin API (env CONSUMER_AUTHZ_URL, default http://127.0.0.1:9002)
  --token TOKEN  admin token (env ADMIN_TOKEN; also --admin-token). With consumers create --jwt,
                 --token header:NAME|query:NAME|cookie:NAME is where the consumer's token is read
  --json         print the API's JSON answer
  -h, --help     this text
`;

class UsageError extends Error {}

const TOKEN_LOCATION_RE = /^(header|query|cookie):(.+)$/;

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
  // `check` talks to the gRPC port and has options of its own (src/cli/check.ts).
  // Loaded on demand: the gRPC client stack costs start-up time the admin commands need not pay.
  if (argv[0] === 'check') return (await import('./check.js')).runCheck(argv.slice(1), io);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string', multiple: true },
        'admin-token': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        description: { type: 'string' },
        disabled: { type: 'boolean', default: false },
        key: { type: 'string' },
        source: { type: 'string' },
        expires: { type: 'string' },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        jwt: { type: 'string' },
        jwks: { type: 'string' },
        'jwks-out': { type: 'string' },
        'key-out': { type: 'string' },
        jwk: { type: 'string' },
        prefix: { type: 'string' },
        passthrough: { type: 'boolean', default: false },
        claim: { type: 'string' },
        'claim-value': { type: 'string' },
        issuer: { type: 'string' },
        audience: { type: 'string' },
        ttl: { type: 'string' },
        'private-key': { type: 'string' },
        scope: { type: 'string' },
        host: { type: 'string', multiple: true },
        path: { type: 'string' },
        method: { type: 'string', multiple: true },
        add: { type: 'boolean', default: false },
        clear: { type: 'boolean', default: false },
        rate: { type: 'string' },
        burst: { type: 'string' },
        route: { type: 'string', multiple: true },
        quota: { type: 'string' },
        'time-zone': { type: 'string' },
        headers: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    io.stderr(`consumer-authz: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: parsedValues, positionals: pos } = parsed;
  // --token is the admin token, except that `consumers create --jwt` reads a
  // value of the form header:|query:|cookie:NAME as the token location.
  const tokens = parsedValues.token ?? [];
  const locationToken = parsedValues.jwt !== undefined ? tokens.find((v) => TOKEN_LOCATION_RE.test(v)) : undefined;
  const adminToken = parsedValues['admin-token'] ?? tokens.find((v) => v !== locationToken);
  const o = { ...parsedValues, token: locationToken, adminToken };
  if (o.help || pos.length === 0) {
    io.stdout(USAGE + (await envHelp()));
    return pos.length === 0 && !o.help ? 2 : 0;
  }
  const api = new AdminClient(
    o.url ?? io.env.CONSUMER_AUTHZ_URL ?? 'http://127.0.0.1:9002',
    o.adminToken ?? io.env.ADMIN_TOKEN,
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
        if (o.jwt !== undefined) {
          const body: Record<string, unknown> = { name, auth: jwtAuth(o), enabled: !o.disabled };
          if (o.description !== undefined) body.description = o.description;
          const res = (await api.call('POST', 'consumers', body)) as { consumer: Consumer; jwks?: { keys: unknown[] } };
          let human = `created consumer ${res.consumer.name} (${describeAuth(res.consumer)}, ${res.consumer.enabled ? 'enabled' : 'disabled'})`;
          if (res.jwks) {
            human += `\nJWKS with the HS256 secret (shown once; store it now):\n${JSON.stringify(res.jwks)}`;
            if (o['jwks-out'] !== undefined) human += `\n${writeSecretFile(o['jwks-out'], res.jwks)}`;
          }
          print(human, res);
          return 0;
        }
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
            `API key (shown once; store it now): ${res.apiKey}${keyOut(o['key-out'], res.apiKey)}`,
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
      case 'consumers update': {
        const name = one('NAME');
        if (o.description === undefined) throw new UsageError('consumers update needs --description TEXT');
        const res = (await api.call('PATCH', `consumers/${path(name)}`, { description: o.description })) as Consumer;
        print(`consumer ${res.name} description: ${res.description === '' ? '(none)' : res.description}`, res);
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
        if (o.jwk !== undefined) {
          const res = (await api.call('POST', `consumers/${path(name)}/keys`, { jwk: readJwk(o.jwk) })) as { key: { kid: string } };
          print(`added key ${res.key.kid} to ${name}`, res);
          return 0;
        }
        const body: Record<string, unknown> = {};
        if (o.key !== undefined) {
          body.generation = 'custom';
          body.key = o.key;
        }
        if (o.expires !== undefined) body.expiresAt = o.expires;
        const res = (await api.call('POST', `consumers/${path(name)}/keys`, body)) as {
          key: { id?: string; kid?: string };
          apiKey?: string;
          jwks?: unknown;
        };
        if (res.jwks !== undefined) {
          let human = `added key ${res.key.kid} to ${name}\nJWKS with the new HS256 secret (shown once; store it now):\n${JSON.stringify(res.jwks)}`;
          if (o['jwks-out'] !== undefined) human += `\n${writeSecretFile(o['jwks-out'], res.jwks)}`;
          print(human, res);
        } else {
          print(`added key ${res.key.id} to ${name}\nAPI key (shown once; store it now): ${res.apiKey}${keyOut(o['key-out'], res.apiKey)}`, res);
        }
        return 0;
      }
      case 'jwt mint': {
        const name = one('NAME');
        const c = (await api.call('GET', `consumers/${path(name)}`)) as Consumer;
        if (c.auth.type !== 'jwt' || !c.auth.identity) throw new UsageError(`consumer ${name} is not a JWT consumer`);
        const token = await mint(c, o);
        print(token, { token });
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
        if (verb === 'revoke' && o.expires !== undefined) throw new UsageError('routes revoke takes no --expires');
        const res = (await api.updateRoute(route, (cur) => {
          const set = new Set(cur?.consumers ?? []);
          const expires: Record<string, string> = { ...cur?.expires };
          for (const n of names) {
            if (verb === 'grant') set.add(n);
            else set.delete(n);
            delete expires[n];
            if (verb === 'grant' && o.expires !== undefined) expires[n] = o.expires;
          }
          for (const n of Object.keys(expires)) if (!set.has(n)) delete expires[n];
          const body: Record<string, unknown> = { consumers: [...set] };
          if (Object.keys(expires).length > 0) body.expires = expires;
          return { put: body };
        })) as RouteView;
        print(describeGrants(route, res), res);
        return 0;
      }
      case 'routes clear': {
        const route = one('ROUTE');
        let existed = false;
        await api.updateRoute(route, (cur) => {
          existed = cur !== undefined;
          // A route with match rules keeps them: only its grant list goes.
          return cur?.match ? { put: { consumers: null } } : cur ? 'delete' : 'keep';
        });
        print(describeGrants(route, undefined), { route, cleared: existed });
        return 0;
      }
      case 'routes match': {
        const route = one('ROUTE');
        const rule = matchRule(o);
        if (o.clear && (rule || o.add)) throw new UsageError('routes match --clear takes no --host, --path, --method or --add');
        if (!o.clear && !rule) throw new UsageError('routes match takes --host, --path or --method (or --clear)');
        if (o.clear) {
          let had = false;
          await api.updateRoute(route, (cur) => {
            had = cur?.match !== undefined;
            // A route that exists only for its rules (no grant list) goes with them.
            return cur?.open ? 'delete' : cur?.match ? { put: { match: null } } : 'keep';
          });
          print(`route ${route} has no match rules: it is named only by context_extensions.route`, { route, cleared: had });
          return 0;
        }
        const res = (await api.updateRoute(route, (cur) => ({ put: { match: o.add ? [...(cur?.match ?? []), rule] : [rule] } }))) as RouteView;
        print(`${describeGrants(route, res)}\n${describeMatch(res)}`, res);
        return 0;
      }
      case 'routes show': {
        const route = one('ROUTE');
        const res = (await api.callOr404('GET', `routes/${path(route)}`)) as RouteView | undefined;
        print(res?.match ? `${describeGrants(route, res)}\n${describeMatch(res)}` : describeGrants(route, res), res ?? { route, consumers: null });
        return 0;
      }
      case 'routes list': {
        const res = (await api.call('GET', 'routes')) as { items: RouteView[] };
        const line = (r: RouteView) => {
          const grants = r.open ? '(no grants)' : r.consumers.map((n) => grantee(r, n)).join(',');
          return r.match ? `${r.route}\t${grants}\t${r.match.map(ruleText).join(' | ')}` : `${r.route}\t${grants}`;
        };
        print(res.items.map(line).join('\n') || '(no routes with grants)', res);
        return 0;
      }
      case 'limits set': {
        const name = one('NAME');
        const res = (await api.call('PATCH', `consumers/${path(name)}`, { limits: limitsFrom(o) })) as Consumer;
        print(`limits of ${res.name}: ${describeLimits(res.limits)}`, res);
        return 0;
      }
      case 'limits clear': {
        const res = (await api.call('PATCH', `consumers/${path(one('NAME'))}`, { limits: null })) as Consumer;
        print(`limits of ${res.name}: none`, res);
        return 0;
      }
      case 'limits show': {
        const name = one('NAME');
        const c = (await api.call('GET', `consumers/${path(name)}`)) as Consumer;
        const usage = (await api.call('GET', `consumers/${path(name)}/usage`)) as { quota: QuotaUsageView | null };
        const lines = [`limits of ${c.name}: ${describeLimits(c.limits)}`];
        if (usage.quota) lines.push(describeQuota(usage.quota));
        print(lines.join('\n'), { limits: c.limits ?? null, quota: usage.quota });
        return 0;
      }
      case 'quota top-up': {
        if (rest.length !== 2 || !/^[1-9]\d{0,9}$/.test(rest[1] as string)) throw new UsageError('quota top-up takes NAME and a whole number N');
        const res = (await api.call('POST', `consumers/${path(rest[0] as string)}/quota/top-up`, { requests: Number(rest[1]) })) as { quota: QuotaUsageView };
        print(describeQuota(res.quota), res);
        return 0;
      }
      case 'quota reset': {
        const res = (await api.call('POST', `consumers/${path(one('NAME'))}/quota/reset`)) as { quota: QuotaUsageView };
        print(describeQuota(res.quota), res);
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
        const { generateAdminToken, hashAdminToken } = await import('../config/admin-tokens.js');
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

type AuditItem = AuditEntryView;

/**
 * A consumer as the CLI reads it: the API's view with the fields of both
 * authentication kinds optional, so one reading covers either kind.
 */
interface Consumer extends Omit<ConsumerView, 'auth'> {
  auth: Pick<AuthView, 'type'> & Partial<Omit<ApiKeyAuthView, 'type'>> & Partial<Omit<JwtAuthView, 'type'>>;
}

/** What a route's grants mean, in words. */
const PER: Record<string, RateLimitSpec['per']> = { s: 'second', sec: 'second', second: 'second', m: 'minute', min: 'minute', minute: 'minute', h: 'hour', hour: 'hour' };

/** `100/s` (also /sec, /second, /m, /min, /minute, /h, /hour) as a rate limit. */
function rateFrom(text: string, flag: string, burst?: string): RateLimitSpec {
  const m = /^([1-9]\d{0,9})\/([a-z]+)$/.exec(text);
  const per = m && PER[m[2] as string];
  if (!m || !per) throw new UsageError(`${flag} takes N/s, N/m or N/h (e.g. 100/s), not ${JSON.stringify(text)}`);
  const spec: RateLimitSpec = { requests: Number(m[1]), per };
  if (burst !== undefined) {
    if (!/^[1-9]\d{0,9}$/.test(burst)) throw new UsageError('--burst takes a whole number');
    spec.burst = Number(burst);
  }
  return spec;
}

interface LimitFlags {
  rate?: string;
  burst?: string;
  route?: string[];
  quota?: string;
  'time-zone'?: string;
  headers?: boolean;
}

function limitsFrom(o: LimitFlags): ConsumerLimits {
  const limits: ConsumerLimits = {};
  if (o.rate !== undefined) limits.rate = rateFrom(o.rate, '--rate', o.burst);
  else if (o.burst !== undefined) throw new UsageError('--burst goes with --rate');
  for (const r of o.route ?? []) {
    const eq = r.indexOf('=');
    if (eq <= 0) throw new UsageError(`--route takes ROUTE=N/s (e.g. chat=10/s), not ${JSON.stringify(r)}`);
    limits.routes = { ...limits.routes, [r.slice(0, eq)]: rateFrom(r.slice(eq + 1), '--route') };
  }
  if (o.quota !== undefined) {
    const m = /^([1-9]\d{0,9})\/(day|d|month|mo)$/.exec(o.quota);
    if (!m) throw new UsageError(`--quota takes N/day or N/month (e.g. 10000/day), not ${JSON.stringify(o.quota)}`);
    limits.quota = { requests: Number(m[1]), period: m[2]?.startsWith('d') ? 'day' : 'month', ...(o['time-zone'] ? { timeZone: o['time-zone'] } : {}) };
  } else if (o['time-zone'] !== undefined) throw new UsageError('--time-zone goes with --quota');
  if (o.headers) limits.headers = true;
  if (!limits.rate && !limits.routes && !limits.quota) throw new UsageError('limits set needs --rate, --route or --quota (limits clear removes them)');
  return limits;
}

function rateText(r: RateLimitSpec): string {
  return `${r.requests}/${r.per}${r.burst !== undefined ? ` (burst ${r.burst})` : ''}`;
}

function describeLimits(l: ConsumerLimits | undefined): string {
  if (!l) return 'none';
  const parts: string[] = [];
  if (l.rate) parts.push(`rate ${rateText(l.rate)}`);
  for (const [route, r] of Object.entries(l.routes ?? {})) parts.push(`on ${route} ${rateText(r)}`);
  if (l.quota) parts.push(`quota ${l.quota.requests}/${l.quota.period} (${l.quota.timeZone ?? 'UTC'})`);
  if (l.headers) parts.push('RateLimit headers on allowed answers');
  return parts.join(', ');
}

function describeQuota(q: QuotaUsageView): string {
  const credits = q.credits > 0 ? ` + ${q.credits} credits` : '';
  return `quota ${q.periodId}: ${q.used} used of ${q.requests}${credits}, ${q.remaining} left (period ends ${q.periodEnd})`;
}

function describeGrants(route: string, rec: Pick<RouteView, 'consumers' | 'expires' | 'expired' | 'open'> | undefined): string {
  if (rec === undefined || rec.open) return `route ${route} has no grants: it admits every enabled consumer`;
  if (rec.consumers.length === 0) {
    return `route ${route} admits nobody (its grant list is empty); "routes clear ${route}" opens it to every enabled consumer`;
  }
  return `route ${route} admits: ${rec.consumers.map((n) => grantee(rec, n)).join(', ')}`;
}

/** The rule `routes match` options describe, or undefined when none was given. */
function matchRule(o: { host?: string[]; path?: string; method?: string[] }): RouteMatchRuleView | undefined {
  if (o.host === undefined && o.path === undefined && o.method === undefined) return undefined;
  const rule: { hosts?: string[]; path?: RouteMatchRuleView['path']; methods?: string[] } = {};
  if (o.host) rule.hosts = o.host;
  if (o.method) rule.methods = o.method.map((m) => m.toUpperCase());
  if (o.path !== undefined) rule.path = pathRule(o.path);
  return rule;
}

/** `exact:/p`, `prefix:/p`, `template:/p/{id}`; bare: `/p/*` a prefix, a `{name}` a template, else exact. */
function pathRule(p: string): NonNullable<RouteMatchRuleView['path']> {
  const m = /^(exact|prefix|template):(.*)$/.exec(p);
  if (m) {
    const text = m[2] as string;
    return m[1] === 'exact' ? { exact: text } : m[1] === 'prefix' ? { prefix: text } : { template: text };
  }
  if (p === '/*') return { prefix: '/' };
  if (p.endsWith('/*')) return { prefix: p.slice(0, -2) };
  if (p.includes('{')) return { template: p };
  return { exact: p };
}

/** A route's match rules, one line each. */
function describeMatch(rec: Pick<RouteView, 'match'>): string {
  if (!rec.match || rec.match.length === 0) return '  no match rules: named only by context_extensions.route';
  return rec.match.map((r) => `  matches ${ruleText(r)}`).join('\n');
}

function ruleText(r: RouteMatchRuleView): string {
  const p = r.path;
  const path = !p ? 'any path' : 'exact' in p ? `exact ${p.exact}` : 'prefix' in p ? `prefix ${p.prefix}` : `template ${p.template}`;
  const hosts = r.hosts && r.hosts.length > 0 ? `host ${r.hosts.join(',')}` : 'any host';
  const methods = r.methods && r.methods.length > 0 ? r.methods.join(',') : 'any method';
  return `${path}, ${hosts}, ${methods}`;
}

/** A grantee in words: `alice`, `bob (until 2027-01-31T00:00:00.000Z)`, `carol (expired 2026-…)`. */
function grantee(rec: Pick<RouteView, 'expires' | 'expired'>, name: string): string {
  const at = rec.expires?.[name];
  if (at === undefined) return name;
  return rec.expired?.includes(name) ? `${name} (expired ${at})` : `${name} (until ${at})`;
}

function describeAuth(c: Consumer): string {
  const s = c.auth.source;
  if (c.auth.type === 'api-key' && s) return `api-key from ${s.in === 'bearer' ? 'Authorization: Bearer' : `${s.in} ${s.name}`}`;
  const t = c.auth.token;
  if (c.auth.type === 'jwt' && t && c.auth.identity) {
    const where = t.in === 'header' ? `header ${t.name}${t.prefix ? ` "${t.prefix}"` : ''}` : `${t.in} ${t.name}`;
    return `jwt ${c.auth.keyType} from ${where}, identity ${c.auth.identity.claim}=${c.auth.identity.value}`;
  }
  return c.auth.type;
}

type Opts = Record<string, string | string[] | boolean | undefined>;

/** The `auth` object of a JWT consumer from the create options. */
function jwtAuth(o: Opts): Record<string, unknown> {
  const keyType = o.jwt;
  if (keyType !== 'symmetric' && keyType !== 'asymmetric') throw new UsageError('--jwt must be symmetric or asymmetric');
  const auth: Record<string, unknown> = { type: 'jwt', keyType };
  if (keyType === 'asymmetric') {
    if (typeof o.jwks !== 'string') throw new UsageError('--jwt asymmetric needs --jwks FILE (a JWKS, a JWK or a PEM public key)');
    auth.jwks = readJwks(o.jwks);
  } else if (o.jwks !== undefined) {
    throw new UsageError('--jwks is for asymmetric consumers; a symmetric consumer\'s JWKS is generated (use --jwks-out FILE to save it)');
  }
  if (o['jwks-out'] !== undefined && keyType !== 'symmetric') throw new UsageError('--jwks-out is for symmetric consumers');
  const token: Record<string, unknown> = {};
  if (typeof o.token === 'string') {
    const m = TOKEN_LOCATION_RE.exec(o.token);
    if (!m) throw new UsageError('--token must be header:NAME, query:NAME or cookie:NAME');
    token.in = m[1];
    token.name = m[2];
  }
  // One space between prefix and token ("Token" = "Token "), as the service stores it; blank = raw token.
  if (typeof o.prefix === 'string') token.prefix = o.prefix.trim() === '' ? '' : `${o.prefix.trim()} `;
  if (o.passthrough) token.passthrough = true;
  if (Object.keys(token).length > 0) auth.token = token;
  const identity: Record<string, unknown> = {};
  if (o.claim !== undefined) identity.claim = o.claim;
  if (o['claim-value'] !== undefined) identity.value = o['claim-value'];
  if (Object.keys(identity).length > 0) auth.identity = identity;
  const claims: Record<string, unknown> = {};
  if (o.issuer !== undefined) claims.issuer = o.issuer;
  if (o.audience !== undefined) claims.audience = o.audience;
  if (Object.keys(claims).length > 0) auth.claims = claims;
  return auth;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Public JWK(s) from a file: a JWKS, one JWK, or a PEM key (only its public part is sent). */
function readJwks(file: string): { keys: unknown[] } {
  const text = readText(file);
  if (text.includes('-----BEGIN')) return { keys: [pemToPublicJwk(text, file)] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is neither JSON (a JWKS or a JWK) nor a PEM key`);
  }
  const o = json as { keys?: unknown[] };
  return Array.isArray(o.keys) ? { keys: o.keys } : { keys: [json] };
}

/** One public JWK from a file (a JWK, a JWKS with one key, or a PEM key). */
function readJwk(file: string): unknown {
  const { keys } = readJwks(file);
  if (keys.length !== 1) throw new UsageError(`${file} must hold exactly one key`);
  return keys[0];
}

function pemToPublicJwk(pem: string, file: string): Record<string, unknown> {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new UsageError(`${file}: not a PEM key this tool can read (${(err as Error).message})`);
  }
  return key.export({ format: 'jwk' }) as Record<string, unknown>;
}

/** Writes a secret JWKS with mode 0600; returns a line saying so. */
function writeSecretFile(file: string, jwks: unknown): string {
  writeFileSync(file, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return `written to ${file} (mode 0600)`;
}

/** With --key-out FILE: writes the API key (mode 0600) and returns a line saying so. */
function keyOut(file: string | undefined, apiKey: string | undefined): string {
  if (file === undefined || apiKey === undefined) return '';
  writeFileSync(file, `${apiKey}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return `\nwritten to ${file} (mode 0600)`;
}

/** A signed test token for consumer `c`: its identity claim, issuer and audience, `exp` in --ttl seconds. */
async function mint(c: Consumer, o: Opts): Promise<string> {
  const ttl = o.ttl === undefined ? 3600 : Number(o.ttl);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 31_536_000) throw new UsageError('--ttl must be a whole number of seconds from 1 to 31536000');
  const id = c.auth.identity as { claim: string; value: string };
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { [id.claim]: typeof o['claim-value'] === 'string' ? o['claim-value'] : id.value, iat: now, exp: now + ttl };
  if (c.auth.claims?.issuer !== undefined) payload.iss = c.auth.claims.issuer;
  if (c.auth.claims?.audience !== undefined) payload.aud = c.auth.claims.audience;
  const { SignJWT } = await import('jose');
  const jwt = new SignJWT(payload);
  if (typeof o['private-key'] === 'string') {
    const file = o['private-key'];
    let key: KeyObject;
    try {
      key = createPrivateKey(readText(file));
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`${file}: not a PEM private key (${(err as Error).message})`);
    }
    return jwt.setProtectedHeader({ alg: algOf(key) }).sign(key);
  }
  if (typeof o.jwks !== 'string') throw new UsageError('jwt mint needs --jwks FILE (symmetric) or --private-key FILE (asymmetric)');
  const first = readJwks(o.jwks).keys[0] as { kty?: string; k?: string; kid?: string } | undefined;
  if (!first || first.kty !== 'oct' || typeof first.k !== 'string') {
    throw new UsageError(`${o.jwks}: the first key is not a symmetric (oct) key; for an asymmetric consumer use --private-key FILE`);
  }
  const header: { alg: string; kid?: string } = { alg: 'HS256' };
  if (typeof first.kid === 'string') header.kid = first.kid;
  return jwt.setProtectedHeader(header).sign(Buffer.from(first.k, 'base64url'));
}

function algOf(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'rsa') return 'RS256';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const alg = curve === 'prime256v1' ? 'ES256' : curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : undefined;
    if (alg) return alg;
  }
  throw new UsageError('the private key must be EC (P-256, P-384, P-521), RSA or Ed25519');
}

function parseSource(s: string | undefined): unknown {
  if (s === undefined || s === 'bearer') return { in: 'bearer' };
  const m = /^(header|query):(.+)$/.exec(s);
  if (!m) throw new UsageError('--source must be bearer, header:NAME or query:NAME');
  return { in: m[1], name: m[2] };
}

async function envHelp(): Promise<string> {
  const { ENV_DOC } = await import('../config/config.js');
  const rows = ENV_DOC.map(([name, dflt, what]) => `  ${name.padEnd(18)} ${dflt.padEnd(24)} ${what}`);
  return `\nEnvironment of "serve":\n${rows.join('\n')}\n`;
}

/** The condition "no such route yet" (If-None-Match: *) for AdminClient's writes. */
const NONE = Symbol('none');

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
    return (await this.#send(method, path, body)).json;
  }

  async #send(method: string, path: string, body?: unknown, ifMatch?: string | typeof NONE): Promise<{ json: unknown; etag: string | undefined }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (ifMatch === NONE) headers['if-none-match'] = '*';
    else if (ifMatch !== undefined) headers['if-match'] = ifMatch;
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
    return { json, etag: res.headers.get('etag') ?? undefined };
  }

  /**
   * A read-modify-write of a route that loses no concurrent change: reads it
   * (with its ETag), lets `change` decide from what it holds, and writes with
   * If-Match; when another writer got there first (412), reads again and
   * decides again (up to 30 times, after a random pause that grows). A route that does not exist yet is written
   * with If-None-Match: * (only if still none).
   */
  async updateRoute(route: string, change: (cur: RouteView | undefined) => { put: Record<string, unknown> } | 'delete' | 'keep'): Promise<RouteView | undefined> {
    const at = `routes/${encodeURIComponent(route)}`;
    for (let attempt = 1; ; attempt++) {
      let cur: RouteView | undefined;
      let etag: string | undefined;
      try {
        ({ json: cur, etag } = (await this.#send('GET', at)) as { json: RouteView; etag: string | undefined });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      const what = change(cur);
      if (what === 'keep') return cur;
      try {
        if (what === 'delete') {
          await this.#send('DELETE', at, undefined, etag);
          return undefined;
        }
        return (await this.#send('PUT', at, what.put, etag ?? NONE)).json as RouteView;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 412) || attempt >= 30) throw err;
      }
      // Writers that collided spread out before reading again.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(10 * 2 ** attempt, 250)));
    }
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
