/**
 * The README walkthrough and test/deploy/readme-cases.ts describe the same requests: every curl line has
 * a case, in order, and each case's path, route, headers and outcome agree with the README line and
 * with envoy/envoy.yaml. The state changes between the lines agree too.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  httpConnectionManager,
  loadYaml,
  matchEnvoyRoute,
  readmeDeploySection,
  repoRoot,
  shellWords,
} from './deploy-files.js';
import { PLACEHOLDERS, README_CASES, README_SETUP } from './readme-cases.js';

/** Denial codes of the product contract and their HTTP status. */
const DENIAL_STATUS: Record<string, number> = {
  missing_credential: 401,
  invalid_credential: 401,
  expired_credential: 401,
  consumer_disabled: 403,
  route_forbidden: 403,
  authz_unavailable: 503,
};
/** Headers every case carries besides the curl -H ones (what Envoy adds for a plain curl request). */
const BASE_HEADERS = [':authority', ':method', ':path', ':scheme', 'user-agent', 'accept', 'x-forwarded-proto'];

interface ReadmeCurl {
  /** Index of the line in the section. */
  line: number;
  command: string;
  status: number;
  code?: string;
}

let section: string[];
let curls: ReadmeCurl[];
let envoy: any;
let strippedByEnvoy: Set<string>;

/** Lines inside fenced code blocks of the section, with their line numbers. */
function codeLines(lines: string[]): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let inside = false;
  lines.forEach((text, line) => {
    if (text.trimStart().startsWith('```')) inside = !inside;
    else if (inside) out.push({ line, text: text.trim() });
  });
  return out;
}

beforeAll(() => {
  section = readmeDeploySection().split('\n');
  envoy = loadYaml('envoy/envoy.yaml');
  strippedByEnvoy = new Set(
    httpConnectionManager(envoy).early_header_mutation_extensions.flatMap((e: any) =>
      e.typed_config.mutations.map((m: any) => String(m.remove).toLowerCase()),
    ),
  );
  curls = codeLines(section)
    .filter((l) => l.text.startsWith('curl '))
    .map(({ line, text }) => {
      const m = /^(curl .*?)\s+#\s*→\s*(\d{3})(?:\s+([a-z_]+))?/.exec(text);
      if (!m) throw new Error(`README curl line without "# → STATUS": ${text}`);
      return { line, command: m[1]!, status: Number(m[2]), ...(m[3] ? { code: m[3] } : {}) };
    });
});

describe('README deploy section', () => {
  it('starts the stack with docker compose and names every file under envoy/', () => {
    const text = section.join('\n');
    expect(text).toContain('## Run it beside Envoy (docker compose)');
    expect(text).toContain('docker compose up -d --build');
    expect(text).toContain('### Attach to Istio / Envoy Gateway');
    for (const f of [
      'envoy/kubernetes/consumer-authz.yaml',
      'envoy/istio/mesh-config.yaml',
      'envoy/istio/authorization-policy.yaml',
      'envoy/envoy-gateway/security-policy.yaml',
    ]) {
      expect(text).toContain(f);
      expect(existsSync(path.join(repoRoot, f)), f).toBe(true);
    }
  });

  it('shows an API-key consumer, a JWT consumer, a 401, a disabled consumer and a route grant', () => {
    const statuses = curls.map((c) => `${c.status} ${c.code ?? ''}`.trim());
    expect(statuses).toContain('401 missing_credential');
    expect(statuses).toContain('403 consumer_disabled');
    expect(statuses).toContain('403 route_forbidden');
    const text = section.join('\n');
    expect(text).toMatch(/consumers create \S+ --key /);
    expect(text).toMatch(/consumers create \S+ --jwt symmetric/);
    expect(text).toMatch(/consumer-authz jwt mint /);
    expect(text).toMatch(/consumer-authz routes grant /);
  });
});

