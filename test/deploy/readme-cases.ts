/**
 * The README "Run it beside Envoy" walkthrough as data: one {@link ReadmeCase} per curl line, in README
 * order, and the state changes ({@link README_SETUP}) the walkthrough makes between them.
 *
 * Format (kept simple so a test can replay it against the real server as CheckRequests):
 * - `headers` are what Envoy puts in `CheckRequest.attributes.request.http.headers` for that curl line
 *   with the envoy.yaml of this repository: lower-case names, pseudo-headers `:authority`, `:method`,
 *   `:path`, `:scheme` included, client-sent identity headers already removed by Envoy's early header
 *   mutation. Headers whose value differs on every run (`x-request-id`, `x-forwarded-for`,
 *   `x-envoy-external-address`) are left out; the `user-agent` value is illustrative.
 * - `route` is the `context_extensions.route` envoy.yaml sends for `path` (`null`: ext_authz is disabled
 *   on that route, Envoy sends no CheckRequest and answers by itself).
 * - Values that only exist at run time are written as `$NAME` and explained in {@link PLACEHOLDERS}.
 * - To replay: for case i, first apply every {@link README_SETUP} step with `beforeCase <= i` (in
 *   order, each once), then send the case.
 */

/** One curl line of the README walkthrough. */
export interface ReadmeCase {
  /** The curl command exactly as the README prints it, without the trailing `# → ...` comment. */
  curl: string;
  /** `context_extensions.route` for `path`, or null when ext_authz is disabled there. */
  route: string | null;
  /** HTTP method. */
  method: string;
  /** Request path with query string, as in `:path`. */
  path: string;
  /** Headers as Envoy forwards them to consumer-authz (see the module comment). */
  headers: Record<string, string>;
  /** HTTP status the client gets. */
  expectStatus: number;
  /** `error.code` of a denial body. */
  expectCode?: string;
  /** Headers the upstream must receive with this value, or (null) must not receive at all. */
  expectHeadersToUpstream?: Record<string, string | null>;
}

/** A state change of the walkthrough, as the README's CLI line and as the admin API call it makes. */
export interface ReadmeSetupStep {
  /** A substring of the README line that runs it. */
  cli: string;
  /** Index in {@link README_CASES} of the first case that depends on it. */
  beforeCase: number;
  /** The admin API request (PRODUCT.md "Admin API"). */
  admin: { method: 'POST' | 'PATCH' | 'PUT' | 'DELETE'; path: string; body?: unknown };
}

/** Run-time values used in cases. */
export const PLACEHOLDERS: Record<string, string> = {
  $CAROL_TOKEN:
    "an HS256 JWT signed with the key of the JWKS returned when consumer 'carol' was created, whose 'uid' claim equals carol's identity value, not expired (what `consumer-authz jwt mint carol --jwks FILE` prints)",
};

const AUTHORITY = 'localhost:10000';

function envoyHeaders(method: string, path: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ':authority': AUTHORITY,
    ':method': method,
    ':path': path,
    ':scheme': 'http',
    'user-agent': 'curl/8.14.1',
    accept: '*/*',
    'x-forwarded-proto': 'http',
    ...extra,
  };
}

const ALICE_KEY = 'alice-demo-key-0123456789';
const BOB_KEY = 'bob-demo-key-0123456789';

