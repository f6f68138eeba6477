/**
 * Record builders for tests that feed a store or the replica directly: an
 * API-key record from its plaintext, an API-key consumer, a change set. Every
 * field not given is a fixed, valid default, so a test names only what it is
 * about.
 */
import { hashKey, keyHint } from '../../src/consumers/api-keys.js';
import type { ApiKeyRecord, ConsumerRecord, CredentialSource, RouteRecord } from '../../src/consumers/model.js';
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
