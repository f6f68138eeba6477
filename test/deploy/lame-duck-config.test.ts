/**
 * The lame duck is long enough for the Envoy of envoy/envoy.yaml: the default
 * LAME_DUCK_MS exceeds the time its active gRPC health check needs to mark a
 * NOT_SERVING instance unhealthy (unhealthy_threshold x interval, plus one
 * timeout for a check already in flight). envoy-config.test.ts validates the
 * file against the official protos. And the platforms' stop grace (Compose's
 * stop_grace_period, Kubernetes' terminationGracePeriodSeconds) outlasts the
 * lame duck plus the drain, so SIGKILL never cuts a drain short.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { loadYaml, loadYamlDocuments } from './deploy-files.js';

function seconds(d: string): number {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  return Number(m[1]) * 1000;
}

describe('LAME_DUCK_MS against envoy.yaml', () => {
  it('the authz cluster is actively health-checked over grpc.health.v1, and the default lame duck outlasts its detection', () => {
    const envoy = loadYaml('envoy/envoy.yaml');
    const authz = envoy.static_resources.clusters.find((c: any) => c.name === 'authz');
    const hc = authz.health_checks[0];
    expect(hc.grpc_health_check.service_name).toBe('envoy.service.auth.v3.Authorization');
    const detectMs = hc.unhealthy_threshold * seconds(hc.interval) + seconds(hc.timeout);
    expect(detectMs).toBe(3000);
    expect(loadConfig({}).lameDuckMs).toBeGreaterThan(detectMs);
  });
});

describe('stop grace against LAME_DUCK_MS + DRAIN_MS', () => {
  const { lameDuckMs, drainMs } = loadConfig({});
  // A shutdown stuck past both exits by itself 5 s later (main.ts): the grace covers that too.
  const shutdownMs = lameDuckMs + drainMs + 5000;

  it('docker compose waits longer than the lame duck and the drain before SIGKILL', () => {
    const compose = loadYaml('docker-compose.yml');
    const env = compose.services.authz.environment ?? {};
    expect(env.LAME_DUCK_MS ?? env.DRAIN_MS).toBeUndefined(); // the defaults apply
    expect(seconds(compose.services.authz.stop_grace_period)).toBeGreaterThan(shutdownMs);
  });

  it('the Kubernetes Deployment does too', () => {
    const docs = loadYamlDocuments('envoy/kubernetes/consumer-authz.yaml');
    const deployment = docs.find((d: any) => d?.kind === 'Deployment');
    const spec = deployment.spec.template.spec;
    const container = spec.containers.find((c: any) => c.name === 'consumer-authz');
    const set = new Set((container.env ?? []).map((e: any) => e.name));
    expect(set.has('LAME_DUCK_MS') || set.has('DRAIN_MS')).toBe(false);
    expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdownMs);
  });
});
