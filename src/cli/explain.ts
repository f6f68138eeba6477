/**
 * `check --explain`: why the answer is what it is, computed on the client.
 *
 * The gRPC port is unauthenticated, so it tells nothing beyond the answer Envoy
 * gets (reason code, and for an allow the consumer and credential id in
 * dynamic_metadata). Everything else comes from the admin API, with the admin
 * token, or is inferred here from the request and the answer; each line says
 * which: [answer], [admin API] or [inferred].
 */
import { isJwsShaped } from '../consumers/jws-shape.js';
import type { CheckRequestObject } from './check-request.js';
import type { CheckOutcome } from './check-response.js';

export interface AdminAccess {
  url: string;
  token: string | undefined;
  fetch: typeof fetch;
}

/** The parts of the admin API's consumer view read here. */
interface ConsumerView {
  name: string;
  id: string;
  enabled: boolean;
  auth: {
    type: string;
    source?: { in: string; name?: string };
    keys?: Array<{ id?: string; hint?: string; expiresAt?: string | null; kid?: string; alg?: string }>;
    token?: { in: string; name: string; prefix: string; passthrough: boolean };
    identity?: { claim: string; value: string };
  };
}

/** What each denial code means: the rule that denied (docs: README "What Envoy then gets"). */
const RULES: Record<string, string> = {
  missing_credential: 'no credential was found where any consumer reads one (Authorization: Bearer, or a header, query parameter or cookie a consumer is set to read)',
  invalid_credential:
    'a credential was found but is not valid there: an unknown or mistyped key, a key sent from another place than its consumer reads it, or a token that fails verification (signature, identity claim, iss/aud, missing exp) or sits where its consumer does not read it',
  expired_credential: "the key's expiry has passed, or the token's exp is past or its nbf/iat in the future (beyond the clock skew)",
  consumer_disabled: 'the credential belongs to a consumer that is disabled',
  route_forbidden: 'the consumer was identified but the route has grants and it is not among them',
  grant_expired: "the consumer's grant on this route is short-term and its expiry has passed (renew it with routes grant --expires, or grant long-term)",
  authz_unavailable: 'the service could not decide (the store unreachable and the answer not in memory, or its cache not warm yet), so it failed closed',
};

const WHERE_API_KEY = (s: { in: string; name?: string }) => (s.in === 'bearer' ? 'Authorization: Bearer' : `${s.in} ${s.name}`);

/** Where a consumer reads its credential, in words. */
function whereOf(c: ConsumerView): string {
  if (c.auth.source) return WHERE_API_KEY(c.auth.source);
  const t = c.auth.token;
  if (t?.in === 'header' && t.name === 'authorization' && t.prefix.toLowerCase() === 'bearer ') return 'Authorization: Bearer';
  if (t) return `${t.in} ${t.name}${t.prefix ? ` with prefix "${t.prefix}"` : ''}`;
  return c.auth.type;
}

interface RequestParts {
  headers: Record<string, string>;
  query: URLSearchParams;
  cookies: Map<string, string>;
}

function partsOf(req: CheckRequestObject): RequestParts {
  const http = req.attributes.request.http;
  const q = http.path.indexOf('?');
  const cookies = new Map<string, string>();
  for (const c of (http.headers.cookie ?? '').split(';')) {
    const eq = c.indexOf('=');
    if (eq > 0) cookies.set(c.slice(0, eq).trim(), c.slice(eq + 1).trim());
  }
  return { headers: http.headers, query: new URLSearchParams(q < 0 ? '' : http.path.slice(q + 1)), cookies };
}

