/**
 * Every relative link in the README and docs/ points at a file that exists,
 * and every `#anchor` at a heading of that file (GitHub's anchor rule: lower
 * case, punctuation dropped, spaces to hyphens), so moving a section between
 * the README and docs/ cannot leave a link dangling.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRepoFile, repoRoot } from './deploy-files.js';

function anchors(rel: string): Set<string> {
  const text = readRepoFile(rel).replace(/```[\s\S]*?```/g, '');
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add((m[1] as string).trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-'));
  }
  return out;
}

const DOCS = ['README.md', ...readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('documentation links', () => {
  it.each(DOCS)('%s: every relative link and anchor resolves', (rel) => {
    const text = readRepoFile(rel).replace(/```[\s\S]*?```/g, '');
    const broken: string[] = [];
    let links = 0;
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1] as string;
      if (/^[a-z]+:/.test(link)) continue; // http(s):, mailto:
      links++;
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file === '' ? rel : path.posix.normalize(path.posix.join(path.posix.dirname(rel), file));
      if (!existsSync(path.join(repoRoot, target))) broken.push(`${link} (no file ${target})`);
      else if (anchor && target.endsWith('.md') && !anchors(target).has(anchor)) broken.push(`${link} (no heading #${anchor} in ${target})`);
    }
    expect(broken).toEqual([]);
    if (rel === 'README.md') expect(links).toBeGreaterThan(10);
  });
});
