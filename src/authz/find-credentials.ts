/**
 * The credential phase: where a request is looked at, and what each value
 * found there is taken for.
 *
 * Every place some consumer reads (the replica counts the sources in use) is
 * looked at, and `Authorization` always: a bearer value nobody owns is an
 * invalid credential, not a missing one. Whatever is found there is a
 * credential, resolved by the API-key or the JWT resolver; the decision then
 * needs every one to resolve to the same credential (see authorizer.ts).
 *
 * Where API-key and JWT consumers read the same header or query parameter, a
 * value shaped like a JWS (consumers/jws-shape.ts: `eyJ…` up to a dot, after
 * an optional scheme word) is taken as a JWT and anything else as an API key. Query parameter names
 * are compared literally (see queryValues), the same literal name the strip
 * instruction removes; a parameter or cookie given twice is invalid.
 */
import { isJwsShaped } from '../consumers/jws-shape.js';
import type { ConsumerReplica, JwtSource } from '../replica/consumer-replica.js';
import type { ApiKeyResolver } from './api-key-credential.js';
import { cookieValues } from './cookies.js';
import type { Resolved } from './credential-match.js';
import type { JwtResolver } from './jwt-credential.js';
import { queryValues, UNUSABLE, type AuthzRequest } from './request.js';

/** Every credential in `req`, each resolved (a promise where a signature must be checked). */
export function findCredentials(
  req: AuthzRequest,
  dir: ConsumerReplica,
  keys: ApiKeyResolver,
  jwts: JwtResolver,
): Array<Resolved | Promise<Resolved>> {
  const found: Array<Resolved | Promise<Resolved>> = [];

  // API keys: a key counts only when found where its own consumer reads it. A
  // JWS-shaped value where a JWT consumer reads belongs to the JWT pass below.
  const jwtHeaders = dir.jwtHeaders;
  const jwtQueries = dir.jwtQueries;
  const auth = req.headers.authorization;
  if (auth !== undefined && !(hasSource(jwtHeaders, 'authorization') && isJwsShaped(auth))) {
    found.push(keys.bearer(auth));
  }
  for (const name of dir.headerNames) {
    const v = req.headers[name];
    if (v === undefined || (hasSource(jwtHeaders, name) && isJwsShaped(v))) continue;
    found.push(keys.header(name, v));
  }
  const hasQuery = req.path.includes('?');
  if (hasQuery) {
    for (const name of dir.queryNames) {
      const vs = queryValues(req.path, name);
      if (vs === undefined) continue;
      if (vs === UNUSABLE) {
        found.push('invalid');
        continue;
      }
      if (vs.length === 1 && hasSource(jwtQueries, name) && isJwsShaped(vs[0] as string)) continue;
      found.push(vs.length === 1 ? keys.query(name, vs[0] as string) : 'invalid');
    }
  }

  // JWTs.
  for (const src of jwtHeaders) {
    const v = req.headers[src.name];
    if (v === undefined) continue;
    const apiReads = src.name === 'authorization' || dir.headerNames.includes(src.name);
    if (apiReads && !isJwsShaped(v)) continue; // an API key: resolved above
    found.push(jwts.resolve('header', src, v, req));
  }
  if (hasQuery) {
    for (const src of jwtQueries) {
      const vs = queryValues(req.path, src.name);
      if (vs === undefined) continue;
      if (vs === UNUSABLE || vs.length !== 1) {
        found.push('invalid');
        continue;
      }
      if (dir.queryNames.includes(src.name) && !isJwsShaped(vs[0] as string)) continue;
      found.push(jwts.resolve('query', src, vs[0] as string, req));
    }
  }
  const cookieHeader = dir.jwtCookies.length > 0 ? req.headers.cookie : undefined;
  if (cookieHeader !== undefined) {
    for (const src of dir.jwtCookies) {
      const vs = cookieValues(cookieHeader, src.name);
      if (vs === undefined) continue;
      found.push(vs.length === 1 ? jwts.resolve('cookie', src, vs[0] as string, req) : 'invalid');
    }
  }
  return found;
}

function hasSource(sources: readonly JwtSource[], name: string): boolean {
  for (const s of sources) if (s.name === name) return true;
  return false;
}
