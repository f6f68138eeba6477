/**
 * envoy/envoy.yaml against the official Envoy API protos (strict walk, see envoy-proto-validator.ts),
 * proof that the walk rejects bad input, and the ext_authz wiring the product contract needs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvoyProtoValidator, jsonName, type ValidationIssue } from './envoy-proto-validator.js';
import { httpConnectionManager, loadYaml, readRepoFile } from './deploy-files.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const IDENTITY_HEADERS = ['x-consumer-id', 'x-consumer-name', 'x-mse-consumer', 'x-credential-id'];

let validator: EnvoyProtoValidator;
let envoy: any;

beforeAll(() => {
  validator = new EnvoyProtoValidator();
  envoy = loadYaml('envoy/envoy.yaml');
});

/** A deep copy of envoy.yaml to mutate in one test. */
function copy(): any {
  return structuredClone(envoy);
}

function validate(doc: unknown): ValidationIssue[] {
  return validator.validate(BOOTSTRAP, doc);
}

function extAuthzFilter(doc: any): any {
  return httpConnectionManager(doc).http_filters.find((f: any) => f.name === 'envoy.filters.http.ext_authz');
}

function authzCluster(doc: any): any {
  return doc.static_resources.clusters.find((c: any) => c.name === 'authz');
}

/** Every "@type" value in a parsed document. */
function typeUrls(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => typeUrls(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '@type' && typeof v === 'string') out.push(v);
      else typeUrls(v, out);
    }
  }
  return out;
}

describe('envoy.yaml conforms to the Envoy API protos', () => {
  it('has no unknown field, unresolvable @type, bad enum, bad scalar or missing required field', () => {
    expect(validate(envoy)).toEqual([]);
  });

  it('names only @types that exist in the protos', () => {
    const urls = typeUrls(envoy);
    expect(urls.length).toBeGreaterThanOrEqual(8);
    for (const url of urls) {
      expect(url.startsWith('type.googleapis.com/'), url).toBe(true);
      expect(validator.findType(url.slice('type.googleapis.com/'.length)), url).toBeDefined();
    }
  });

  it('accepts lowerCamelCase JSON names as Envoy does', () => {
    const doc = copy();
    const hcm = httpConnectionManager(doc);
    hcm[jsonName('stat_prefix')] = hcm.stat_prefix;
    delete hcm.stat_prefix;
    expect(jsonName('stat_prefix')).toBe('statPrefix');
    expect(validate(doc)).toEqual([]);
  });
});

