// Bidirectional attention and pooling ignore padding given `lengths`: row by row, a padded batch of
// tiny bert.peft gives the logits of each row alone without padding (CPU reference).
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { initParams } from '../../runtime/init.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { graphOf, tinySet } from '../helpers.ts';
import { PAD_LENGTHS, paddedBatch } from './padding-cases.ts';

const opts = { precision: 'f32' as const, training: false, step: 0, backward: false };

describe('padding with lengths (bert.peft, CPU)', () => {
  const g = graphOf('bert.peft', tinySet('bert.peft'));
  const t = buildTrainingGraph(g);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: 3 });
  // Larger weights than the init's (std 0.02), so that the logits are of order 1.
  const rng = new Random(11);
  for (const d of [store.frozen.data, store.trainable.data]) for (let i = 0; i < d.length; i++) d[i] = d[i]! + rng.normal(0, 0.3);
  const exec = new CpuExecutor(t);
  const { batch, rows } = paddedBatch(g);
  const C = g.nodes[g.outputs.logits]!.shape[1] as number;

  it('the graph has a lengths input; causal gpt2 has none', () => {
    expect(g.inputs.lengths).toBeDefined();
    expect(graphOf('gpt2-lora.peft', tinySet('gpt2-lora.peft')).inputs.lengths).toBeUndefined();
  });

  it('each padded row gives the logits of the row alone', () => {
    const padded = exec.run(store, batch, opts).logits.data;
    PAD_LENGTHS.forEach((_, b) => {
      const alone = exec.run(store, rows[b]!, opts).logits.data;
      const scale = 1 + Math.max(...Array.from(alone, Math.abs));
      for (let c = 0; c < C; c++) expect(Math.abs(padded[b * C + c]! - alone[c]!), `row ${b} class ${c}`).toBeLessThanOrEqual(1e-5 * scale);
    });
  });

  it('without lengths the padding does change the short rows (the check above is not vacuous)', () => {
    const full = exec.run(store, { tokens: batch.tokens, targets: batch.targets }, opts).logits.data;
    const b = PAD_LENGTHS.length - 1;
    const alone = exec.run(store, rows[b]!, opts).logits.data;
    const diff = Math.max(...Array.from({ length: C }, (_, c) => Math.abs(full[b * C + c]! - alone[c]!)));
    expect(diff).toBeGreaterThan(1e-2 * Math.max(...Array.from(alone, Math.abs)));
  });

  it('full lengths equal leaving lengths out', () => {
    const full = { ...batch, extra: { lengths: { shape: [3], data: new Int32Array(3).fill(6) } } };
    const a = exec.run(store, full, { ...opts, backward: true });
    const b = exec.run(store, { tokens: batch.tokens, targets: batch.targets }, { ...opts, backward: true });
    expect(a.loss).toBe(b.loss);
    expect(Array.from(a.logits.data)).toEqual(Array.from(b.logits.data));
  });
});
