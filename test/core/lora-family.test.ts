// The LoRA family against float64 PyTorch written from Hugging Face PEFT's formulas
// (scripts/reference/gpt2_lora_family.py): loss, logits and every trainable gradient of the
// tiny GPT-2 of reference.test.ts with LoRA on all_linear, LoRA on the token embedding and DoRA
// (whose weight norm the gradients treat as a constant, as PEFT detaches it).
// Tolerances as reference.test.ts's.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import type { Precision } from '../../runtime/cpu/tensor.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { initParams } from '../../runtime/init.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { graphOfText } from '../helpers.ts';

const FIX = resolve(import.meta.dirname, '../fixtures');
const SET = ['vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4'];

const cases: { name: string; dir?: string; peft: string; trainable: number }[] = [
  { name: 'all-linear', peft: 'lora(rank = 4, alpha = 8) on all_linear', trainable: 16 },
  { name: 'embedding', peft: 'lora(rank = 4, alpha = 8) on "wte"', trainable: 2 },
  { name: 'dora', dir: 'gpt2-dora-tiny', peft: 'lora(rank = 4, alpha = 8, dora = true) on "c_attn", "c_fc"', trainable: 12 },
];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.each(cases)('PEFT reference: GPT-2 tiny + LoRA $name', (c) => {
  const dir = resolve(FIX, c.dir ?? `gpt2-lora-${c.name}-tiny`);
  const g = graphOfText(`import "gpt2.peft"\npeft { ${c.peft} }`, SET);
  const weights = parseSafetensors(readFileSync(resolve(dir, 'weights.safetensors')));
  const expected = parseSafetensors(readFileSync(resolve(dir, 'expected.safetensors')));
  const rows = JSON.parse(readFileSync(resolve(dir, 'tokens.json'), 'utf8')) as number[][];
  const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
  const exec = new CpuExecutor(buildTrainingGraph(g));

  it.each([['f64', 2e-6, 1e-5, 1e-5], ['f32', 1e-5, 5e-5, 1e-5]] as [Precision, number, number, number][])(
    'matches in %s',
    (precision, lossTol, logitTol, gradTol) => {
      const store = createStore(g, precision);
      expect(loadWeights(g, store, weights, {}).size).toBe(g.params.length); // every parameter comes from the file
      const res = exec.run(store, { tokens, targets: lmTargets(tokens, g.promptLength) }, { precision, training: false, step: 0 });
      const loss = getFloat32(expected, 'loss')[0]!;
      expect(Math.abs(res.loss - loss) / loss).toBeLessThan(lossTol);
      expect(maxDiff(res.logits.data, getFloat32(expected, 'logits'))).toBeLessThan(logitTol);
      const gradNames = [...expected.tensors.keys()].filter((k) => k.startsWith('grad.'));
      expect(gradNames.length).toBe(c.trainable);
      expect(res.grads.size).toBe(c.trainable);
      for (const name of gradNames) expect(maxDiff(res.grads.get(name.slice(5))!.data, getFloat32(expected, name))).toBeLessThan(gradTol);
    },
  );
});

describe('DoRA at its initialisation', () => {
  it('is the base model: the magnitudes start at the norms of the loaded base weights (Conv1D and Linear)', () => {
    for (const [base, targets] of [['gpt2.peft', '"c_attn", "mlp.c_proj"'], ['llama.peft', '"q_proj", "down_proj"']]) {
      const set = base === 'gpt2.peft' ? SET : ['vocab_size=64,hidden_size=32,intermediate_size=48,num_hidden_layers=2,num_attention_heads=4,num_key_value_heads=2'];
      const plain = graphOfText(`import "${base}"`, set);
      const dora = graphOfText(`import "${base}"\npeft { lora(rank = 2, dora = true) on ${targets} }`, set);
      const plainStore = createStore(plain, 'f64');
      initParams(plain, plainStore, { seed: 4 });
      const store = createStore(dora, 'f64');
      // The base as a checkpoint would bring it, then the method's own initialisation.
      for (const p of plain.params) paramView(store, p.path).set(paramView(plainStore, p.path));
      initParams(dora, store, { seed: 4, skip: new Set(plain.params.map((p) => p.path)) });
      const tokens = { shape: [1, 6], data: Int32Array.of(1, 5, 9, 2, 7, 3) };
      const run = (g: typeof plain, s: typeof store) =>
        new CpuExecutor(buildTrainingGraph(g)).run(s, { tokens, targets: lmTargets(tokens, 0) }, { precision: 'f64', training: false, step: 0 }).logits.data;
      expect(maxDiff(run(dora, store), run(plain, plainStore))).toBeLessThan(1e-12);
    }
  });
});
