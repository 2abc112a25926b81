// Whole models, each PEFT method: the directional derivative ⟨∇L, v⟩ from autodiff
// matches the central finite difference (L(θ + h·v) − L(θ − h·v)) / 2h along a random
// direction v of the trainable parameters, in float64.
// Tolerance: relative error ≤ 1e-6 (h = 1e-5; the FD truncation error is O(h²)).
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { graphOf, tinySet } from '../helpers.ts';

function batchFor(g: Graph, rng: Random, B = 2, T = 5): Batch {
  const vocab = g.params.find((p) => p.origin === 'base' && p.module.match(/wte|word_embeddings|embed_tokens/))!.shape[0]!;
  const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(vocab)) };
  if (g.task === 'classification') {
    const classes = g.nodes[g.outputs.logits]!.shape[1] as number;
    return { tokens, targets: { shape: [B], data: Int32Array.from({ length: B }, () => rng.int(classes)) } };
  }
  return { tokens, targets: lmTargets(tokens, g.promptLength) };
}

function setup(file: string, seed = 1): { g: Graph; store: ParamStore; exec: CpuExecutor; batch: Batch } {
  const g = graphOf(file, tinySet(file));
  const store = createStore(g, 'f64');
  initParams(g, store, { seed });
  // Zero-initialised PEFT tensors (lora_B, adapter up) would make some gradients vanish: randomise.
  const rng = new Random(seed + 7);
  const t = store.trainable.data;
  for (let i = 0; i < t.length; i++) t[i] = t[i]! + rng.normal(0, 0.1);
  return { g, store, exec: new CpuExecutor(buildTrainingGraph(g)), batch: batchFor(g, rng) };
}

const cases = ['gpt2.peft', 'gpt2-lora.peft', 'gpt2-prompt.peft', 'gpt2-prefix.peft', 'gpt2-adapter.peft', 'gpt2-lora-prompt.peft', 'llama.peft', 'llama-lora.peft', 'bert.peft', 'bert-adapter.peft'];

describe('directional derivative vs finite differences (float64)', () => {
  it.each(cases)('%s', (file) => {
    const { store, exec, batch } = setup(file);
    const opts = { precision: 'f64' as const, training: false, step: 0 };
    const res = exec.run(store, batch, opts);
    const rng = new Random(99);
    const theta = store.trainable.data;
    const v = Float64Array.from(theta, () => rng.normal());
    let dd = 0;
    for (const s of store.trainable.slots) {
      const gr = res.grads.get(s.param.path);
      if (!gr) continue;
      for (let i = 0; i < s.size; i++) dd += gr.data[i]! * v[s.offset + i]!;
    }
    const h = 1e-5;
    const base = Float64Array.from(theta);
    const lossAt = (sign: number) => {
      for (let i = 0; i < theta.length; i++) theta[i] = base[i]! + sign * h * v[i]!;
      return exec.run(store, batch, { ...opts, backward: false }).loss;
    };
    const fd = (lossAt(1) - lossAt(-1)) / (2 * h);
    theta.set(base);
    expect(Number.isFinite(res.loss)).toBe(true);
    expect(Math.abs(dd)).toBeGreaterThan(1e-4);
    expect(Math.abs(dd - fd) / Math.max(1, Math.abs(fd))).toBeLessThan(1e-6);
  });
});
