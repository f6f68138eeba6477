/**
 * The Kubernetes, Istio and Envoy Gateway manifests under envoy/: they parse, every object is
 * addressable, and the names and ports they reference agree with each other and with envoy.yaml.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { httpConnectionManager, loadYaml, loadYamlDocuments } from './deploy-files.js';

const FILES = [
  'envoy/kubernetes/consumer-authz.yaml',
  'envoy/istio/mesh-config.yaml',
  'envoy/istio/authorization-policy.yaml',
  'envoy/envoy-gateway/security-policy.yaml',
];
const GRPC_PORT = 9001;
const ADMIN_PORT = 9002;
const IDENTITY_HEADERS = ['x-consumer-id', 'x-consumer-name', 'x-mse-consumer', 'x-credential-id'];

let docs: Record<string, any[]>;

beforeAll(() => {
  docs = Object.fromEntries(FILES.map((f) => [f, loadYamlDocuments(f)]));
});

function find(kind: string, file?: string): any[] {
  return Object.entries(docs)
    .filter(([f]) => !file || f === file)
    .flatMap(([, d]) => d)
    .filter((d) => d.kind === kind);
}

function only(kind: string): any {
  const found = find(kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
}

/** Whether a probe reaches the service: admin /healthz or /readyz on 9002, or gRPC health on 9001. */
function probeHitsService(probe: any, containerPorts: Record<string, number>): boolean {
  if (probe.grpc) return probe.grpc.port === GRPC_PORT;
  if (probe.httpGet) {
    const port = typeof probe.httpGet.port === 'string' ? containerPorts[probe.httpGet.port] : probe.httpGet.port;
    return port === ADMIN_PORT && ['/healthz', '/readyz'].includes(probe.httpGet.path);
  }
  if (probe.exec) {
    return new RegExp(`http://127\\.0\\.0\\.1:${ADMIN_PORT}/(healthz|readyz)\\b`).test(probe.exec.command.join(' '));
  }
  return false;
}

describe('every manifest', () => {
  it.each(FILES)('%s parses and each object has apiVersion, kind and metadata.name', (file) => {
    expect(docs[file]!.length).toBeGreaterThan(0);
    for (const d of docs[file]!) {
      expect(typeof d.apiVersion, file).toBe('string');
      expect(typeof d.kind, file).toBe('string');
      expect(d.metadata?.name, `${file} ${d.kind}`).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });
});

describe('Kubernetes Deployment and Service', () => {
  it('the Service exposes gRPC 9001 as port "grpc" with appProtocol grpc, onto the container port', () => {
    const svc = only('Service');
    const dep = only('Deployment');
    expect(svc.metadata.namespace).toBe(dep.metadata.namespace);
    const port = svc.spec.ports.find((p: any) => p.name === 'grpc');
    expect(port).toMatchObject({ port: GRPC_PORT, appProtocol: 'grpc', protocol: 'TCP' });
    const container = dep.spec.template.spec.containers[0];
    const target = container.ports.find((p: any) => p.name === port.targetPort || p.containerPort === port.targetPort);
    expect(target.containerPort).toBe(GRPC_PORT);
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(dep.spec.template.metadata.labels[k]).toBe(v);
    for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) expect(dep.spec.template.metadata.labels[k]).toBe(v);
  });

  it('configures the service with the contract defaults and keeps admin on loopback', () => {
    const container = only('Deployment').spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(Number(env.GRPC_PORT)).toBe(GRPC_PORT);
    expect(Number(env.ADMIN_PORT)).toBe(ADMIN_PORT);
    expect(['127.0.0.1', 'localhost', '::1'].includes(env.ADMIN_HOST) || env.ADMIN_TOKEN !== undefined).toBe(true);
    expect(env.REDIS_URL.secretKeyRef).toMatchObject({ name: 'consumer-authz', key: 'redis-url' });
  });

  it('has readiness and liveness probes that reach the service', () => {
    const container = only('Deployment').spec.template.spec.containers[0];
    const ports = Object.fromEntries(container.ports.map((p: any) => [p.name, p.containerPort]));
    expect(probeHitsService(container.readinessProbe, ports)).toBe(true);
    expect(probeHitsService(container.livenessProbe, ports)).toBe(true);
  });

  it('runs non-root with a locked-down security context and resource bounds', () => {
    const pod = only('Deployment').spec.template.spec;
    const container = pod.containers[0];
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    expect(container.image).not.toMatch(/:latest$/);
  });
});

