// `peftc tokenize -` reads standard input up to a limit and refuses more in one line, instead of
// reading any amount into memory.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_STDIN_BYTES, readStdin } from '../../cli/tokenize.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-stdin-'));

function readFile(text: string | Buffer, max?: number): string {
  const file = join(dir, 'in');
  writeFileSync(file, text);
  const fd = openSync(file, 'r');
  try {
    return readStdin(fd, max);
  } finally {
    closeSync(fd);
  }
}

describe('peftc tokenize - (standard input)', () => {
  it('reads everything up to the limit, multi-byte characters whole across reads', () => {
    // "é" is two bytes; 40000 of them straddle the 64 KiB reads.
    const text = 'é'.repeat(40_000);
    expect(readFile(text)).toBe(text);
    expect(readFile('x'.repeat(64), 64)).toBe('x'.repeat(64));
  });

  it('refuses one byte more, in one line naming the limit', () => {
    expect(() => readFile('x'.repeat(65), 64)).toThrow(/^standard input: more than 64 bytes; `peftc tokenize -` takes texts up to that size/);
  });

  it('the command exits 1 with that line for input over the limit', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'tokenize', '-', '--tokenizer', 'byte'], { cwd: resolve(import.meta.dirname, '../..'), input: Buffer.alloc(MAX_STDIN_BYTES + 1, 97), encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 20 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`peftc: standard input: more than 16 MiB (${MAX_STDIN_BYTES} bytes); \`peftc tokenize -\` takes texts up to that size (split a larger one)\n`);
  });
});
