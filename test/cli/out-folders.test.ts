// Output folders that cannot be made. Node's recursive mkdir never returns for a path under
// /proc (it retries the parent it cannot make), so a verb that made its folders that way hung;
// every verb that writes a folder now makes it one level at a time (runtime/io/make-dirs-node.ts)
// and fails at once with one line naming the folder. Each command gets 60 s, far above what it
// needs, so a hang fails the test instead of stalling the suite.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirs } from '../../runtime/io/make-dirs-node.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'peftc-out-folders-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const UNMAKEABLE = '/proc/peftc-no-such-folder/out';

function run(...args: string[]): { code: number | null; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr, ms: Date.now() - t0 };
}

const TINY = ['examples/tiny-gpt-lora.peft'];

describe('an output folder that cannot be made', () => {
  it('makeDirs makes missing parents, accepts existing ones, and throws naming the folder it cannot make', () => {
    makeDirs(join(work, 'a/b/c'));
    makeDirs(join(work, 'a/b/c'));
    writeFileSync(join(work, 'file'), 'x');
    expect(() => makeDirs(join(work, 'file/sub'))).toThrow(/ENOTDIR.*file\/sub/);
    expect(() => makeDirs(join(work, 'file'))).toThrow(`EEXIST: file already exists, mkdir '${join(work, 'file')}'`);
    expect(() => makeDirs(UNMAKEABLE)).toThrow(/ENOENT.*\/proc\/peftc-no-such-folder/);
  });

  it('build, build --target torch, playground and train say so in one line, at once', () => {
    const text = join(work, 'text.txt');
    writeFileSync(text, 'the quick brown fox jumps over the lazy dog\n'.repeat(20));
    const cases = [
      run('build', ...TINY, '-o', UNMAKEABLE),
      run('build', ...TINY, '--target', 'torch', '-o', UNMAKEABLE),
      run('playground', '-o', UNMAKEABLE),
      run('train', ...TINY, '--data', text, '--steps', '1', '--batch', '2', '--seq', '8', '--eval-rows', '1', '--no-baseline', '--backend', 'cpu', '--out', UNMAKEABLE),
    ];
    for (const r of cases) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^peftc: .*\/proc\/peftc-no-such-folder/m);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
  });

  it('export to a folder that cannot be made says so in one line, and leaves nothing behind', () => {
    const text = join(work, 'text2.txt');
    writeFileSync(text, 'the quick brown fox jumps over the lazy dog\n'.repeat(20));
    const ckpt = join(work, 'run');
    const trained = run('train', ...TINY, '--data', text, '--steps', '1', '--batch', '2', '--seq', '8', '--eval-rows', '1', '--no-baseline', '--backend', 'cpu', '--out', ckpt);
    expect(trained.code, trained.stderr).toBe(0);
    const r = run('export', ckpt, '--format', 'hf-peft', '-o', UNMAKEABLE);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^peftc: .*\/proc\/peftc-no-such-folder/m);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });
});
