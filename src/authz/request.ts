/**
 * The transport-free request model Check decisions are made on. The gRPC edge
 * builds it from a CheckRequest; tests build it directly.
 */
export interface AuthzRequest {
  /** Envoy's request id (`x-request-id`), for logs. */
  readonly id: string;
  readonly method: string;
  /** Path with the raw query string, as Envoy sends it. */
  readonly path: string;
  /** Lower-case header names; repeated headers already joined with commas by Envoy. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** `context_extensions.route`; empty when the route is unnamed. */
  readonly route: string;
}

/** queryValues' answer when the parameter cannot be taken as a credential at all. */
export const UNUSABLE = 'unusable';

/**
 * Values of query parameter `name` in `path`, or undefined when it is absent.
 *
 * Names are compared literally, never percent-decoded: Envoy removes a
 * credential with `query_parameters_to_remove` by its literal name, so a key
 * accepted under `api%5Fkey` would be forwarded upstream. A parameter whose
 * decoded name is `name` but whose literal name is not (`api%5Fkey`,
 * `%61pi_key`) makes the whole parameter UNUSABLE — the request is refused
 * rather than let such a copy through — as does a value that is not valid
 * percent-encoding. Values are percent-decoded (`%XX` only; `+` is kept
 * literally, since keys never contain spaces).
 */
export function queryValues(path: string, name: string): string[] | typeof UNUSABLE | undefined {
  const hash = path.indexOf('#');
  const q = path.indexOf('?');
  if (q < 0 || (hash >= 0 && hash < q)) return undefined; // a `?` inside the fragment is no query
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  let out: string[] | undefined;
  let unusable = false;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    if (rawName !== name) {
      if (rawName.includes('%') && decode(rawName) === name) unusable = true;
      continue;
    }
    const v = eq < 0 ? '' : decode(pair.slice(eq + 1));
    if (v === undefined) unusable = true;
    else (out ??= []).push(v);
  }
  return unusable ? UNUSABLE : out;
}
function decode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
