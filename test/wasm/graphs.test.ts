// The wasm backend on whole training graphs, against the reference executor in f64: the bundled
// examples at tiny sizes (GPT-2 with LoRA, adapters, prefix, prompt; LLaMA with LoRA (rotary,
// grouped KV heads); BERT with adapters and a classifier; DoRA), trainable values drawn at random
// so that every gradient is non-zero. Tolerances (f32 kernels, f32 sums): the loss within 1e-5
// relative; every gradient within 2e-4 of its largest magnitude (max |Δ| ≤ 2e-4 · max |ref|).
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { fillNormal, Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { openWasmBackend } from '../../runtime/wasm/backend.ts';
import { graphOf, tinySet } from '../helpers.ts';

const EXAMPLES = ['gpt2-lora.peft', 'gpt2-adapter.peft', 'gpt2-prefix.peft', 'gpt2-prompt.peft', 'llama-lora.peft', 'bert-adapter.peft', 'tiny-gpt-dora.peft'];

describe('the wasm backend agrees with the f64 reference on whole graphs', () => {
  for (const name of EXAMPLES) {
    it(name, () => {
      const g = graphOf(name, tinySet(name));
      const t = buildTrainingGraph(g);
      const ref = createStore(g, 'f64');
      initParams(g, ref, { seed: 3 });
      fillNormal(ref.trainable.data, new Random(5), 0.2);
      const f32 = createStore(g, 'f32');
      f32.frozen.data.set(ref.frozen.data);
      f32.trainable.data.set(ref.trainable.data);

      const rng = new Random(11);
      const [B, T] = [2, 7];
      const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(32)) };
      const targetsNode = t.graph.nodes.find((n) => n.op === 'input' && n.attrs.name === 'targets')!;
      const targets = targetsNode.shape.length === 1 ? { shape: [B], data: Int32Array.from({ length: B }, (_, i) => i % 3) } : lmTargets(tokens, t.graph.promptLength);
      const batch = { tokens, targets };

      const want = new CpuExecutor(t).run(ref, batch, { precision: 'f64', training: false, step: 0 });
      const got = openWasmBackend(t, f32).gradientsOf(batch);
      expect(Math.abs(got.loss - want.loss) / Math.abs(want.loss)).toBeLessThanOrEqual(1e-5);
      expect(got.grads.size).toBe(want.grads.size);
      for (const [path, w] of want.grads) {
        const gv = got.grads.get(path)!;
        let scale = 0, err = 0;
        for (let i = 0; i < w.data.length; i++) {
          scale = Math.max(scale, Math.abs(w.data[i]!));
          err = Math.max(err, Math.abs(gv.data[i]! - w.data[i]!));
        }
        expect(scale, `${path} has a zero gradient: the comparison would prove nothing`).toBeGreaterThan(0);
        expect(err / scale, path).toBeLessThanOrEqual(2e-4);
      }
    });
  }
});