/** Every curl line of the README section, in README order. */
export const README_CASES: ReadmeCase[] = [
  {
    curl: 'curl -i http://localhost:10000/healthz',
    route: null,
    method: 'GET',
    path: '/healthz',
    headers: envoyHeaders('GET', '/healthz'),
    expectStatus: 200,
  },
  {
    curl: 'curl -i http://localhost:10000/orders/42',
    route: 'orders',
    method: 'GET',
    path: '/orders/42',
    headers: envoyHeaders('GET', '/orders/42'),
    expectStatus: 401,
    expectCode: 'missing_credential',
  },
  {
    curl: `curl -i -H "Authorization: Bearer ${ALICE_KEY}" http://localhost:10000/orders/42`,
    route: 'orders',
    method: 'GET',
    path: '/orders/42',
    headers: envoyHeaders('GET', '/orders/42', { authorization: `Bearer ${ALICE_KEY}` }),
    expectStatus: 200,
    expectHeadersToUpstream: { 'x-consumer-name': 'alice', 'x-mse-consumer': 'alice', authorization: null },
  },
  {
    // The client's forged x-consumer-name is removed by Envoy before the check: it is not in `headers`.
    curl: `curl -i -H "x-api-key: ${BOB_KEY}" -H "x-consumer-name: alice" http://localhost:10000/orders/7`,
    route: 'orders',
    method: 'GET',
    path: '/orders/7',
    headers: envoyHeaders('GET', '/orders/7', { 'x-api-key': BOB_KEY }),
    expectStatus: 200,
    expectHeadersToUpstream: { 'x-consumer-name': 'bob', 'x-mse-consumer': 'bob', 'x-api-key': null },
  },
  {
    curl: 'curl -i -H "Authorization: Bearer $CAROL_TOKEN" http://localhost:10000/orders/42',
    route: 'orders',
    method: 'GET',
    path: '/orders/42',
    headers: envoyHeaders('GET', '/orders/42', { authorization: 'Bearer $CAROL_TOKEN' }),
    expectStatus: 200,
    expectHeadersToUpstream: { 'x-consumer-name': 'carol', 'x-mse-consumer': 'carol', authorization: null },
  },
  {
    curl: `curl -i -H "x-api-key: ${BOB_KEY}" http://localhost:10000/orders/7`,
    route: 'orders',
    method: 'GET',
    path: '/orders/7',
    headers: envoyHeaders('GET', '/orders/7', { 'x-api-key': BOB_KEY }),
    expectStatus: 403,
    expectCode: 'consumer_disabled',
  },
  {
    curl: 'curl -i -H "Authorization: Bearer $CAROL_TOKEN" http://localhost:10000/reports/q3',
    route: 'reports',
    method: 'GET',
    path: '/reports/q3',
    headers: envoyHeaders('GET', '/reports/q3', { authorization: 'Bearer $CAROL_TOKEN' }),
    expectStatus: 403,
    expectCode: 'route_forbidden',
  },
  {
    curl: `curl -i -H "Authorization: Bearer ${ALICE_KEY}" http://localhost:10000/reports/q3`,
    route: 'reports',
    method: 'GET',
    path: '/reports/q3',
    headers: envoyHeaders('GET', '/reports/q3', { authorization: `Bearer ${ALICE_KEY}` }),
    expectStatus: 200,
    expectHeadersToUpstream: { 'x-consumer-name': 'alice', authorization: null },
  },
];

/** The walkthrough's state changes, in README order. */
export const README_SETUP: ReadmeSetupStep[] = [
  {
    cli: `consumer-authz consumers create alice --key ${ALICE_KEY}`,
    beforeCase: 2,
    admin: {
      method: 'POST',
      path: '/v1/consumers',
      body: { name: 'alice', auth: { type: 'api-key', generation: 'custom', key: ALICE_KEY, source: { in: 'bearer' } } },
    },
  },
  {
    cli: `consumer-authz consumers create bob --key ${BOB_KEY} --source header:x-api-key`,
    beforeCase: 2,
    admin: {
      method: 'POST',
      path: '/v1/consumers',
      body: {
        name: 'bob',
        auth: { type: 'api-key', generation: 'custom', key: BOB_KEY, source: { in: 'header', name: 'x-api-key' } },
      },
    },
  },
  {
    cli: 'consumer-authz consumers create carol --jwt symmetric',
    beforeCase: 4,
    admin: { method: 'POST', path: '/v1/consumers', body: { name: 'carol', auth: { type: 'jwt', keyType: 'symmetric' } } },
  },
  {
    cli: 'consumer-authz consumers disable bob',
    beforeCase: 5,
    admin: { method: 'PATCH', path: '/v1/consumers/bob', body: { enabled: false } },
  },
  {
    cli: 'consumer-authz routes grant reports alice',
    beforeCase: 6,
    admin: { method: 'PUT', path: '/v1/routes/reports', body: { consumers: ['alice'] } },
  },
];