describe('Istio', () => {
  it('the envoyExtAuthzGrpc provider points at the Service, fails closed', () => {
    const svc = only('Service');
    const op = only('IstioOperator');
    const providers = op.spec.meshConfig.extensionProviders;
    const p = providers.find((x: any) => x.envoyExtAuthzGrpc);
    expect(p.envoyExtAuthzGrpc.service).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`);
    expect(p.envoyExtAuthzGrpc.port).toBe(svc.spec.ports.find((x: any) => x.name === 'grpc').port);
    expect(p.envoyExtAuthzGrpc.failOpen).toBe(false);
    expect(p.envoyExtAuthzGrpc.statusOnError).toBe('503');
  });

  it('keeps paths normalised the way route match rules need: normalize_path and merge_slashes, never NONE', () => {
    const norm = only('IstioOperator').spec.meshConfig.pathNormalization?.normalization;
    expect(['MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']).toContain(norm);
  });

  it('the AuthorizationPolicy is CUSTOM and names that provider', () => {
    const provider = only('IstioOperator').spec.meshConfig.extensionProviders[0].name;
    const pol = only('AuthorizationPolicy');
    expect(pol.apiVersion).toBe('security.istio.io/v1');
    expect(pol.spec.action).toBe('CUSTOM');
    expect(pol.spec.provider.name).toBe(provider);
    expect(pol.spec.rules.length).toBeGreaterThan(0);
  });
});

describe('Envoy Gateway', () => {
  it('each SecurityPolicy sends its HTTPRoute to the Service over gRPC, naming the route', () => {
    const svc = only('Service');
    const envoyRouteNames = httpConnectionManager(loadYaml('envoy/envoy.yaml'))
      .route_config.virtual_hosts[0].routes.filter((r: any) => r.route)
      .map((r: any) => r.name);
    const policies = find('SecurityPolicy');
    expect(policies.length).toBeGreaterThanOrEqual(1);
    for (const pol of policies) {
      expect(pol.apiVersion).toBe('gateway.envoyproxy.io/v1alpha1');
      const target = pol.spec.targetRefs[0];
      expect(target).toMatchObject({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' });
      const ext = pol.spec.extAuth;
      expect(ext.failOpen).toBe(false);
      expect(ext.http).toBeUndefined();
      expect(ext.grpc.backendRefs).toEqual([{ name: svc.metadata.name, namespace: svc.metadata.namespace, port: GRPC_PORT }]);
      const route = ext.contextExtensions.find((c: any) => c.name === 'route');
      expect(route).toEqual({ name: 'route', type: 'Value', value: target.name });
      expect(envoyRouteNames).toContain(route.value);
    }
  });

  it('a ReferenceGrant allows the SecurityPolicies to reference the Service across namespaces', () => {
    const svc = only('Service');
    const grant = only('ReferenceGrant');
    expect(grant.metadata.namespace).toBe(svc.metadata.namespace);
    expect(grant.spec.to).toContainEqual({ group: '', kind: 'Service', name: svc.metadata.name });
    for (const pol of find('SecurityPolicy')) {
      if (pol.metadata.namespace === svc.metadata.namespace) continue;
      expect(grant.spec.from).toContainEqual({ group: 'gateway.envoyproxy.io', kind: 'SecurityPolicy', namespace: pol.metadata.namespace });
    }
  });

  it('a ClientTrafficPolicy strips client-sent identity headers early', () => {
    const ctp = only('ClientTrafficPolicy');
    expect([...ctp.spec.headers.earlyRequestHeaders.remove].sort()).toEqual([...IDENTITY_HEADERS].sort());
    expect(ctp.spec.targetRefs[0].kind).toBe('Gateway');
  });
});
