// The bundled examples: parameter counts equal Hugging Face PEFT's for the same
// configurations (shared/design/PEFT-SEMANTICS.md), paths equal Hugging Face's names.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { summarize, summaryLine } from '../../compiler/params.ts';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';

const shapeOf = (g: ReturnType<typeof graphOf>, path: string) => g.params.find((p) => p.path === path)?.shape;

describe('GPT-2 small', () => {
  const g = graphOf('gpt2.peft');

  it('has 124,439,808 parameters, all trainable without PEFT (full fine-tuning)', () => {
    const s = summarize(g);
    expect(s.total).toBe(124_439_808);
    expect(s.trainable).toBe(124_439_808);
  });

  it("uses Hugging Face's parameter paths and Conv1D layouts", () => {
    expect(shapeOf(g, 'wte.weight')).toEqual([50257, 768]);
    expect(shapeOf(g, 'wpe.weight')).toEqual([1024, 768]);
    expect(shapeOf(g, 'h.0.ln_1.weight')).toEqual([768]);
    expect(shapeOf(g, 'h.0.attn.c_attn.weight')).toEqual([768, 2304]);
    expect(shapeOf(g, 'h.0.attn.c_attn.bias')).toEqual([2304]);
    expect(shapeOf(g, 'h.0.mlp.c_fc.weight')).toEqual([768, 3072]);
    expect(shapeOf(g, 'h.11.mlp.c_proj.weight')).toEqual([3072, 768]);
    expect(shapeOf(g, 'ln_f.bias')).toEqual([768]);
    expect(g.params.some((p) => p.path.startsWith('lm_head'))).toBe(false); // tied to wte
    expect(g.task).toBe('causal_lm');
  });
});

describe('PEFT reference counts', () => {
  it('LoRA r=8 on c_attn: 294,912 of 124,734,720', () => {
    const g = graphOf('gpt2-lora.peft');
    const s = summarize(g);
    expect(summaryLine(s.trainable, s.total)).toBe('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    expect(shapeOf(g, 'h.0.attn.c_attn.lora_A.weight')).toEqual([8, 768]);
    expect(shapeOf(g, 'h.11.attn.c_attn.lora_B.weight')).toEqual([2304, 8]);
    expect(g.params.filter((p) => p.partition === 'trainable').every((p) => p.origin === 'lora')).toBe(true);
  });

  it('prompt tuning with 20 virtual tokens: 15,360', () => {
    const g = graphOf('gpt2-prompt.peft');
    expect(summarize(g).trainable).toBe(15_360);
    expect(g.promptLength).toBe(20);
  });

  it('prefix tuning with 20 virtual tokens: 368,640 kept after the MLP is discarded', () => {
    const s = summarize(graphOf('gpt2-prefix.peft'));
    expect(s.kept.trainable).toBe(368_640);
    // 20·768 embedding + (768·512 + 512) + (512·18432 + 18432) during training
    expect(s.trainable).toBe(20 * 768 + 768 * 512 + 512 + 512 * 18432 + 18432);
  });

  it('Houlsby adapters, bottleneck 64, two per layer', () => {
    const g = graphOf('gpt2-adapter.peft');
    expect(summarize(g).trainable).toBe(24 * (768 * 64 + 64 + 64 * 768 + 768));
    expect(shapeOf(g, 'h.3.attn.adapter.down.weight')).toEqual([64, 768]);
    expect(shapeOf(g, 'h.3.mlp.adapter.up.weight')).toEqual([768, 64]);
  });

  it('LLaMA-style LoRA on q and v only', () => {
    const g = graphOf('llama-lora.peft');
    const lora = g.params.filter((p) => p.origin === 'lora').map((p) => p.path);
    expect(lora).toHaveLength(22 * 4);
    expect(lora.every((p) => /self_attn\.(q|v)_proj\.lora_[AB]\.weight$/.test(p))).toBe(true);
    expect(shapeOf(g, 'layers.0.self_attn.k_proj.weight')).toEqual([256, 2048]);
  });

  it('BERT-like adapters train with their layer norms and the classification head', () => {
    const g = graphOf('bert-adapter.peft');
    expect(g.task).toBe('classification');
    const trainable = g.params.filter((p) => p.partition === 'trainable');
    expect(trainable.some((p) => p.path === 'classifier.weight')).toBe(true);
    expect(trainable.some((p) => p.path === 'encoder.layer.0.output.LayerNorm.weight')).toBe(true);
    expect(trainable.some((p) => p.path === 'encoder.layer.0.intermediate.dense.weight')).toBe(false);
    expect(shapeOf(g, 'encoder.layer.0.output.dense.adapter.down.weight')).toEqual([48, 768]);
  });

  it('two methods in one file: LoRA with exclusions and overrides, plus a prompt', () => {
    const g = graphOf('gpt2-lora-prompt.peft');
    expect(shapeOf(g, 'h.0.attn.c_attn.lora_A.weight')).toBeUndefined();
    expect(shapeOf(g, 'h.1.attn.c_attn.lora_A.weight')).toEqual([16, 768]);
    expect(shapeOf(g, 'h.2.mlp.c_fc.lora_A.weight')).toEqual([8, 768]);
    expect(shapeOf(g, 'prompt_embeddings')).toEqual([10, 768]);
  });
});

describe('every example', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.peft'));
  it.each(files)('%s compiles at full size and under small --set values', (f) => {
    expect(graphOf(f).nodes.length).toBeGreaterThan(0);
    const tiny = graphOf(f, tinySet(f));
    expect(tiny.params.every((p) => p.shape.every((d) => d > 0))).toBe(true);
  });
});

describe('config redefinition across imports', () => {
  it('a file that imports another may redefine its constants, and dependents follow', () => {
    const g = graphOf('tiny-gpt.peft');
    expect(summarize(g).total).toBe(220_544);
    expect(g.config.n_inner).toBe(4 * 64); // n_inner = 4 * n_embd recomputed from the new n_embd
    expect(shapeOf(g, 'h.3.mlp.c_fc.weight')).toEqual([64, 256]);
  });
});
