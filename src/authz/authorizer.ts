/**
 * Check's core. A request walks three phases:
 *   identity      find the credential(s) in the request and resolve them
 *                 against the in-process Directory;
 *   authorization the consumer must be enabled, its key unexpired, and the
 *                 route must admit it;
 *   response      a Decision value the gRPC edge turns into Envoy's answer.
 * No network, no logging, no exceptions for a refusal.
 */
import { hashKey, isMalformedSystemKey, MAX_KEY_LENGTH } from '../consumers/api-keys.js';
import type { Directory, KeyEntry } from '../store/directory.js';
import { deny, denyConsumer, type Decision, type Strip } from './decision.js';
import { queryValues, type AuthzRequest } from './request.js';

export interface AuthorizerOptions {
  directory: Directory;
  /** Clock in epoch ms (injectable for tests). */
  now?: () => number;
}

/** What one credential found in the request resolved to. */
type Resolved = { entry: KeyEntry; strip: Strip } | 'invalid' | 'unknown';

const BEARER = /^Bearer +([^\s,]+) *$/i;

export class Authorizer {
  readonly #dir: Directory;
  readonly #now: () => number;

  constructor(opts: AuthorizerOptions) {
    this.#dir = opts.directory;
    this.#now = opts.now ?? Date.now;
  }

  check(req: AuthzRequest): Decision {
    // Identity: every source some consumer uses is looked at; a key counts
    // only when found where its own consumer reads it.
    let found = 0;
    let match: { entry: KeyEntry; strip: Strip } | undefined;
    let invalid = false;
    let unknown = false;
    const consider = (r: Resolved) => {
      found++;
      if (r === 'invalid') invalid = true;
      else if (r === 'unknown') unknown = true;
      else if (match && match.entry !== r.entry) invalid = true; // two different credentials: ambiguous
      else match = r;
    };

    const dir = this.#dir;
    // `Authorization: Bearer` is always looked at, whether or not a consumer
    // uses it today: a bearer token nobody owns is an invalid credential, not
    // a missing one.
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = BEARER.exec(auth);
      consider(m ? this.#resolve(m[1] as string, 'bearer', { header: 'authorization' }) : 'invalid');
    }
    for (const name of dir.headerNames) {
      const v = req.headers[name];
      if (v !== undefined) consider(this.#resolve(v.trim(), `header:${name}`, { header: name }));
    }
    if (dir.queryNames.length > 0 && req.path.includes('?')) {
      for (const name of dir.queryNames) {
        const vs = queryValues(req.path, name);
        if (vs === undefined) continue;
        consider(vs.length === 1 ? this.#resolve(vs[0] as string, `query:${name}`, { query: name }) : 'invalid');
      }
    }

    if (found === 0) return dir.authoritative ? deny('missing_credential') : deny('authz_unavailable');
    if (!match || invalid) {
      // Not in the replica: definite only when the replica is in step with the store.
      if (!match && unknown && !dir.authoritative) return deny('authz_unavailable');
      return deny('invalid_credential');
    }

    // Authorization.
    const { entry } = match;
    const consumer = entry.consumer.record;
    if (this.#now() >= entry.expiresAtMs) return denyConsumer('expired_credential', consumer);
    if (!consumer.enabled) return denyConsumer('consumer_disabled', consumer);
    if (req.route !== '') {
      const granted = dir.grants(req.route);
      if (granted && !granted.has(consumer.name)) return denyConsumer('route_forbidden', consumer);
    }
    return { allow: true, entry, strip: match.strip };
  }

  #resolve(value: string, sourceKey: string, strip: Strip): Resolved {
    if (value.length === 0 || value.length > MAX_KEY_LENGTH || value.includes(',')) return 'invalid';
    if (isMalformedSystemKey(value)) return 'invalid';
    const entry = this.#dir.byKeyHash(hashKey(value));
    if (!entry) return 'unknown';
    if (entry.consumer.sourceKey !== sourceKey) return 'invalid';
    return { entry, strip };
  }
}
