// A built trainer resuming a checkpoint trained on another frozen dtype than its plans store
// (`node train.mjs --resume` of an nf4 run with an f32 trainer) goes on, and says so in one note.
// The GPU side is stubbed: runTraining's bookkeeping is under test.
import { describe, expect, it } from 'vitest';
import type { CheckpointState } from '../../runtime/checkpoint.ts';
import { buildDataset } from '../../runtime/data/dataset.ts';
import type { DataSource } from '../../runtime/data/source.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { runTraining, type BuiltTrainer } from '../../runtime/standalone/trainer.ts';

const DATA: DataSource = { name: 'd.txt', format: 'text', text: 'the quick brown fox jumps over the lazy dog. '.repeat(8) };

function stub(frozenDtype: string | undefined, recorded: Record<string, unknown>): BuiltTrainer {
  const tokenizer = tokenizerByName('byte');
  const settings = { steps: 1, lr: 1e-3, schedule: 'constant', warmup: 0, evalEvery: 1, seed: 0, evalRows: 2, validFraction: 0.25 };
  return {
    name: 'stub',
    tokenizer,
    manifest: { model: { entry: 'm.peft', set: [], full: false, sources: {}, base: null, task: 'causal_lm', promptLength: 0, ...(frozenDtype ? { frozenDtype } : {}) }, tokenizer: 'byte', dims: { B: 1, T: 8 }, optimizer: { kind: 'adamw', weightDecay: 0, clipNorm: 0 }, settings },
    store: { trainable: { data: new Float32Array(2) } },
    resume: () => ({ step: 0, seed: 0, settings: recorded }) as unknown as CheckpointState,
    dataset: (train: DataSource) => buildDataset(train, { task: 'causal_lm', tokenizer, seqLen: 8, validFraction: settings.validFraction }),
    step: async () => ({ loss: 1, gradNorm: 1 }),
    evaluate: async () => ({ loss: 1 }),
    sync: async () => {},
    checkpoint: () => ({ checkpoint: {}, adapter: {} }),
  } as unknown as BuiltTrainer;
}

async function notes(frozenDtype: string | undefined, recorded: Record<string, unknown>): Promise<string[]> {
  const out: string[] = [];
  await runTraining(stub(frozenDtype, recorded), { data: DATA, resume: { bytes: new Uint8Array(0), where: 'ck/checkpoint.safetensors' } }, { note: (t) => out.push(t) });
  return out.filter((n) => n.includes('frozen base'));
}

describe('resuming on another frozen dtype', () => {
  it('an nf4 checkpoint on an f32 trainer: one note saying what to rebuild', async () => {
    expect(await notes('f32', { frozen_dtype: 'nf4' })).toEqual(['note: ck/checkpoint.safetensors was trained with the frozen base in nf4; this trainer\'s plans store it in f32, so the run continues on other numbers (rebuild with `peftc build --frozen-dtype nf4` to continue it exactly)']);
  });

  it('the same dtype, a checkpoint or a trainer that does not record it: no note', async () => {
    expect(await notes('nf4', { frozen_dtype: 'nf4' })).toEqual([]);
    expect(await notes('nf4', {})).toEqual([]);
    expect(await notes(undefined, { frozen_dtype: 'nf4' })).toEqual([]);
  });
});
