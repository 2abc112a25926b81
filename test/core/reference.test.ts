// The project's numbers against PyTorch's for the same weights and tokens: a tiny GPT-2
// with LoRA, prompt tuning and prefix tuning (fixtures made by scripts/reference/gpt2_lora.py,
// see test/fixtures/README.md). Prompt and prefix follow Hugging Face PEFT's conventions
// (expected-hf.safetensors).
// Tolerances: float64 run vs the float64 reference saved as float32: 2e-6 relative on
// loss, 1e-5 absolute on logits and gradients; float32 run: 1e-5 on loss, 5e-5 on logits,
// 1e-5 on gradients.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import type { Precision } from '../../runtime/cpu/tensor.ts';
import { parseSafetensors, getFloat32 } from '../../runtime/io/safetensors.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { graphOfText } from '../helpers.ts';

const FIX = resolve(import.meta.dirname, '../fixtures');
const SET = ['vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4'];

const cases = [
  { name: 'lora', peft: 'lora(rank = 4, alpha = 8) on "c_attn"', expected: 'expected.safetensors', rename: (n: string) => n },
  { name: 'prompt', peft: 'prompt(length = 3) on "wte"', expected: 'expected-hf.safetensors', rename: (n: string) => n },
  { name: 'prefix', peft: 'prefix(length = 3) on "h.*.attn"', expected: 'expected-hf.safetensors', rename: (n: string) => (n === 'prefix' ? 'prefix_embeddings' : n) },
];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.each(cases)('PyTorch reference: GPT-2 tiny + $name', (c) => {
  const dir = resolve(FIX, `gpt2-${c.name}-tiny`);
  const g = graphOfText(`import "gpt2.peft"\npeft { ${c.peft} }`, SET);
  const weights = parseSafetensors(readFileSync(resolve(dir, 'weights.safetensors')));
  const expected = parseSafetensors(readFileSync(resolve(dir, c.expected)));
  const rows = JSON.parse(readFileSync(resolve(dir, 'tokens.json'), 'utf8')) as number[][];
  const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
  const exec = new CpuExecutor(buildTrainingGraph(g));

  it.each([['f64', 2e-6, 1e-5, 1e-5], ['f32', 1e-5, 5e-5, 1e-5]] as [Precision, number, number, number][])(
    'matches in %s',
    (precision, lossTol, logitTol, gradTol) => {
      const store = createStore(g, precision);
      const loaded = loadWeights(g, store, weights, { rename: c.rename });
      expect(loaded.size).toBe(g.params.length); // every parameter comes from the file
      const res = exec.run(store, { tokens, targets: lmTargets(tokens, g.promptLength) }, { precision, training: false, step: 0 });
      const loss = getFloat32(expected, 'loss')[0]!;
      expect(Math.abs(res.loss - loss) / loss).toBeLessThan(lossTol);
      expect(maxDiff(res.logits.data, getFloat32(expected, 'logits'))).toBeLessThan(logitTol);
      const gradNames = [...expected.tensors.keys()].filter((k) => k.startsWith('grad.'));
      expect(gradNames.length).toBe(res.grads.size);
      for (const name of gradNames) {
        const ours = res.grads.get(c.rename(name.slice(5))!)!;
        expect(maxDiff(ours.data, getFloat32(expected, name))).toBeLessThan(gradTol);
      }
    },
  );
});
