/**
 * JSON parsing that refuses duplicate member names at any depth. JSON.parse
 * keeps the last of `{"uid":"a","uid":"b"}`; another reader may keep the
 * first, so a document with duplicates means different things to different
 * readers. RFC 7515 §5.2 allows refusing it in a JWT, RFC 8259 §4 calls such
 * names unpredictable; this service refuses them in tokens and in admin
 * request bodies alike.
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
  return duplicateMember(text) === undefined ? (value as Record<string, unknown>) : undefined;
}

/**
 * The path of the first repeated member name in `text`, which must already be
 * known to be valid JSON (e.g. `enabled`, `auth.jwks.keys[0].kid`), or
 * undefined when no object repeats a name.
 *
 * A stack holds one frame per open object or array: an object's names seen so
 * far and its current member, an array's current index. A string is a member
 * name when the next non-space character is `:`.
 */
export function duplicateMember(text: string): string | undefined {
  const stack: Array<{ names: Set<string> | null; at: string | number }> = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push({ names: new Set(), at: '' });
    else if (c === 0x5b /* [ */) stack.push({ names: null, at: 0 });
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top && top.names === null) top.at = (top.at as number) + 1;
    } else if (c === 0x22 /* " */) {
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
      const top = stack[stack.length - 1];
      if (!top || !top.names) continue;
      const raw = text.slice(start, i + 1);
      const name = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      top.at = name;
      if (top.names.has(name)) return pathOf(stack);
      top.names.add(name);
    }
  }
  return undefined;
}

function pathOf(stack: ReadonlyArray<{ at: string | number }>): string {
  let out = '';
  for (const { at } of stack) {
    if (typeof at === 'number') out += `[${at}]`;
    else out += out === '' ? at : `.${at}`;
  }
  return out;
}
