// `peftc train` records --recompute (setting `recompute`) beside --frozen-dtype (`frozen_dtype`)
// in the checkpoint, and `--resume` plans and stores the step as the checkpoint says unless the
// flag is given again (then one note when it differs). Checkpoints without the setting resume
// with the model file's own setting.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resumeChoices } from '../../cli/resume-settings.ts';
import type { CheckpointState } from '../../runtime/checkpoint.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { peftc } from './peftc.ts';

const state = (settings: Record<string, unknown>) => ({ settings }) as unknown as CheckpointState;

describe('what --resume takes from the checkpoint', () => {
  it('the recorded recompute mode and frozen dtype unless given again; a different flag wins with a note', () => {
    const recorded = state({ recompute: 'blocks', frozen_dtype: 'nf4' });
    expect(resumeChoices('runs/a', recorded, {})).toEqual({ recompute: 'blocks', frozenDtype: 'nf4', notes: [] });
    expect(resumeChoices('runs/a', recorded, { recompute: 'blocks', frozenDtype: 'nf4' })).toEqual({ recompute: 'blocks', frozenDtype: 'nf4', notes: [] });
    const other = resumeChoices('runs/a', recorded, { recompute: 'none', frozenDtype: 'int8' });
    expect(other.recompute).toBe('none');
    expect(other.frozenDtype).toBe('int8');
    expect(other.notes).toEqual([
      '--frozen-dtype int8 is not what runs/a was trained with (nf4); using --frozen-dtype int8',
      '--recompute none is not what runs/a was trained with (blocks); using --recompute none (the numbers do not change, the memory does)',
    ]);
  });

  it('a checkpoint from before the setting resumes with the file\'s own mode; a malformed one names the setting', () => {
    expect(resumeChoices('runs/old', state({ frozen_dtype: 'f32' }), {})).toEqual({ frozenDtype: 'f32', notes: [] });
    expect(resumeChoices('runs/old', state({}), { recompute: 'blocks' })).toEqual({ recompute: 'blocks', notes: [] });
    expect(() => resumeChoices('runs/bad', state({ recompute: 'layers' }), {})).toThrow('runs/bad: setting `recompute` must be one of none, blocks, not "layers"');
    expect(() => resumeChoices('runs/bad', state({ recompute: 3 }), {})).toThrow('setting `recompute` must be one of none, blocks, not 3');
  });

  it('a misspelt flag is refused in one line, with no note that it would be used', () => {
    const recorded = state({ recompute: 'blocks', frozen_dtype: 'nf4dq' });
    expect(() => resumeChoices('runs/a', recorded, { recompute: 'block' })).toThrow(/^--recompute must be none or blocks, not `block`$/);
    expect(() => resumeChoices('runs/a', recorded, { frozenDtype: 'nf4-dq' })).toThrow(/^--frozen-dtype must be one of f32, f16, int8, nf4, nf4dq, not `nf4-dq`$/);
  });

  it('peftc train records it; --resume keeps it, or says in one line that the flag changes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-resume-recompute-'));
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'It was the best of times, it was the worst of times. '.repeat(200));
    const out = join(dir, 'run');
    const model = ['examples/gpt2-lora.peft', '--set', 'vocab_size=256,n_positions=32,n_embd=16,n_layer=2,n_head=2', '--batch', '2', '--seq', '16', '--eval-rows', '2', '--no-baseline'];
    const first = peftc('train', ...model, '--data', text, '--steps', '1', '--recompute', 'blocks', '--frozen-dtype', 'int8', '--out', out);
    expect(first.code, first.stderr).toBe(0);
    expect(readCheckpointDir(out).state.settings).toMatchObject({ recompute: 'blocks', frozen_dtype: 'int8' });

    const kept = peftc('train', ...model, '--resume', out, '--steps', '2');
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toBe('');
    expect(readCheckpointDir(out).state).toMatchObject({ step: 2, settings: { recompute: 'blocks', frozen_dtype: 'int8' } });

    const changed = peftc('train', ...model, '--resume', out, '--steps', '3', '--recompute', 'none');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toBe(`peftc: note: --recompute none is not what ${out} was trained with (blocks); using --recompute none (the numbers do not change, the memory does)\n`);
    expect(readCheckpointDir(out).state).toMatchObject({ step: 3, settings: { recompute: 'none', frozen_dtype: 'int8' } });
  });
});
