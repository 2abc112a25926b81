// The training loop never checkpoints anything non-finite: a validation loss or a parameter
// that is NaN or infinite ends the run as 'diverged' before the save, naming the step, so the
// checkpoint of the last good step stays the one on disk.
import { describe, expect, it } from 'vitest';
import type { Batch } from '../../runtime/cpu/executor.ts';
import { train, type BatchSource, type StepBackend } from '../../runtime/trainer.ts';

const batch: Batch = { tokens: { shape: [1, 2], data: new Int32Array([1, 2]) }, targets: { shape: [1, 2], data: new Int32Array([2, 3]) } };
const data: BatchSource = { next: () => batch, validation: () => [batch], tokensPerBatch: 2 };

/** A backend whose training loss is `loss(step)` and whose validation loss after `step` updates is `val(step)`. */
function backend(val: (step: number) => number, loss: (step: number) => number = () => 1): StepBackend {
  let done = 0;
  return {
    step: async () => ({ loss: loss(++done), gradNorm: 1 }),
    evaluate: async () => ({ loss: val(done) }),
  };
}

const run = (b: StepBackend, finite?: (step: number) => boolean) => {
  const saved: { step: number; valLoss: number | null }[] = [];
  let step = 0;
  const res = train(b, data, { steps: 6, schedule: { kind: 'constant', lr: 1, warmup: 0, total: 6 }, evalEvery: 1 }, {
    onStep: (i) => (step = i.step),
    checkpoint: async (s, valLoss) => void saved.push({ step: s, valLoss }),
    ...(finite ? { finite: async () => finite(step) } : {}),
  });
  return res.then((r) => ({ ...r, saved }));
};

describe('divergence', () => {
  it('a NaN validation loss ends the run before its checkpoint: the last one saved is the last good step', async () => {
    const r = await run(backend((s) => (s >= 4 ? NaN : 5 - s / 10)));
    expect(r.end).toBe('diverged');
    expect(r.diverged).toEqual({ step: 4, what: 'the validation loss is NaN' });
    expect(r.step).toBe(3);
    expect(r.saved.map((c) => c.step)).toEqual([1, 2, 3]);
    expect(r.saved.every((c) => Number.isFinite(c.valLoss))).toBe(true);
  });

  it('an infinite validation loss at the end of the run is no final checkpoint either', async () => {
    const r = await run(backend((s) => (s === 6 ? Infinity : 1)));
    expect(r.diverged).toEqual({ step: 6, what: 'the validation loss is Infinity' });
    expect(r.saved.map((c) => c.step)).toEqual([1, 2, 3, 4, 5]);
  });

  it('non-finite parameters are not saved, even with a finite validation loss', async () => {
    const r = await run(backend(() => 2), (step) => step < 2);
    expect(r.end).toBe('diverged');
    expect(r.diverged).toEqual({ step: 2, what: 'a trainable parameter is NaN or infinite' });
    expect(r.saved.map((c) => c.step)).toEqual([1]);
  });

  it('a NaN training loss stops before anything of that step is saved', async () => {
    const r = await run(backend(() => 2, (s) => (s === 3 ? NaN : 1)));
    expect(r.diverged).toEqual({ step: 3, what: 'the training loss is NaN' });
    expect(r.step).toBe(2);
    expect(r.saved.map((c) => c.step)).toEqual([1, 2]);
  });

  it('a finite run saves every step', async () => {
    const r = await run(backend(() => 2), () => true);
    expect(r.end).toBe('done');
    expect(r.diverged).toBeUndefined();
    expect(r.saved.map((c) => c.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