describe('README curl lines and README_CASES', () => {
  it('has exactly one case per curl line, in README order', () => {
    expect(curls.length).toBeGreaterThanOrEqual(6);
    expect(README_CASES.map((c) => c.curl)).toEqual(curls.map((c) => c.command));
  });

  it.each(README_CASES.map((c, i) => [i, c] as const))('case %i agrees with its README line and envoy.yaml', (i, c) => {
    const readme = curls[i]!;
    expect(c.expectStatus).toBe(readme.status);
    expect(c.expectCode).toBe(readme.code);

    const words = shellWords(c.curl);
    const url = new URL(words.find((w) => /^https?:\/\//.test(w))!);
    const xIndex = words.indexOf('-X');
    const method = xIndex >= 0 ? words[xIndex + 1]! : 'GET';
    expect(c.method).toBe(method);
    expect(c.path).toBe(url.pathname + url.search);
    expect(c.headers[':path']).toBe(c.path);
    expect(c.headers[':method']).toBe(c.method);
    expect(c.headers[':authority']).toBe(url.host);
    expect(c.headers[':scheme']).toBe(url.protocol.replace(':', ''));
    expect(c.headers['x-forwarded-proto']).toBe(url.protocol.replace(':', ''));

    // Envoy listens where the README sends the request.
    const listenerPort = envoy.static_resources.listeners[0].address.socket_address.port_value;
    expect(Number(url.port)).toBe(listenerPort);

    // -H headers arrive lower-cased, except the identity headers Envoy strips before the check.
    const sent: Record<string, string> = {};
    words.forEach((w, k) => {
      if (w !== '-H') return;
      const h = words[k + 1]!;
      const colon = h.indexOf(':');
      sent[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
    });
    for (const [name, value] of Object.entries(sent)) {
      if (strippedByEnvoy.has(name)) expect(c.headers[name], name).toBeUndefined();
      else expect(c.headers[name], name).toBe(value);
    }
    for (const name of Object.keys(c.headers)) {
      expect(name).toBe(name.toLowerCase());
      expect(BASE_HEADERS.includes(name) || name in sent, `unexpected header ${name}`).toBe(true);
    }
    for (const value of Object.values(c.headers)) {
      for (const ph of value.match(/\$[A-Z_]+/g) ?? []) expect(PLACEHOLDERS[ph], ph).toBeDefined();
    }

    // The route envoy.yaml picks for the path.
    const match = matchEnvoyRoute(envoy, c.path);
    expect(match, c.path).toBeDefined();
    expect(c.route).toBe(match!.contextRoute);
    if (c.route === null) {
      expect(match!.directStatus).toBe(c.expectStatus);
    } else {
      expect(match!.cluster).toBeDefined();
    }

    // Outcome consistent with the contract's denial codes.
    if (c.expectStatus === 200) {
      expect(c.expectCode).toBeUndefined();
    } else {
      expect(c.expectCode, 'a denial names its error code').toBeDefined();
      expect(DENIAL_STATUS[c.expectCode!]).toBe(c.expectStatus);
      expect(c.expectHeadersToUpstream).toBeUndefined();
    }
    for (const [name, value] of Object.entries(c.expectHeadersToUpstream ?? {})) {
      expect(name).toBe(name.toLowerCase());
      if (value !== null) expect(typeof value).toBe('string');
    }
  });

  it('states, for each allowed request with a credential, what reaches the upstream', () => {
    for (const c of README_CASES) {
      if (c.expectStatus !== 200 || c.route === null) continue;
      expect(c.expectHeadersToUpstream?.['x-consumer-name'], c.curl).toBeTruthy();
      const credential = Object.keys(c.headers).find((h) => h === 'authorization' || h === 'x-api-key');
      expect(credential, c.curl).toBeDefined();
      expect(c.expectHeadersToUpstream![credential!], `${c.curl} strips ${credential}`).toBeNull();
    }
  });
});

describe('README state changes and README_SETUP', () => {
  const STATE_CHANGE = /consumer-authz (consumers (create|enable|disable|delete)|routes (grant|revoke)|keys (add|remove))\b/;

  it('every state-changing CLI line has a setup step, and every step is in the README', () => {
    const changes = codeLines(section).filter((l) => STATE_CHANGE.test(l.text));
    expect(changes.length).toBe(README_SETUP.length);
    changes.forEach((l, k) => expect(l.text).toContain(README_SETUP[k]!.cli));
  });

  it('runs each step after the case before it and before the case that needs it', () => {
    const changes = codeLines(section).filter((l) => STATE_CHANGE.test(l.text));
    README_SETUP.forEach((step, k) => {
      const at = changes[k]!.line;
      expect(curls[step.beforeCase]!.line, step.cli).toBeGreaterThan(at);
      if (step.beforeCase > 0) expect(curls[step.beforeCase - 1]!.line, step.cli).toBeLessThan(at);
    });
  });

  it('maps each step to an admin API call of the contract', () => {
    for (const step of README_SETUP) {
      expect(step.admin.path).toMatch(/^\/v1\/(consumers|routes)(\/[A-Za-z0-9._-]+)*$/);
      if (step.cli.includes('consumers create')) {
        const name = step.cli.split(/\s+/)[3];
        expect(step.admin).toMatchObject({ method: 'POST', path: '/v1/consumers', body: { name } });
      }
      if (step.cli.includes('routes grant')) {
        const [, , , route, ...names] = step.cli.split(/\s+/);
        expect(step.admin).toEqual({ method: 'PUT', path: `/v1/routes/${route}`, body: { consumers: names } });
      }
    }
  });
});