describe('the validator rejects bad input', () => {
  const expectIssue = (issues: ValidationIssue[], pattern: RegExp) => {
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toMatch(pattern);
  };

  it('a misspelt field', () => {
    const doc = copy();
    httpConnectionManager(doc).stat_prefx = 'ingress_http';
    expectIssue(validate(doc), /unknown field "stat_prefx".*did you mean "stat_prefix"/);
  });

  it('a misspelt field inside an Any (the @type content is walked)', () => {
    const doc = copy();
    extAuthzFilter(doc).typed_config.failure_mode_alow = false;
    expectIssue(validate(doc), /unknown field "failure_mode_alow" in envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz/);
  });

  it('an unknown @type', () => {
    const doc = copy();
    extAuthzFilter(doc).typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthZ';
    expectIssue(validate(doc), /unknown @type .*ExtAuthZ/);
  });

  it('a bad enum value', () => {
    const doc = copy();
    extAuthzFilter(doc).typed_config.transport_api_version = 'V4';
    expectIssue(validate(doc), /"V4" is not a value of enum envoy\.config\.core\.v3\.ApiVersion/);
  });

  it('a bad enum value in a nested message (status_on_error)', () => {
    const doc = copy();
    extAuthzFilter(doc).typed_config.status_on_error = { code: 'ServiceUnavailabel' };
    expectIssue(validate(doc), /not a value of enum envoy\.type\.v3\.StatusCode/);
  });

  it('a missing required message (health check timeout)', () => {
    const doc = copy();
    delete authzCluster(doc).health_checks[0].timeout;
    expectIssue(validate(doc), /HealthCheck\.timeout is required/);
  });

  it('a missing required oneof (health check kind)', () => {
    const doc = copy();
    delete authzCluster(doc).health_checks[0].grpc_health_check;
    expectIssue(validate(doc), /health_checker/);
  });

  it('an empty cluster name (string min_len)', () => {
    const doc = copy();
    authzCluster(doc).name = '';
    expectIssue(validate(doc), /at least 1 character/);
  });

  it('a listener filter without its required route_specifier (HttpConnectionManager)', () => {
    const doc = copy();
    delete httpConnectionManager(doc).route_config;
    expectIssue(validate(doc), /HttpConnectionManager \(oneof route_specifier\)/);
  });

  it('an ExtAuthzPerRoute that neither disables nor sets check_settings', () => {
    const doc = copy();
    const routes = httpConnectionManager(doc).route_config.virtual_hosts[0].routes;
    delete routes[1].typed_per_filter_config['envoy.filters.http.ext_authz'].check_settings;
    expectIssue(validate(doc), /ExtAuthzPerRoute \(oneof override\)/);
  });

  it('a missing filter name', () => {
    const doc = copy();
    delete doc.static_resources.listeners[0].filter_chains[0].filters[0].name;
    expectIssue(validate(doc), /Filter\.name is required/);
  });

  it('a malformed Duration', () => {
    const doc = copy();
    extAuthzFilter(doc).typed_config.grpc_service.timeout = '250ms';
    expectIssue(validate(doc), /Duration string/);
  });

  it('a port out of range', () => {
    const doc = copy();
    authzCluster(doc).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 70000;
    expectIssue(validate(doc), /must be <= 65535/);
  });

  it('two members of one oneof', () => {
    const doc = copy();
    const routes = httpConnectionManager(doc).route_config.virtual_hosts[0].routes;
    routes[0].route = { cluster: 'orders' };
    expectIssue(validate(doc), /oneof .*action.* at most one/);
  });

  it('the same field under its snake_case and camelCase names', () => {
    const doc = copy();
    httpConnectionManager(doc).statPrefix = 'again';
    expectIssue(validate(doc), /given twice/);
  });

  it('a scalar of the wrong type', () => {
    const doc = copy();
    extAuthzFilter(doc).typed_config.failure_mode_allow = 'no';
    expectIssue(validate(doc), /expected true or false/);
  });

  it('an Any without @type', () => {
    const doc = copy();
    delete extAuthzFilter(doc).typed_config['@type'];
    expectIssue(validate(doc), /needs "@type"/);
  });

  it('ExtAuthzPerRoute.disabled: false (PGV bool const)', () => {
    const doc = copy();
    httpConnectionManager(doc).route_config.virtual_hosts[0].routes[0].typed_per_filter_config['envoy.filters.http.ext_authz'].disabled = false;
    expectIssue(validate(doc), /must be true/);
  });
});

