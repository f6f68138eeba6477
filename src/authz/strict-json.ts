/**
 * JSON parsing that refuses duplicate member names at any depth. JSON.parse
 * keeps the last of `{"uid":"a","uid":"b"}`; another JWT library may keep the
 * first, so a token with duplicates means different things to different
 * readers. RFC 7515 §5.2 allows refusing it; this service does.
 */

/**
 * Parses `text` as a JSON object. Returns undefined when it is not valid JSON,
 * not an object, or repeats a member name in any object (names compared after
 * unescaping, so `"uid"` and `"u\u0069d"` are the same).
 */
export function parseStrictObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return hasDuplicateNames(text) ? undefined : (value as Record<string, unknown>);
}

/**
 * Scans text already known to be valid JSON. A stack holds one name set per
 * open object (null for an array); a string is a member name when the next
 * non-space character is `:`.
 */
function hasDuplicateNames(text: string): boolean {
  const stack: Array<Set<string> | null> = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      let j = i + 1;
      while (j < n && (text[j] === ' ' || text[j] === '\t' || text[j] === '\n' || text[j] === '\r')) j++;
      if (text[j] !== ':') continue;
      const names = stack[stack.length - 1];
      if (!names) continue;
      const raw = text.slice(start, i + 1);
      const name = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      if (names.has(name)) return true;
      names.add(name);
    }
  }
  return false;
}
