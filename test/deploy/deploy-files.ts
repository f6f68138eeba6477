/**
 * Shared reading of the deployment files (repository-relative), and the route matching that the
 * README and case tests need. Everything here reads the repository only, never anything outside it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

/** Absolute path of the repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Text of a repository file. */
export function readRepoFile(rel: string): string {
  return readFileSync(path.join(repoRoot, rel), 'utf8');
}

/** One YAML document of a repository file, as plain JSON-like data. */
export function loadYaml(rel: string): any {
  return parse(readRepoFile(rel));
}

/** Every document of a multi-document YAML file; throws on a YAML error in any of them. */
export function loadYamlDocuments(rel: string): any[] {
  return parseAllDocuments(readRepoFile(rel)).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${rel} document ${i}: ${doc.errors[0]!.message}`);
    return doc.toJS();
  }).filter((d) => d !== null && d !== undefined);
}

/** The HttpConnectionManager typed_config of the first listener's first filter chain in envoy.yaml. */
export function httpConnectionManager(envoy: any): any {
  return envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}

/** What envoy.yaml does with one request path. */
export interface EnvoyRouteMatch {
  /** `name` of the matched route. */
  routeName: string;
  /** `context_extensions.route` sent to consumer-authz, or null when the route disables ext_authz. */
  contextRoute: string | null;
  /** The upstream cluster, when the route forwards. */
  cluster?: string;
  /** The status of a direct_response route. */
  directStatus?: number;
}

/**
 * Matches a request path (query string allowed) against the routes of envoy.yaml's first virtual host,
 * first match wins, the way Envoy does for `path`, `prefix` and `path_separated_prefix` matchers.
 */
export function matchEnvoyRoute(envoy: any, requestPath: string): EnvoyRouteMatch | undefined {
  const p = requestPath.split('?')[0]!;
  const routes: any[] = httpConnectionManager(envoy).route_config.virtual_hosts[0].routes;
  for (const r of routes) {
    const m = r.match ?? {};
    const hit =
      (m.path !== undefined && p === m.path) ||
      (m.prefix !== undefined && p.startsWith(m.prefix)) ||
      (m.path_separated_prefix !== undefined && (p === m.path_separated_prefix || p.startsWith(`${m.path_separated_prefix}/`)));
    if (!hit) continue;
    const perFilter = r.typed_per_filter_config?.['envoy.filters.http.ext_authz'];
    const disabled = perFilter?.disabled === true;
    const result: EnvoyRouteMatch = {
      routeName: r.name,
      contextRoute: disabled ? null : (perFilter?.check_settings?.context_extensions?.route ?? null),
    };
    if (r.route?.cluster) result.cluster = r.route.cluster;
    if (r.direct_response) result.directStatus = r.direct_response.status;
    return result;
  }
  return undefined;
}

/** The lines between the README's `<!-- section:deploy -->` markers. */
export function readmeDeploySection(): string {
  const readme = readRepoFile('README.md');
  const start = readme.indexOf('<!-- section:deploy -->');
  const end = readme.indexOf('<!-- /section:deploy -->');
  if (start < 0 || end < start) throw new Error('README.md has no <!-- section:deploy --> ... <!-- /section:deploy -->');
  return readme.slice(start, end);
}

/** Shell-like split of one command line: double- and single-quoted words keep their spaces. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}
