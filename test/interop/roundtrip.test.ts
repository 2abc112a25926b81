// export → import gives back identical tensors, for every method that has a PyTorch format and
// for a fine-tune that combines several; the imported checkpoint starts at step 0 with zero
// optimizer moments and records where it came from.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { planExport } from '../../runtime/interop/hf-peft.ts';
import { exportCheckpoint, importToCheckpoint } from '../../runtime/interop/interop-node.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { compilePeft, GPT2_FIXTURE, LLAMA_TINY, makeCheckpoint, tempDir } from './helpers.ts';
import { TINY } from '../helpers.ts';

const BERT = [TINY.bert!];

const cases = [
  { name: 'lora', text: 'import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8) on "c_attn" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'lora with overrides and rsLoRA', text: 'import "gpt2.peft"\npeft {\n lora(rank = 4, alpha = 8) on "c_attn", "c_fc" exclude "h.0.mlp.*"\n override "h.1.*" (rank = 2, alpha = 3, rslora = true)\n}', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'prompt', text: 'import "gpt2.peft"\npeft { prompt(length = 3) on "wte" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'LoRA with init = gaussian (init_lora_weights)', text: 'import "gpt2.peft"\npeft { lora(rank = 2, init = gaussian) on "c_attn" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'DoRA (lora_magnitude_vector, use_dora)', text: 'import "llama.peft"\npeft { lora(rank = 2, alpha = 4, dora = true) on "q_proj", "v_proj" }', set: LLAMA_TINY, parts: ['.'] },
  { name: 'DoRA on the token embedding (wte.lora_magnitude_vector)', text: 'import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4, dora = true) on "wte" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'lora on all_linear and the token embedding', text: 'import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4) on all_linear, "wte" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'prefix', text: 'import "gpt2.peft"\npeft { prefix(length = 3) on "h.*.attn" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'prefix through an MLP (exports the derived table)', text: 'import "gpt2.peft"\npeft { prefix(length = 3, reparam = mlp(hidden = 8)) on "h.*.attn" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'prefix with layers listed out of order', text: 'import "gpt2.peft"\npeft { prefix(length = 2) on "h.1.attn", "h.0.attn" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'llama lora (q, v) + prefix with grouped kv heads', text: 'import "llama.peft"\npeft {\n lora(rank = 2, alpha = 4) on "q_proj", "v_proj"\n prefix(length = 2) on "layers.*.self_attn"\n}', set: LLAMA_TINY, parts: ['lora', 'prefix_tuning'] },
  { name: 'lora + prompt', text: 'import "gpt2.peft"\npeft {\n lora(rank = 2) on "c_attn"\n prompt(length = 2, init = vocab) on "wte"\n}', set: GPT2_FIXTURE, parts: ['lora', 'prompt_tuning'] },
  { name: 'gpt2 Houlsby adapters', text: 'import "gpt2.peft"\npeft { adapter(bottleneck = 8, activation = gelu) on "h.*.attn", "h.*.mlp" }', set: GPT2_FIXTURE, parts: ['.'] },
  { name: 'bert adapters + lora + classifier', text: 'import "bert.peft"\npeft {\n adapter(reduction = 4, activation = relu) on "encoder.layer.1.attention.output.dense", "encoder.layer.1.output.dense"\n lora(rank = 2, alpha = 2) on "query", "value"\n train "classifier"\n}', set: BERT, parts: ['bottleneck', 'lora'] },
];

describe.each(cases)('export then import: $name', (c) => {
  const tmp = tempDir();
  it('gives back identical tensors', async () => {
    const ck = join(tmp, 'ck');
    const { adapter } = await makeCheckpoint(ck, c.text, c.set);
    const out = join(tmp, 'hf');
    const res = await exportCheckpoint(ck, out, { baseModel: 'tiny' });
    expect(res.plan.skipped).toEqual([]);
    expect(res.folders.sort()).toEqual([...c.parts].sort());
    const model = compilePeft(c.text, c.set, true);
    const back = join(tmp, 'back');
    await importToCheckpoint(out, { graph: model.graph, source: { entry: model.entry, files: model.files }, set: c.set }, back);
    const got = parseSafetensors(readFileSync(join(back, 'adapter.safetensors')));
    expect([...got.tensors.keys()].sort()).toEqual(Object.keys(adapter).sort());
    for (const [name, t] of Object.entries(adapter)) {
      expect(got.tensors.get(name)!.shape).toEqual([...t.shape]);
      expect(getFloat32(got, name)).toEqual(t.data);
    }
    const ckpt = readCheckpointDir(back);
    expect(ckpt.state.step).toBe(0);
    expect(ckpt.state.settings.imported_from).toBe(out);
    for (const [name] of ckpt.file.tensors) if (name.startsWith('adam.')) expect(getFloat32(ckpt.file, name).every((x) => x === 0)).toBe(true);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(join(back, 'checkpoint.safetensors'))).toBe(true);
  });
});

describe('DoRA on the token embedding under PEFT\'s keys', () => {
  it('lora_embedding_A, lora_embedding_B and lora_magnitude_vector [dim] of wte, with use_dora', () => {
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4, dora = true) on "wte" }', GPT2_FIXTURE, true);
    const part = planExport(c.graph, hfNameMap(c.graph), { baseModel: null }).parts[0]!;
    expect([part.config.use_dora, part.config.target_modules]).toEqual([true, ['wte']]);
    expect(part.entries.map((e) => [e.key, e.shape])).toEqual([
      ['base_model.model.transformer.wte.lora_embedding_A', [2, 64]],
      ['base_model.model.transformer.wte.lora_embedding_B', [32, 2]],
      ['base_model.model.transformer.wte.lora_magnitude_vector', [32]],
    ]);
  });
});
