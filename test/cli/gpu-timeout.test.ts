// --gpu-timeout through the CLI and a built trainer: a bad value is one line and exit 1; a
// limit far below the work (1 ms) ends the run with one line that names the wait and the flag,
// which shows the limit reaches the GPU's waits. (The limit's logic is test/webgpu/gpu-wait.test.ts.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peftc } from './peftc.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2';
let work: string;
let text: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'peftc-gpu-timeout-'));
  text = join(work, 'text.txt');
  writeFileSync(text, Array.from({ length: 60 }, (_, i) => `line ${i}: it was the best of times, it was the worst of times`).join('\n'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const oneLine = (stderr: string) => stderr.split('\n').filter((l) => l.trim() && !l.startsWith('(add --help'));

describe('peftc --gpu-timeout', () => {
  it('a value that is not a number of seconds is one line, exit 1', () => {
    const r = peftc('train', 'examples/gpt2-lora.peft', '--data', text, '--gpu-timeout', '-3');
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toEqual([expect.stringContaining("'--gpu-timeout <seconds>' argument '-3' is invalid. must be a number of seconds from 0")]);
  });

  it('a limit below the work stops a WebGPU run with one line naming the wait and the flag', () => {
    const r = peftc('train', 'examples/gpt2-lora.peft', '--set', SET, '--data', text, '--steps', '2', '--batch', '2', '--seq', '8',
      '--backend', 'webgpu', '--gpu', 'llvmpipe', '--gpu-timeout', '0.001', '--out', join(work, 'ckpt'));
    expect(r.code, r.stderr).toBe(1);
    const lines = oneLine(r.stderr).filter((l) => l.startsWith('peftc:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^peftc: timeout error: .+ did not finish: the GPU finished no work for 0\.001 s .*--gpu-timeout SECONDS \(0: no limit\)$/);
  });
});

describe('node train.mjs --gpu-timeout (built trainer)', () => {
  it('refuses a bad value in one line and honours a limit', () => {
    const dir = join(work, 'trainer');
    const b = peftc('build', 'examples/gpt2-lora.peft', '--set', SET, '--batch', '2', '--seq', '8', '--steps', '2', '--data', text, '-o', dir);
    expect(b.code, b.stderr).toBe(0);
    const run = (...args: string[]) => spawnSync(process.execPath, [join(dir, 'train.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const bad = run('--gpu-timeout', 'soon');
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('--gpu-timeout must be a number of seconds from 0 to 2147483 (0: no limit), not `soon`');
    const tight = run('--gpu', 'llvmpipe', '--gpu-timeout', '0.001', '--steps', '1', '--out', join(work, 'out'));
    expect(tight.status, tight.stderr).toBe(1);
    // The last line is the error (Dawn's own notices may come before it on a pipe).
    expect(tight.stderr.trim().split('\n').at(-1)).toMatch(/^timeout error: .+ did not finish: the GPU finished no work for 0\.001 s .*--gpu-timeout SECONDS \(0: no limit\)$/);
  });
});
