// The wasm attention kernels inside the executor's runs (runtime/cpu/executor.ts): the cache of
// runtime/wasm/attention/cache.ts is keyed by the kernel context the executor makes once per run,
// so within a training step every layer's gradients must find what its forward kept (and drop
// it), and the next step must start from nothing. A tiny GPT-2 with LoRA, against the reference
// executor in f64 (loss 1e-5 relative, gradients 2e-4 of their largest magnitude).
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import type { Kernel, KernelContext } from '../../runtime/cpu/kernels/index.ts';
import { fillNormal, Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { runCache } from '../../runtime/wasm/attention/cache.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { graphOf, tinySet } from '../helpers.ts';

describe('wasm attention in the executor', () => {
  it("each layer's gradients reuse its forward's probabilities within a step, and the next step starts afresh", () => {
    const g = graphOf('gpt2-lora.peft', tinySet('gpt2-lora.peft'));
    const t = buildTrainingGraph(g);
    const ref = createStore(g, 'f64');
    initParams(g, ref, { seed: 3 });
    fillNormal(ref.trainable.data, new Random(5), 0.2);
    const f32 = createStore(g, 'f32');
    f32.frozen.data.set(ref.frozen.data);
    f32.trainable.data.set(ref.trainable.data);
    const rng = new Random(11);
    const tokens = { shape: [2, 7], data: Int32Array.from({ length: 14 }, () => rng.int(32)) };
    const batch = { tokens, targets: lmTargets(tokens) };

    // Per run (context): what the forwards held at their most, and the gradient ops that ran.
    const seen = new Map<KernelContext, { peak: number; forwards: number; grads: number }>();
    const watch = (op: string): Kernel => (inputs, attrs, ctx) => {
      const out = WASM_KERNELS[op]!(inputs, attrs, ctx);
      const s = seen.get(ctx) ?? { peak: 0, forwards: 0, grads: 0 };
      seen.set(ctx, s);
      if (op === 'attention') s.forwards++;
      else s.grads++;
      s.peak = Math.max(s.peak, runCache(ctx).held);
      return out;
    };
    const table = { ...WASM_KERNELS, attention: watch('attention'), attention_grad_q: watch('attention_grad_q') };
    const ex = new CpuExecutor(t, table);
    const want = new CpuExecutor(t).run(ref, batch, { precision: 'f64', training: true, step: 1 });
    for (const step of [1, 1]) {
      const got = ex.run(f32, batch, { precision: 'f32', training: true, step });
      expect(Math.abs(got.loss - want.loss) / Math.abs(want.loss)).toBeLessThanOrEqual(1e-5);
      for (const [path, w] of want.grads) {
        const gv = got.grads.get(path)!;
        let scale = 0, err = 0;
        for (let i = 0; i < w.data.length; i++) {
          scale = Math.max(scale, Math.abs(w.data[i]!));
          err = Math.max(err, Math.abs(gv.data[i]! - w.data[i]!));
        }
        expect(err / scale, path).toBeLessThanOrEqual(2e-4);
      }
    }
    // Two runs, two contexts; in each, every forward kept something and every gradient dropped it.
    expect(seen.size).toBe(2);
    for (const [ctx, s] of seen) {
      expect(s.forwards).toBeGreaterThan(1);
      expect(s.grads).toBe(s.forwards);
      expect(s.peak).toBeGreaterThan(0);
      expect(runCache(ctx).held).toBe(0);
    }
  });
});