describe('envoy.yaml wires ext_authz the way the contract needs', () => {
  it('calls consumer-authz over gRPC v3, fails closed with 503, with a timeout', () => {
    const cfg = extAuthzFilter(envoy).typed_config;
    expect(cfg.transport_api_version).toBe('V3');
    expect(cfg.grpc_service.envoy_grpc.cluster_name).toBe('authz');
    expect(cfg.grpc_service.timeout).toMatch(/^\d+(\.\d+)?s$/);
    expect(cfg.failure_mode_allow).toBe(false);
    expect(cfg.status_on_error.code).toBe('ServiceUnavailable');
    expect(cfg.http_service).toBeUndefined();
  });

  it('normalises the path before routing and ext_authz (route match rules see what the upstream gets)', () => {
    const hcm = httpConnectionManager(envoy);
    expect(hcm.normalize_path).toBe(true);
    expect(hcm.merge_slashes).toBe(true);
    expect(['UNESCAPE_AND_REDIRECT', 'REJECT_REQUEST']).toContain(hcm.path_with_escaped_slashes_action);
  });

  it('runs ext_authz before the router, and the router last', () => {
    const names: string[] = httpConnectionManager(envoy).http_filters.map((f: any) => f.name);
    expect(names.at(-1)).toBe('envoy.filters.http.router');
    expect(names.indexOf('envoy.filters.http.ext_authz')).toBeGreaterThanOrEqual(0);
    expect(names.indexOf('envoy.filters.http.ext_authz')).toBeLessThan(names.indexOf('envoy.filters.http.router'));
  });

  it('removes client-sent identity headers before any HTTP filter (early header mutation)', () => {
    const hcm = httpConnectionManager(envoy);
    const ext = hcm.early_header_mutation_extensions;
    expect(ext).toHaveLength(1);
    expect(ext[0].typed_config['@type']).toBe(
      'type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation',
    );
    const removed = ext[0].typed_config.mutations.map((m: any) => m.remove);
    expect([...removed].sort()).toEqual([...IDENTITY_HEADERS].sort());
  });

  it('gives every routed path a context_extensions.route and disables ext_authz only for /healthz', () => {
    const routes: any[] = httpConnectionManager(envoy).route_config.virtual_hosts[0].routes;
    const forwarded = routes.filter((r) => r.route);
    expect(forwarded.length).toBeGreaterThanOrEqual(2);
    for (const r of forwarded) {
      const per = r.typed_per_filter_config['envoy.filters.http.ext_authz'];
      expect(per['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute');
      expect(per.check_settings.context_extensions.route).toBe(r.name);
    }
    const disabled = routes.filter((r) => r.typed_per_filter_config?.['envoy.filters.http.ext_authz']?.disabled);
    expect(disabled.map((r) => r.match.path)).toEqual(['/healthz']);
    expect(disabled[0].direct_response.status).toBe(200);
    expect(new Set(forwarded.map((r) => r.route.cluster)).size).toBeGreaterThanOrEqual(2);
  });

  it('keys per-route filter config by the name of a filter in the chain', () => {
    const hcm = httpConnectionManager(envoy);
    const filterNames = new Set(hcm.http_filters.map((f: any) => f.name));
    for (const r of hcm.route_config.virtual_hosts[0].routes) {
      for (const key of Object.keys(r.typed_per_filter_config ?? {})) expect(filterNames.has(key), key).toBe(true);
    }
  });

  it('routes only to defined clusters', () => {
    const clusters = new Set(envoy.static_resources.clusters.map((c: any) => c.name));
    for (const r of httpConnectionManager(envoy).route_config.virtual_hosts[0].routes) {
      if (r.route) expect(clusters.has(r.route.cluster), r.route.cluster).toBe(true);
    }
  });

  it('talks HTTP/2 to the authz cluster and health-checks it over grpc.health.v1', () => {
    const c = authzCluster(envoy);
    const opts = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    expect(opts.explicit_http_config.http2_protocol_options).toEqual({});
    expect(c.health_checks[0].grpc_health_check.service_name).toBe('envoy.service.auth.v3.Authorization');
    const addr = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(addr.port_value).toBe(9001);
  });

  it('logs the consumer from the ext_authz dynamic metadata, as JSON on stdout', () => {
    const log = httpConnectionManager(envoy).access_log[0];
    expect(log.typed_config['@type']).toBe('type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog');
    const fmt = log.typed_config.log_format.json_format;
    expect(fmt.consumer).toBe('%DYNAMIC_METADATA(envoy.filters.http.ext_authz:consumer_name)%');
    for (const key of ['consumer_id', 'credential_id', 'auth_type']) {
      expect(Object.values(fmt)).toContain(`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:${key})%`);
    }
  });

  it('names the pinned Envoy release and why', () => {
    const text = readRepoFile('envoy/envoy.yaml');
    const compose = loadYaml('docker-compose.yml');
    const tag = String(compose.services.envoy.image).split(':')[1];
    expect(text).toContain(`envoyproxy/envoy:${tag}`);
    expect(text).toMatch(/CVE-2026-\d+ \(use-after-free in the\s*#?\s*ext_authz/);
  });
});
