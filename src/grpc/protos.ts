/** Loads the service's own wire-identical subset of the Envoy protos (proto/). */
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** proto/ at the package root: two levels up from src/grpc, three from dist/src/grpc. */
export const PROTO_DIR = ['../../proto/', '../../../proto/']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((dir) => existsSync(`${dir}envoy/service/auth/v3/external_auth.proto`)) as string;

/** The ext_authz service's full name. */
export const AUTH_SERVICE = 'envoy.service.auth.v3.Authorization';

let cached: PackageDefinition | undefined;

export function authPackage(): PackageDefinition {
  cached ??= loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: false,
    oneofs: false,
  });
  return cached;
}
