// Autodiff is pruned to the trainable partition: counted backward ops per configuration.
import { describe, expect, it } from 'vitest';
import { backwardOpCounts } from '../../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { graphOf, graphOfText, TINY } from '../helpers.ts';

const twelve = [`${TINY.gpt2},n_layer=12`];
const backwardScopes = (t: ReturnType<typeof buildTrainingGraph>) => t.graph.nodes.slice(t.forwardEnd).map((n) => n.scope);

describe('backward pruning', () => {
  it('LoRA on the top 2 of 12 layers backpropagates through those 2 layers only', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 2) on "h.10.attn.c_attn", "h.11.attn.c_attn" }', twelve);
    const t = buildTrainingGraph(g);
    const counts = backwardOpCounts(t);
    expect(counts.linear_grad_weight).toBe(4); // lora_A and lora_B of two layers
    expect(counts.attention_grad_q).toBe(2);
    expect(counts.embedding_grad).toBeUndefined();
    const below = backwardScopes(t).filter((s) => /^h\.[0-9]\./.test(s));
    expect(below).toEqual([]);
    expect(t.grads.map((x) => x.path).sort()).toEqual(
      ['h.10.attn.c_attn.lora_A.weight', 'h.10.attn.c_attn.lora_B.weight', 'h.11.attn.c_attn.lora_A.weight', 'h.11.attn.c_attn.lora_B.weight'],
    );
  });

  it('prompt tuning differentiates activations through every layer but no weight', () => {
    const t = buildTrainingGraph(graphOf('gpt2-prompt.peft', twelve));
    const counts = backwardOpCounts(t);
    expect(counts.attention_grad_q).toBe(12);
    expect(counts.linear_grad_weight).toBeUndefined();
    expect(counts.layernorm_grad_gamma).toBeUndefined();
    expect(counts.embedding_grad).toBeUndefined();
    expect(t.grads.map((x) => x.path)).toEqual(['prompt_embeddings']);
  });

  it('full fine-tuning computes every weight gradient', () => {
    const g = graphOf('gpt2.peft', twelve);
    const t = buildTrainingGraph(g);
    const counts = backwardOpCounts(t);
    expect(counts.linear_grad_weight).toBe(12 * 4 + 1); // four Conv1D per layer + the tied head
    expect(counts.embedding_grad).toBe(2); // wte and wpe
    expect(t.grads).toHaveLength(g.params.length);
  });

  it('LoRA everywhere computes no gradient for any frozen weight', () => {
    const t = buildTrainingGraph(graphOf('gpt2-lora.peft', twelve));
    const counts = backwardOpCounts(t);
    expect(counts.linear_grad_weight).toBe(24);
    expect(counts.layernorm_grad_gamma).toBeUndefined();
    // Below the first LoRA layer nothing is differentiated: layer 0's first layer norm has no backward.
    expect(backwardScopes(t).some((s) => s.startsWith('h.0.ln_1'))).toBe(false);
  });
});
