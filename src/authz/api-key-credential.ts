/**
 * The API-key resolver: a value found at an API-key source becomes the key
 * entry whose SHA-256 digest it has, when it was read where that key's
 * consumer reads it.
 *
 * A credential value is exactly the key, byte for byte: 1-512 printable ASCII
 * characters without space or comma, so a value with anything around or
 * inside it (spaces, tabs, CR/LF, a BOM) is malformed. `Authorization` must
 * be `Bearer` (any case), exactly one space, the key, and nothing after it.
 *
 * Allocation: a source (the key a consumer's source must match, and what to
 * strip) is made once per header or query name and kept, so resolving a key
 * allocates only the digest and the match.
 */
import { isMalformedSystemKey, keyDigest, MAX_KEY_LENGTH } from '../consumers/api-keys.js';
import type { ConsumerReplica } from '../replica/consumer-replica.js';
import type { Resolved } from './credential-match.js';
import type { Strip } from './decision.js';

const BEARER = /^Bearer ([\x21-\x2b\x2d-\x7e]+)$/i;
/** What an API key can be made of (see customKeyProblem; system keys are a subset). */
const KEY_CHARS = /^[\x21-\x2b\x2d-\x7e]+$/;

/** Where an API key was read: the consumer's source key it must match, and what to strip. */
interface KeySource {
  readonly key: string;
  readonly strip: Strip;
}

const BEARER_SOURCE: KeySource = { key: 'bearer', strip: { header: 'authorization' } };
/** Bound on the per-name source cache (names come from consumers, not from requests). */
const MAX_CACHED_SOURCES = 4096;

export class ApiKeyResolver {
  readonly #replica: ConsumerReplica;
  readonly #headerSources = new Map<string, KeySource>();
  readonly #querySources = new Map<string, KeySource>();

  constructor(replica: ConsumerReplica) {
    this.#replica = replica;
  }

  /** The `Authorization` header's value: `Bearer <key>`, or invalid. */
  bearer(value: string): Resolved {
    const m = BEARER.exec(value);
    return m ? this.#resolve(m[1] as string, BEARER_SOURCE) : 'invalid';
  }

  /** The value of header `name` (lower-case), an API-key source of some consumer. */
  header(name: string, value: string): Resolved {
    return this.#resolve(value, this.#source(this.#headerSources, 'header', name));
  }

  /** The (one, decoded) value of query parameter `name`, an API-key source of some consumer. */
  query(name: string, value: string): Resolved {
    return this.#resolve(value, this.#source(this.#querySources, 'query', name));
  }

  /**
   * The source key and strip instruction of a header or query source, made
   * once per name (a per-request template string and object were the only
   * allocations of an API-key Check besides the match itself).
   */
  #source(cache: Map<string, KeySource>, kind: 'header' | 'query', name: string): KeySource {
    let s = cache.get(name);
    if (!s) {
      s = { key: `${kind}:${name}`, strip: kind === 'header' ? { header: name } : { query: name } };
      if (cache.size >= MAX_CACHED_SOURCES) cache.clear();
      cache.set(name, s);
    }
    return s;
  }

  #resolve(value: string, source: KeySource): Resolved {
    if (value.length === 0 || value.length > MAX_KEY_LENGTH || !KEY_CHARS.test(value)) return 'invalid';
    if (isMalformedSystemKey(value)) return 'invalid';
    const entry = this.#replica.byKeyDigest(keyDigest(value));
    if (!entry) return 'unknown';
    if (entry.consumer.sourceKey !== source.key) return 'invalid';
    return { entry, strip: source.strip, expiresAtMs: entry.expiresAtMs };
  }
}
