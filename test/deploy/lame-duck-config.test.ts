/**
 * The lame duck is long enough for the Envoy of envoy/envoy.yaml: the default
 * LAME_DUCK_MS exceeds the time its active gRPC health check needs to mark a
 * NOT_SERVING instance unhealthy (unhealthy_threshold x interval, plus one
 * timeout for a check already in flight). envoy-config.test.ts validates the
 * file against the official protos.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { loadYaml } from './deploy-files.js';

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
