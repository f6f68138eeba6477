/** Browser-side checks and helpers for the JWT form. */

/** Members that only private (or symmetric) keys carry; a pasted JWKS must have none. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export type JwksCheck = { ok: true; jwks: { keys: Record<string, unknown>[] } } | { ok: false; message: string };

/** A JWKS of public keys: parseable JSON, a non-empty `keys` array of objects with `kty`, no private members. */
export function checkPublicJwks(text: string): JwksCheck {
  if (text.trim() === '') return { ok: false, message: 'Paste a JWKS: {"keys":[ ...public keys... ]}.' };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `This is not valid JSON (${(e as Error).message}).` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, message: 'A JWKS is a JSON object with a "keys" array.' };
  const keys = (v as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) return { ok: false, message: 'The JWKS needs a non-empty "keys" array.' };
  for (const [i, k] of keys.entries()) {
    const problem = checkPublicJwk(k);
    if (problem) return { ok: false, message: `keys[${i}]: ${problem}` };
  }
  return { ok: true, jwks: v as { keys: Record<string, unknown>[] } };
}

/** Undefined if `k` looks like a public JWK, else what is wrong with it. */
export function checkPublicJwk(k: unknown): string | undefined {
  if (typeof k !== 'object' || k === null || Array.isArray(k)) return 'each key must be a JSON object.';
  const o = k as Record<string, unknown>;
  if (typeof o.kty !== 'string' || o.kty === '') return 'each key needs a "kty" (e.g. "RSA", "EC", "OKP").';
  const secret = PRIVATE_MEMBERS.find((m) => m in o);
  if (secret) return `holds the private member "${secret}"; paste the public key only.`;
  return undefined;
}

/** `bytes` random bytes from crypto.getRandomValues, as lower-case hex. */
export function randomHex(bytes = 16): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}
