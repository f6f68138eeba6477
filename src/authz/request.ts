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

/**
 * Values of query parameter `name` in `path` (only `%XX` is decoded; `+` is
 * kept literally, since keys never contain spaces). Returns undefined when the
 * parameter is absent. A parameter name is matched after decoding, so an
 * encoded copy of the name counts as a second occurrence.
 */
export function queryValues(path: string, name: string): string[] | undefined {
  const hash = path.indexOf('#');
  const q = path.indexOf('?');
  if (q < 0 || (hash >= 0 && hash < q)) return undefined; // a `?` inside the fragment is no query
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  let out: string[] | undefined;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    if (decode(rawName) !== name) continue;
    (out ??= []).push(eq < 0 ? '' : (decode(pair.slice(eq + 1)) ?? '\u0000invalid'));
  }
  return out;
}

function decode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
