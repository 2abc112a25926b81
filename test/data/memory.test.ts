// Loading a large file takes memory in proportion to its tokens (Int32Array, 4 bytes each), not
// to copies of its text: 16 MB files load in a child process whose JavaScript heap is capped at
// 96 MB (the whole text as one string and its tokens as a plain array need several times that).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Random } from '../../runtime/cpu/random.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SIZE = 16e6;
const dir = mkdtempSync(join(tmpdir(), 'peftc-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A seeded file of about SIZE bytes: one line of words, or JSONL documents. */
function write(name: string, jsonl: boolean): string {
  const rng = new Random(11);
  const words = ['the', 'whale', 'ship', 'sea', 'white', 'of', 'and', 'a', 'to', 'in', 'his', 'boat'];
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  for (let n = 0; n < SIZE; ) {
    let s = '';
    while (s.length < 1e5) {
      const doc = Array.from({ length: 20 + (rng.nextU32() % 60) }, () => words[rng.nextU32() % words.length]).join(' ');
      s += jsonl ? JSON.stringify({ text: doc }) + '\n' : doc + ' ';
    }
    n += writeSync(fd, s);
  }
  closeSync(fd);
  return path;
}

it('loads 16 MB of one-line text and of JSONL with a 96 MB heap, at a few times the token bytes', () => {
  for (const path of [write('one-line.txt', false), write('docs.jsonl', true)]) {
    const r = spawnSync(process.execPath, ['--max-old-space-size=96', '--import', 'tsx', 'test/data/load-peak.ts', path], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr, path).not.toMatch(/heap out of memory/);
    expect(r.status, r.stderr).toBe(0);
    const { tokens, maxRss } = JSON.parse(r.stdout) as { tokens: number; maxRss: number };
    expect(tokens).toBeGreaterThan(0.9 * SIZE);
    // Node and tsx take ~80 MB; the tokens 4 bytes each; rows and chunks in flight the rest.
    expect(maxRss).toBeLessThan(100e6 + 3 * 4 * tokens);
  }
});
