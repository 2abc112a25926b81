// The built trainer's loop (runtime/standalone/trainer.ts runTraining) checks, as `peftc train`
// does, that every trainable parameter is finite before each checkpoint: a step whose loss is
// finite but whose update left a NaN in a parameter ends the run, and the last good checkpoint
// is the last one saved. The GPU side is stubbed: the loop, not the kernels, is under test.
import { describe, expect, it } from 'vitest';
import { buildDataset } from '../../runtime/data/dataset.ts';
import type { DataSource } from '../../runtime/data/source.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import type { CheckpointState } from '../../runtime/checkpoint.ts';
import { runTraining, type BuiltTrainer } from '../../runtime/standalone/trainer.ts';

/** A trainer whose parameters are four numbers; the update of step `poisonAt` writes a NaN into them. */
function stubTrainer(poisonAt: number, saved: number[]) {
  const params = new Float32Array(4);
  let steps = 0;
  const tokenizer = tokenizerByName('byte');
  const settings = { steps: 6, lr: 1e-3, schedule: 'constant', warmup: 0, evalEvery: 2, seed: 0, evalRows: 2, validFraction: 0.25 };
  const stub = {
    name: 'stub',
    tokenizer,
    manifest: {
      model: { entry: 'm.peft', set: [], full: false, sources: {}, base: null, task: 'causal_lm', promptLength: 0 },
      tokenizer: 'byte',
      dims: { B: 1, T: 8 },
      optimizer: { kind: 'adamw', weightDecay: 0, clipNorm: 0 },
      settings,
    },
    store: { trainable: { data: params } },
    dataset: (train: DataSource, valid?: DataSource) => buildDataset(train, { task: 'causal_lm', tokenizer, seqLen: 8, validFraction: settings.validFraction }, valid),
    step: async () => {
      if (++steps === poisonAt) params[2] = NaN;
      return { loss: 1, gradNorm: 1 };
    },
    evaluate: async () => ({ loss: 1 }),
    sync: async () => {},
    checkpoint: (state: CheckpointState) => {
      saved.push(state.step);
      return { checkpoint: {}, adapter: {} };
    },
  };
  return stub as unknown as BuiltTrainer;
}

const DATA: DataSource = { name: 'd.txt', format: 'text', text: 'the quick brown fox jumps over the lazy dog. '.repeat(8) };

describe('built trainer: no non-finite parameter is checkpointed', () => {
  it('a NaN written by step 3 ends the run at the step-4 checkpoint; step 2 stays the last one saved', async () => {
    const saved: number[] = [];
    const written: number[] = [];
    const res = await runTraining(stubTrainer(3, saved), { data: DATA }, { checkpoint: async (_f, st) => void written.push(st) });
    expect(res.end).toBe('diverged');
    expect(res.diverged).toEqual({ step: 4, what: 'a trainable parameter is NaN or infinite' });
    expect(written).toEqual([2]);
    expect(saved).toEqual([2]);
  });

  it('finite parameters are saved at every checkpoint', async () => {
    const written: number[] = [];
    const res = await runTraining(stubTrainer(-1, []), { data: DATA }, { checkpoint: async (_f, st) => void written.push(st) });
    expect(res.end).toBe('done');
    expect(written).toEqual([2, 4, 6]);
  });
});
