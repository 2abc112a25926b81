// The LoRA family against float64 PyTorch written from Hugging Face PEFT's formulas
// (scripts/reference/gpt2_lora_family.py): loss, logits and every trainable gradient of the
// tiny GPT-2 of reference.test.ts with LoRA on all_linear, LoRA on the token embedding and DoRA
// on Conv1Ds and on the token embedding (whose weight norm the gradients treat as a constant, as
// PEFT detaches it).
// Tolerances as reference.test.ts's.
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { initParams } from '../../runtime/init.ts';
import { graphOfText } from '../helpers.ts';
import { TINY_GPT2, describeFixtures, maxDiff } from './gpt2-fixture.ts';

const SET = TINY_GPT2;

describeFixtures('PEFT reference: GPT-2 tiny + LoRA', [
  { name: 'all-linear', dir: 'gpt2-lora-all-linear-tiny', peft: 'lora(rank = 4, alpha = 8) on all_linear', trainable: 16 },
  { name: 'embedding', dir: 'gpt2-lora-embedding-tiny', peft: 'lora(rank = 4, alpha = 8) on "wte"', trainable: 2 },
  { name: 'dora', dir: 'gpt2-dora-tiny', peft: 'lora(rank = 4, alpha = 8, dora = true) on "c_attn", "c_fc"', trainable: 12 },
  { name: 'dora on the embedding', dir: 'gpt2-dora-embedding-tiny', peft: 'lora(rank = 4, alpha = 8, dora = true) on "wte"', trainable: 3 },
]);

describe('DoRA at its initialisation', () => {
  it('is the base model: the magnitudes start at the norms of the loaded base weights (Conv1D, Linear, a tied and an untied embedding)', () => {
    for (const [base, targets] of [['gpt2.peft', '"c_attn", "mlp.c_proj"'], ['llama.peft', '"q_proj", "down_proj"'], ['gpt2.peft', '"wte"'], ['llama.peft', '"embed_tokens"']]) {
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
