// What `peftc train` does with the checkpoint directory: a diverging run keeps the last good
// checkpoint and says where it is; an --out that holds a fine-tune is not replaced without
// --overwrite; --resume needs no --data; a save that fails says what; step counts read "1 step".
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { getFloat32 } from '../../runtime/io/safetensors.ts';
import { peftc } from './peftc.ts';

const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2';
const MODEL = ['examples/gpt2-lora.peft', '--set', SET, '--batch', '2', '--seq', '16', '--eval-rows', '4', '--no-baseline'];
const setup = () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-train-ck-'));
  const text = join(dir, 'text.txt');
  writeFileSync(text, 'It was the best of times, it was the worst of times. '.repeat(200));
  return { dir, text };
};

describe('peftc train and its checkpoint directory', () => {
  it('a run that diverges stops before saving NaN, and names the step and the last good checkpoint', () => {
    const { dir, text } = setup();
    const out = join(dir, 'run');
    // Every parameter training at lr 1e6: finite for two steps, then the validation loss is NaN.
    const r = peftc('train', ...MODEL, '--full', '--data', text, '--steps', '8', '--eval-every', '1', '--lr', '1e6', '--schedule', 'constant', '--out', out);
    expect(r.code).toBe(1);
    const m = /^peftc: training diverged at step (\d+): the validation loss is NaN; training stopped and the last good checkpoint \(step (\d+)\) is in (.+)\. Try a lower --lr\.\n$/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const [at, good] = [Number(m![1]), Number(m![2])];
    expect(good).toBe(at - 1);
    expect(m![3]).toBe(out);
    const ck = readCheckpointDir(out);
    expect(ck.state.step).toBe(good);
    expect(Number.isFinite(ck.state.valLoss)).toBe(true);
    for (const name of ck.file.tensors.keys()) expect(getFloat32(ck.file, name).every(Number.isFinite), name).toBe(true);
  });

  it('refuses an --out that holds a checkpoint unless --resume or --overwrite; --resume takes its data from the checkpoint', () => {
    const { dir, text } = setup();
    const out = join(dir, 'run');
    const first = peftc('train', ...MODEL, '--data', text, '--steps', '1', '--out', out);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(', 1 step of 2×16 tokens on cpu');
    expect(first.stdout).not.toMatch(/\b1 steps\b/);
    const save = readCheckpointDir(out).save;

    const again = peftc('train', ...MODEL, '--data', text, '--steps', '3', '--out', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`peftc: ${out} already holds a checkpoint of step 1; pass --resume ${out} to continue it, or --overwrite to replace it\n`);
    expect(readCheckpointDir(out).save).toBe(save); // untouched

    // Resuming into another directory that holds a fine-tune is replacing it too.
    const other = join(dir, 'other');
    expect(peftc('train', ...MODEL, '--data', text, '--steps', '1', '--out', other).code).toBe(0);
    expect(peftc('train', ...MODEL, '--steps', '2', '--resume', out, '--out', other).stderr).toContain(`${other} already holds a checkpoint of step 1; pass --resume ${other}`);

    const resumed = peftc('train', ...MODEL, '--steps', '2', '--resume', out);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`from ${text}`); // the data the checkpoint recorded
    expect(resumed.stdout).toContain('2 steps of 2×16 tokens on cpu, resuming at step 1');
    expect(readCheckpointDir(out).state.step).toBe(2);

    const overwritten = peftc('train', ...MODEL, '--data', text, '--steps', '1', '--out', out, '--overwrite', '--seed', '3');
    expect(overwritten.code, overwritten.stderr).toBe(0);
    const ck = readCheckpointDir(out);
    expect([ck.state.step, ck.state.seed]).toEqual([1, 3]);
  });

  it('a checkpoint that cannot be written stops the run with one line naming what failed', () => {
    const { dir, text } = setup();
    const out = join(dir, 'run');
    mkdirSync(out);
    writeFileSync(join(out, 'saves'), 'a file where the saves folder goes');
    const r = peftc('train', ...MODEL, '--data', text, '--steps', '2', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`peftc: could not write ${out}: EEXIST: file already exists, mkdir '${out}/saves'; no earlier checkpoint was there\n`);
  });

  it('without --data and without --resume, says that --data is required', () => {
    const r = peftc('train', ...MODEL, '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('peftc: --data is required: the training data (a text or .jsonl file, or a bundled corpus)\n');
  });
});
