// Usage mistakes on the command line get a short answer, not the whole help page.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peftc } from './peftc.ts';

describe('usage errors', () => {
  it('a missing required option is one line and a pointer to --help, exit 1', () => {
    const r = peftc('eval', 'examples/tiny-gpt-lora.peft');
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/required option '--data <data>' not specified/);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(r.stderr).not.toMatch(/Options:/);
  });
  it('an unknown option says which, without the help page', () => {
    const r = peftc('params', 'examples/tiny-gpt-lora.peft', '--no-such-flag');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown option '--no-such-flag'/);
    expect(r.stderr).not.toMatch(/Options:/);
  });
});

describe('output to a pipe', () => {
  it('is written whole before peftc exits (more than the pipe buffer\'s 64 KiB)', () => {
    const piped = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'wgsl');
    expect(piped.code).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), 'peftc-pipe-')), 'wgsl.txt');
    const r = spawnSync('bash', ['-c', `node bin/peftc.js compile examples/gpt2-lora.peft --emit wgsl > ${file}`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const whole = readFileSync(file, 'utf8');
    expect(whole.length).toBeGreaterThan(65_536);
    expect(piped.stdout).toBe(whole);
  });
  it('stops quietly when the reader closes the pipe early', () => {
    const r = spawnSync('bash', ['-c', 'set -o pipefail; node bin/peftc.js compile examples/gpt2-lora.peft --emit wgsl | head -c 10 > /dev/null'], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
    expect(r.status).toBe(0);
  });
});
