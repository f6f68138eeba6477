/**
 * Replays the README's docker-compose walkthrough against the real server:
 * each curl line becomes the CheckRequest Envoy would send (headers and route
 * from test/deploy/readme-cases.ts, which readme-cases.test.ts ties to the
 * README and envoy.yaml), and the README's promised outcome is asserted.
 */
import { SignJWT, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { denyCode, header, httpStatus } from '../helpers/envoy.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { README_CASES, README_SETUP } from './readme-cases.js';

let t: TestApp;
const values: Record<string, string> = {};

beforeAll(async () => {
  t = await startApp();
});

afterAll(async () => {
  await t.stop();
});

/** What `consumer-authz jwt mint carol --jwks FILE` prints: an HS256 token naming carol. */
async function mintFor(name: string, jwks: { keys: JWK[] }): Promise<string> {
  const consumer = (await t.admin('GET', `/v1/consumers/${name}`)).body;
  const jwk = jwks.keys[0] as JWK;
  const key = await importJWK(jwk, 'HS256');
  return new SignJWT({ [consumer.auth.identity.claim]: consumer.auth.identity.value })
    .setProtectedHeader({ alg: 'HS256', kid: jwk.kid as string })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
}

const fill = (s: string) => s.replace(/\$[A-Z_]+/g, (m) => values[m] ?? m);

describe('README docker-compose walkthrough, replayed as CheckRequests', () => {
  const applied = new Set<number>();
  README_CASES.forEach((c, i) => {
    it(`${c.curl} → ${c.expectStatus}${c.expectCode ? ` ${c.expectCode}` : ''}`, async () => {
      for (const [s, step] of README_SETUP.entries()) {
        if (step.beforeCase > i || applied.has(s)) continue;
        applied.add(s);
        const res = await t.admin(step.admin.method, step.admin.path, step.admin.body);
        expect(res.status, `${step.cli}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
        if (res.body?.jwks && res.body.consumer) {
          values[`$${res.body.consumer.name.toUpperCase()}_TOKEN`] = await mintFor(res.body.consumer.name, res.body.jwks);
        }
      }
      if (c.route === null) return; // ext_authz is off there: Envoy answers without asking
      const headers = Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, fill(v)]));
      const res = await t.envoy.checkRaw({
        attributes: {
          request: { http: { id: `readme-${i}`, method: c.method, path: c.path, host: headers[':authority'], scheme: 'http', headers } },
          context_extensions: { route: c.route },
        },
      });
      expect(httpStatus(res)).toBe(c.expectStatus);
      if (c.expectCode) expect(denyCode(res)).toBe(c.expectCode);
      for (const [name, want] of Object.entries(c.expectHeadersToUpstream ?? {})) {
        const set = header(res.ok_response?.headers, name);
        if (want === null) {
          expect(set).toBeUndefined();
          const sentByClient = name in headers;
          if (sentByClient) expect(res.ok_response?.headers_to_remove).toContain(name);
        } else {
          expect(set).toBe(want);
        }
      }
    });
  });
});
