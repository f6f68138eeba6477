/**
 * The test fixtures, in one place: records for tests that feed a store or the
 * replica directly (an API-key record from its plaintext, an API-key or JWT
 * consumer, a change set) and key material (JWKS key pairs for every
 * asymmetric algorithm). Every field not given is a fixed, valid default, so a
 * test names only what it is about.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { hashKey, keyHint } from '../../src/consumers/api-keys.js';
import type {
  ApiKeyRecord,
  ConsumerRecord,
  CredentialSource,
  JwtAuth,
  JwtKeyRecord,
  RouteRecord,
  StoredJwk,
} from '../../src/consumers/model.js';
import type { ChangeSet } from '../../src/store/store.js';

/** The instant every fixture is created at. */
export const FIXTURE_TIME = '2026-01-01T00:00:00.000Z';

/** An API key's record: its hash and hint from the plaintext, never the plaintext. */
export function apiKeyRecord(id: string, plaintext: string, expiresAt: string | null = null): ApiKeyRecord {
  return {
    id,
    hash: hashKey(plaintext),
    hint: keyHint(plaintext),
    generation: plaintext.startsWith('cak_') ? 'system' : 'custom',
    createdAt: FIXTURE_TIME,
    expiresAt,
  };
}

export interface ApiKeyConsumerOptions {
  source?: CredentialSource;
  enabled?: boolean;
  version?: number;
  description?: string;
}

/** An API-key consumer `name` (id `csm_<name>`) holding `keys`; bearer source and enabled by default. */
export function apiKeyConsumer(name: string, keys: readonly ApiKeyRecord[], opts: ApiKeyConsumerOptions = {}): ConsumerRecord {
  return {
    id: `csm_${name}`,
    name,
    description: opts.description ?? '',
    enabled: opts.enabled ?? true,
    createdAt: FIXTURE_TIME,
    updatedAt: FIXTURE_TIME,
    version: opts.version ?? 1,
    auth: { type: 'api-key', source: opts.source ?? { in: 'bearer' }, keys },
  };
}

export interface ChangeSetParts {
  consumers?: readonly ConsumerRecord[];
  /** Names of consumers deleted. */
  deleted?: readonly string[];
  routes?: readonly RouteRecord[];
  rev?: number;
}

/** A complete change set (`more: false`, epoch `e`) of these changes. */
export function changeSet(parts: ChangeSetParts): ChangeSet {
  const consumers = new Map<string, ConsumerRecord | null>((parts.consumers ?? []).map((c) => [c.name, c]));
  for (const name of parts.deleted ?? []) consumers.set(name, null);
  return { epoch: 'e', rev: parts.rev ?? 1, more: false, consumers, routes: new Map((parts.routes ?? []).map((r) => [r.route, r])) };
}

/** A JWT key record as stored (the JWK carries its kid and alg). */
export function jwtKeyRecord(jwk: StoredJwk): JwtKeyRecord {
  return { kid: jwk.kid, jwk, createdAt: FIXTURE_TIME };
}

export interface JwtConsumerOptions {
  enabled?: boolean;
  version?: number;
  /** Default: `Authorization: Bearer <token>`, not passed through. */
  token?: JwtAuth['token'];
  /** Default: claim `uid` with value `<name>-uid`. */
  identity?: JwtAuth['identity'];
  /** Default: exp required, 60 s of clock skew. */
  claims?: JwtAuth['claims'];
}

/**
 * A JWT consumer record `name` (id `csm_<name>`) holding `keys`, as the store
 * keeps it — with no registration checks, so a test can hold what an older
 * store could (e.g. a weak key).
 */
export function jwtConsumer(name: string, keys: readonly JwtKeyRecord[], opts: JwtConsumerOptions = {}): ConsumerRecord {
  return {
    id: `csm_${name}`,
    name,
    description: '',
    enabled: opts.enabled ?? true,
    createdAt: FIXTURE_TIME,
    updatedAt: FIXTURE_TIME,
    version: opts.version ?? 1,
    auth: {
      type: 'jwt',
      keyType: keys.some((k) => k.jwk.kty === 'oct') ? 'symmetric' : 'asymmetric',
      keys,
      token: opts.token ?? { in: 'header', name: 'authorization', prefix: 'Bearer ', passthrough: false },
      identity: opts.identity ?? { claim: 'uid', value: `${name}-uid` },
      claims: opts.claims ?? { requireExp: true, clockSkewSeconds: 60 },
      claimsToHeaders: [],
    },
  };
}

export type AsymAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';
export const ASYM_ALGS: AsymAlg[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface TestKeyPair {
  alg: AsymAlg;
  kid: string;
  privateKey: CryptoKey;
  /** Public JWK with kid and alg, as a caller would supply it. */
  publicJwk: JWK;
}

let kidSeq = 0;

/** A fresh key pair for `alg`; its public JWK is what a caller puts in an asymmetric consumer's JWKS. */
export async function keyPair(alg: AsymAlg, kid = `test-${alg.toLowerCase()}-${++kidSeq}`): Promise<TestKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const jwk = await exportJWK(publicKey);
  return { alg, kid, privateKey, publicJwk: { ...jwk, kid, alg } };
}