/** The value this request carries where consumer `c` reads its credential, if any. */
function carried(c: ConsumerView, r: RequestParts): string | undefined {
  const s = c.auth.source;
  if (s) {
    if (s.in === 'bearer') {
      const v = r.headers.authorization;
      return v !== undefined && /^bearer /i.test(v) ? v.slice(7) : undefined;
    }
    if (s.in === 'header') return r.headers[s.name as string];
    if (s.in === 'query') return r.query.get(s.name as string) ?? undefined;
    return undefined;
  }
  const t = c.auth.token;
  if (!t) return undefined;
  const raw = t.in === 'header' ? r.headers[t.name] : t.in === 'query' ? (r.query.get(t.name) ?? undefined) : r.cookies.get(t.name);
  return raw;
}

/** A guess at what a credential value is, from its shape only. */
function shapeOf(v: string): string | undefined {
  if (isJwsShaped(v)) return 'a JWT (eyJ… with a dot: where a JWT consumer reads, the service takes it for one)';
  if (v.startsWith('cak_')) return 'a system API key (cak_…; a mistyped one fails its checksum)';
  return undefined;
}

async function adminGet(a: AdminAccess, path: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (a.token) headers.authorization = `Bearer ${a.token}`;
  const res = await a.fetch(`${a.url}${path}`, { headers, signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

/** Every consumer (pages of 1000, at most 20 pages), or a line saying why not. */
async function listConsumers(a: AdminAccess): Promise<ConsumerView[] | string> {
  const out: ConsumerView[] = [];
  let cursor: string | null = null;
  try {
    for (let page = 0; page < 20; page++) {
      const res = await adminGet(a, `/v1/consumers?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      if (res.status !== 200) {
        const code = res.body?.error?.code ?? res.status;
        return `the admin API at ${a.url} refused (${code})${res.status === 401 ? '; pass --token or set ADMIN_TOKEN' : ''}`;
      }
      out.push(...(res.body.items as ConsumerView[]));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
  } catch (err) {
    return `the admin API at ${a.url} cannot be reached (${(err as Error).message}); set --url or CONSUMER_AUTHZ_URL`;
  }
  return out;
}

/** The route's grants: names, undefined = no grants, or a string saying why unknown. */
async function routeGrants(a: AdminAccess, route: string): Promise<string[] | undefined | { error: string }> {
  try {
    const res = await adminGet(a, `/v1/routes/${encodeURIComponent(route)}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) return { error: `the admin API refused (${res.body?.error?.code ?? res.status})` };
    return res.body.consumers as string[];
  } catch (err) {
    return { error: `the admin API cannot be reached (${(err as Error).message})` };
  }
}

function describeRoute(route: string | undefined, grants: string[] | undefined | { error: string }, who?: string): string {
  if (route === undefined) return '[inferred] no route was sent (--route), so no route grants applied';
  if (grants !== undefined && !Array.isArray(grants)) return `[admin API] route ${route}: ${grants.error}`;
  if (grants === undefined) return `[admin API] route ${route} has no grants: it admits every enabled consumer`;
  if (grants.length === 0) return `[admin API] route ${route} admits nobody (its grant list is empty)`;
  const mark = who === undefined ? '' : grants.includes(who) ? ` (${who} is granted)` : ` (${who} is not granted)`;
  return `[admin API] route ${route} admits only: ${grants.join(', ')}${mark}`;
}

const list = (names: string[]) => (names.length > 8 ? `${names.slice(0, 8).join(', ')} and ${names.length - 8} more` : names.join(', '));

/** The explanation block printed after the decision. */
export async function explain(o: CheckOutcome, req: CheckRequestObject, admin: AdminAccess): Promise<string> {
  const lines: string[] = [];
  const route = req.attributes.context_extensions.route;
  const r = partsOf(req);
  const consumers = await listConsumers(admin);
  const known = Array.isArray(consumers) ? consumers : undefined;
  if (o.allow) {
    const name = o.consumer.name ?? '(unnamed)';
    lines.push(`[answer] consumer ${name}${o.consumer.id ? ` (id ${o.consumer.id})` : ''} was identified by credential id ${o.credentialId ?? '(none)'}`);
    const removed = [...o.headersRemoved.map((h) => `header ${h}`), ...o.queryRemoved.map((q) => `query parameter ${q}`)];
    const cookieRewritten = o.headersSet.some((h) => h.name === 'cookie');
    if (removed.length > 0) lines.push(`[inferred] the credential came from ${removed.join(' and ')}: that is what the answer strips`);
    else if (cookieRewritten) lines.push('[inferred] the credential came from a cookie: the answer rewrites the cookie header without it');
    else lines.push('[inferred] the answer strips nothing: a JWT consumer with passthrough on (the token reaches the upstream)');
    const c = known?.find((x) => x.name === o.consumer.name);
    if (!known) lines.push(`[admin API] not read: ${consumers as string}`);
    if (c) {
      lines.push(`[admin API] ${c.name} (${c.auth.type}) reads its credential from ${whereOf(c)}`);
      const key = c.auth.keys?.find((k) => k.id === o.credentialId || k.kid === o.credentialId);
      if (key?.hint) lines.push(`[admin API] key ${key.id} (hint ${key.hint}, ${key.expiresAt ? `expires ${key.expiresAt}` : 'no expiry'})`);
      else if (key?.kid) lines.push(`[admin API] the token verified with key kid ${key.kid} (${key.alg}); identity ${c.auth.identity?.claim}=${c.auth.identity?.value}`);
    }
    lines.push(describeRoute(route, route === undefined ? undefined : await routeGrants(admin, route), o.consumer.name));
  } else {
    const reason = o.reason ?? `HTTP ${o.status}`;
    lines.push(`[answer] ${reason}: ${RULES[reason] ?? 'a reason this tool does not know'}`);
    if (known) {
      const readers = known.map((c) => ({ c, value: carried(c, r) })).filter((x) => x.value !== undefined);
      const candidates = readers.map((x) => x.c);
      if (reason === 'missing_credential' || candidates.length === 0) {
        const bySource = new Map<string, string[]>();
        for (const c of known) bySource.set(whereOf(c), [...(bySource.get(whereOf(c)) ?? []), c.name]);
        const where = [...bySource].map(([w, n]) => `${w} (${list(n)})`);
        lines.push(`[admin API] consumers read their credential from: ${where.join('; ') || '(no consumers)'}`);
        lines.push('[inferred] this request carries nothing in any of those places');
      } else {
        lines.push(`[inferred] this request carries a value where these consumers read theirs: ${list(candidates.map((c) => `${c.name} (${whereOf(c)})`))}`);
      }
      const shapes = [...new Set(readers.map((x) => shapeOf(x.value as string)).filter((s): s is string => s !== undefined))];
      if (reason === 'invalid_credential' && shapes.length > 0) lines.push(`[inferred] the value looks like ${shapes.join(', and one like ')}`);
      if (reason === 'consumer_disabled') {
        const off = candidates.filter((c) => !c.enabled).map((c) => c.name);
        if (off.length > 0) lines.push(`[inferred] disabled among them: ${list(off)} ("consumers enable NAME" turns it back on)`);
      }
      if (reason === 'expired_credential') {
        const now = Date.now();
        const expired = candidates.filter((c) => c.auth.keys?.some((k) => k.expiresAt && Date.parse(k.expiresAt) <= now)).map((c) => c.name);
        if (expired.length > 0) lines.push(`[inferred] holding an expired key among them: ${list(expired)}`);
      }
    } else {
      lines.push(`[admin API] not read: ${consumers as string}; this explanation uses the answer only`);
    }
    if (reason === 'route_forbidden' && route !== undefined) lines.push(describeRoute(route, await routeGrants(admin, route)));
    if (reason === 'authz_unavailable') {
      try {
        const ready = await adminGet(admin, '/readyz');
        lines.push(`[admin API] /readyz answers ${ready.status}: ${JSON.stringify(ready.body)}`);
      } catch {
        lines.push(`[admin API] /readyz at ${admin.url} cannot be reached`);
      }
    }
  }
  return `why:\n${lines.map((l) => `  ${l}\n`).join('')}`;
}
