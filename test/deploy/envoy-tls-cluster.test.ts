/**
 * envoy/authz-cluster-tls.yaml, the TLS/mTLS variant of envoy.yaml's "authz" cluster: the strict
 * proto walk of envoy-config.test.ts, the TLS settings consumer-authz needs, and the rest of the
 * cluster equal to the plain one (so the variant does not drift from envoy.yaml).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvoyProtoValidator } from './envoy-proto-validator.js';
import { loadYaml } from './deploy-files.js';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
let validator: EnvoyProtoValidator;
let tlsCluster: any;
let plain: any;

beforeAll(() => {
  validator = new EnvoyProtoValidator();
  tlsCluster = loadYaml('envoy/authz-cluster-tls.yaml');
  plain = (loadYaml('envoy/envoy.yaml') as any).static_resources.clusters.find((c: any) => c.name === 'authz');
});

describe('envoy/authz-cluster-tls.yaml', () => {
  it('conforms to the Envoy API protos (Cluster), @types included', () => {
    expect(validator.validate(CLUSTER, tlsCluster)).toEqual([]);
  });

  it('the walk catches a misspelled field inside the UpstreamTlsContext', () => {
    const bad = structuredClone(tlsCluster);
    bad.transport_socket.typed_config.common_tls_context.validation_context.trusted_cert = bad.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca;
    expect(validator.validate(CLUSTER, bad).map((i) => i.path).join()).toMatch(/trusted_cert/);
  });

  it('speaks TLS 1.2+ with h2 ALPN, checks the server against a CA and its SAN, sends SNI and a client certificate', () => {
    const ts = tlsCluster.transport_socket;
    expect(ts.name).toBe('envoy.transport_sockets.tls');
    const ctx = ts.typed_config;
    expect(ctx['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(ctx.sni).toBe('authz');
    expect(ctx.common_tls_context.alpn_protocols).toEqual(['h2']);
    expect(ctx.common_tls_context.tls_params.tls_minimum_protocol_version).toBe('TLSv1_2');
    expect(ctx.common_tls_context.validation_context.trusted_ca.filename).toMatch(/\.crt$/);
    expect(ctx.common_tls_context.validation_context.match_typed_subject_alt_names[0].matcher.exact).toBe(ctx.sni);
    expect(ctx.common_tls_context.tls_certificates).toHaveLength(1);
  });

  it('is envoy.yaml\'s authz cluster plus transport_socket, nothing else changed', () => {
    const { transport_socket: _ts, ...rest } = tlsCluster;
    expect(rest).toEqual(plain);
    expect(plain.transport_socket).toBeUndefined();
  });
});
