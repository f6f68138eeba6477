/**
 * The Cookie header, read the way the credential finder needs it: the values
 * of one cookie, and the header without that cookie (what the strip
 * instruction leaves for the upstream). Only HTTP's optional whitespace is
 * trimmed, so a token with any other character around it stays malformed.
 */
/**
 * Values of cookie `name` in a Cookie header (`a=1; b=2`; Envoy joins several
 * Cookie headers with "; "). Surrounding double quotes are removed. Returns
 * undefined when the cookie is absent.
 */
export function cookieValues(header: string, name: string): string[] | undefined {
  let out: string[] | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || trimOws(part.slice(0, eq)) !== name) continue;
    let v = trimOws(part.slice(eq + 1));
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    (out ??= []).push(v);
  }
  return out;
}

/** The Cookie header without cookie `name`, or undefined when nothing else is left. */
export function cookieWithout(header: string, name: string): string | undefined {
  const rest = header
    .split(';')
    .map(trimOws)
    .filter((p) => p.length > 0 && trimOws(p.slice(0, p.indexOf('=') < 0 ? p.length : p.indexOf('='))) !== name);
  return rest.length > 0 ? rest.join('; ') : undefined;
}

/**
 * Removes the optional whitespace of HTTP (ASCII space and tab) around a
 * cookie name or value, and nothing else: String.prototype.trim would also
 * drop Unicode spaces, a BOM or CR/LF, letting a token pass with them.
 */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
