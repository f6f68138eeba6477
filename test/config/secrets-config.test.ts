/** SECRETS_KEK / SECRETS_KEK_FILE: valid forms, each refusal named, no key text in any message. */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { derivedKekId } from '../../src/consumers/secret-seal.js';

const k = () => randomBytes(32).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'cauthz-kek-'));
let n = 0;
function file(text: string, mode = 0o600): string {
  const p = join(dir, `kek-${++n}`);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('secrets KEK configuration', () => {
  it('none: no KEK, no warning', () => {
    const c = loadConfig({});
    expect(c.secretsKeks).toEqual([]);
    expect(c.warnings).toEqual([]);
  });

  it('SECRETS_KEK: one key, id derived from its hash, standard or url base64', () => {
    const text = k();
    const c = loadConfig({ SECRETS_KEK: text });
    expect(c.secretsKeks).toHaveLength(1);
    const kek = c.secretsKeks[0]!;
    expect(kek.id).toBe(derivedKekId(kek.key));
    expect(kek.key.export().toString('base64')).toBe(text);
    const url = Buffer.from(text, 'base64').toString('base64url');
    expect(loadConfig({ SECRETS_KEK: url }).secretsKeks[0]!.id).toBe(kek.id);
    // printing the config shows no key bytes
    expect(JSON.stringify(c)).not.toContain(text);
  });

  it.each([
    ['16 bytes', randomBytes(16).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['hex, not base64', randomBytes(32).toString('hex')],
    ['not base64', '!'.repeat(44)],
  ])('SECRETS_KEK refused: %s, without echoing it', (_label, text) => {
    const p = problems({ SECRETS_KEK: text });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^SECRETS_KEK: must be 32 bytes in base64/);
    expect(p[0]).not.toContain(text);
  });

  it('SECRETS_KEK_FILE: ids and keys, comments, the first is primary', () => {
    const [a, b] = [k(), k()];
    const c = loadConfig({ SECRETS_KEK_FILE: file(`# keys\nnew ${a}\n\n  old\t${b}  \n`) });
    expect(c.secretsKeks.map((x) => x.id)).toEqual(['new', 'old']);
    expect(c.secretsKeks[0]!.key.export().toString('base64')).toBe(a);
    expect(c.warnings).toEqual([]);
  });

  it('SECRETS_KEK_FILE readable by everyone: works, with a warning', () => {
    const c = loadConfig({ SECRETS_KEK_FILE: file(`a ${k()}\n`, 0o644) });
    expect(c.secretsKeks).toHaveLength(1);
    expect(c.warnings.join()).toMatch(/readable by every user.*chmod 600/);
  });

  it.each([
    ['a duplicate id', (a: string, b: string) => `one ${a}\none ${b}\n`, /line 2: duplicate id "one"/],
    ['one key under two ids', (a: string) => `one ${a}\ntwo ${a}\n`, /line 2: the key of "two" is the same as an earlier one/],
    ['a short key', () => `one ${randomBytes(31).toString('base64')}\n`, /line 1: the key of "one" must be 32 bytes/],
    ['a line without an id', (a: string) => `${a}\n`, /line 1: must be `<id> <base64 key>`/],
    ['an id with a dot', (a: string) => `v1.x ${a}\n`, /line 1: id "v1.x" must be/],
    ['no key at all', () => `# nothing\n`, /lists no key/],
  ])('SECRETS_KEK_FILE refused: %s', (_label, make, re) => {
    const [a, b] = [k(), k()];
    const p = problems({ SECRETS_KEK_FILE: file(make(a, b)) });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^SECRETS_KEK_FILE=/);
    expect(p[0]).toMatch(re);
    expect(p[0]).not.toContain(a);
    expect(p[0]).not.toContain(b);
  });

  it('an unreadable file, and both variables at once, are refused', () => {
    expect(problems({ SECRETS_KEK_FILE: join(dir, 'absent') })[0]).toMatch(/cannot be read \(ENOENT\)/);
    expect(problems({ SECRETS_KEK: k(), SECRETS_KEK_FILE: file(`a ${k()}\n`) })[0]).toMatch(/set one, not both/);
  });
});
