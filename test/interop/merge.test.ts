// `peftc merge`: LoRA folded into the base weights (Conv1D [in, out] and Linear [out, in]), trained
// base weights replacing the base's, every other tensor passed through under its own name. The
// merged model, run as the plain base .peft, gives the unmerged model's logits. Tolerance: 1e-6
// absolute on logits up to ≈ 0.2 (float32; the merge adds s·B·A in float64 and rounds once, the
// unmerged model rounds x·W and s·(x·Aᵀ)·Bᵀ separately; measured 2e-8 for GPT-2, 8e-8 for LLaMA),
// and 5e-5 against PyTorch's numbers as in test/core/reference.test.ts (measured 6e-7).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, paramView } from '../../runtime/arena.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, type WriteTensor } from '../../runtime/io/safetensors.ts';
import { loadInit } from '../../runtime/interop/hf-weights-node.ts';
import { mergeToFile } from '../../runtime/interop/interop-node.ts';
import { initParams } from '../../runtime/init.ts';
import { baseTensors, compilePeft, FIX, GPT2_FIXTURE, LLAMA_TINY, logits, makeCheckpoint, maxDiff, readJson, tempDir } from './helpers.ts';

const cases: { name: string; base: string; tune: string; set: string[]; rename: (p: string) => string; extra: Record<string, WriteTensor> }[] = [
  {
    name: 'GPT-2 (Conv1D, transformer. prefix, buffers kept)',
    base: 'import "gpt2.peft"',
    tune: 'import "gpt2.peft"\npeft {\n lora(rank = 4, alpha = 8) on "c_attn", "c_proj"\n override "h.1.*" (rank = 2, alpha = 5, rslora = true)\n train "ln_f"\n}',
    set: GPT2_FIXTURE,
    rename: (p: string) => `transformer.${p}`,
    extra: { 'transformer.h.0.attn.masked_bias': { dtype: 'F32', shape: [], data: Float32Array.of(-1e4) } },
  },
  {
    name: 'LLaMA (Linear, model. prefix)',
    base: 'import "llama.peft"',
    tune: 'import "llama.peft"\npeft { lora(rank = 2, alpha = 4) on "q_proj", "v_proj", "o_proj", "down_proj" }',
    set: LLAMA_TINY,
    rename: (p: string) => (p === 'lm_head.weight' ? p : `model.${p}`),
    extra: {},
  },
  {
    name: 'DoRA on LLaMA\'s Linear layers',
    base: 'import "llama.peft"',
    tune: 'import "llama.peft"\npeft { lora(rank = 2, alpha = 4, dora = true) on "q_proj", "down_proj" }',
    set: LLAMA_TINY,
    rename: (p: string) => (p === 'lm_head.weight' ? p : `model.${p}`),
    extra: {},
  },
  {
    name: 'DoRA on GPT-2\'s Conv1D',
    base: 'import "gpt2.peft"',
    tune: 'import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4, dora = true) on "c_attn", "mlp.c_proj" }',
    set: GPT2_FIXTURE,
    rename: (p: string) => `transformer.${p}`,
    extra: {},
  },
  {
    name: 'DoRA on LLaMA\'s (untied) token embedding: the table\'s columns scaled to their magnitudes',
    base: 'import "llama.peft"',
    tune: 'import "llama.peft"\npeft { lora(rank = 2, alpha = 4, dora = true) on "embed_tokens" }',
    set: LLAMA_TINY,
    rename: (p: string) => (p === 'lm_head.weight' ? p : `model.${p}`),
    extra: {},
  },
  {
    name: 'LLaMA with LoRA on the (untied) token embedding',
    base: 'import "llama.peft"',
    tune: 'import "llama.peft"\npeft { lora(rank = 2, alpha = 4) on "embed_tokens", "q_proj" }',
    set: LLAMA_TINY,
    rename: (p: string) => (p === 'lm_head.weight' ? p : `model.${p}`),
    extra: {},
  },
];

describe.each(cases)('merge: $name', (c) => {
  const tmp = tempDir();
  it('gives the unmerged logits with the plain base model', async () => {
    const baseG = compilePeft(c.base, c.set).graph;
    const baseStore = createStore(baseG, 'f32');
    initParams(baseG, baseStore, { seed: 11 });
    const basePath = join(tmp, 'base.safetensors');
    writeFileSync(basePath, serializeSafetensors({ ...baseTensors(baseG, baseStore, c.rename), ...c.extra }, { format: 'pt' }));

    const ck = join(tmp, 'ck');
    const { c: tune } = await makeCheckpoint(ck, c.tune, c.set, 5);
    // The unmerged model: base from the file, trained weights from the checkpoint.
    const store = createStore(tune.graph, 'f32');
    await loadInit(basePath, tune.graph, store);
    const adapter = parseSafetensors(readFileSync(join(ck, 'adapter.safetensors')));
    for (const [name] of adapter.tensors) paramView(store, name).set(getFloat32(adapter, name));
    const want = logits(tune.graph, store);

    const out = join(tmp, 'merged.safetensors');
    const merged = compilePeft(c.tune, c.set, true).graph;
    const res = await mergeToFile(merged, basePath, ck, out);
    expect(res.merged.length).toBe(new Set(tune.graph.params.filter((p) => p.origin === 'lora').map((p) => p.module)).size);
    const mergedStore = createStore(baseG, 'f32');
    await loadInit(out, baseG, mergedStore);
    const got = logits(baseG, mergedStore);
    expect(maxDiff(got, want)).toBeLessThan(1e-6);
    expect(maxDiff(got, logits(baseG, baseStore))).toBeGreaterThan(1e-2); // the fine-tune changed something

    const file = parseSafetensors(readFileSync(out));
    const base = parseSafetensors(readFileSync(basePath));
    expect([...file.tensors.keys()].sort()).toEqual([...base.tensors.keys()].sort());
    for (const [name, t] of base.tensors) {
      if (res.merged.includes(name) || res.replaced.includes(name)) continue;
      expect(file.tensors.get(name)!.data).toEqual(t.data);
    }
  });
});

describe('merge against PyTorch', () => {
  const tmp = tempDir();
  it('the fixture\'s LoRA folded into its base gives PyTorch\'s logits', async () => {
    const dir = join(FIX, 'gpt2-lora-tiny');
    const weights = parseSafetensors(readFileSync(join(dir, 'weights.safetensors')));
    const basePath = join(tmp, 'base.safetensors');
    const lora = [...weights.tensors.keys()].filter((k) => k.includes('lora_'));
    writeFileSync(basePath, serializeSafetensors(Object.fromEntries([...weights.tensors].filter(([k]) => !lora.includes(k)))));
    const ck = join(tmp, 'ck');
    const text = 'import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8) on "c_attn" }';
    const { c } = await makeCheckpoint(ck, text, GPT2_FIXTURE);
    writeFileSync(join(ck, 'adapter.safetensors'), serializeSafetensors(Object.fromEntries(lora.map((k) => [k, weights.tensors.get(k)!]))));
    const out = join(tmp, 'merged.safetensors');
    await mergeToFile(c.graph, basePath, ck, out);
    const base = compilePeft('import "gpt2.peft"', GPT2_FIXTURE).graph;
    const store = createStore(base, 'f32');
    await loadInit(out, base, store);
    const rows = readJson(join(dir, 'tokens.json')) as number[][];
    const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
    const expected = parseSafetensors(readFileSync(join(dir, 'expected.safetensors')));
    expect(maxDiff(logits(base, store, tokens), getFloat32(expected, 'logits'))).toBeLessThan(5e-5);
  });

  it('keeps a half-precision base in its dtype', async () => {
    const g = compilePeft('import "llama.peft"', LLAMA_TINY).graph;
    const s = createStore(g, 'f32');
    initParams(g, s, { seed: 2 });
    const t = baseTensors(g, s, (p) => `model.${p}`);
    for (const k of Object.keys(t)) t[k] = { ...t[k]!, dtype: 'BF16' };
    const basePath = join(tmp, 'bf16.safetensors');
    writeFileSync(basePath, serializeSafetensors(t));
    const ck = join(tmp, 'ck-bf16');
    const text = 'import "llama.peft"\npeft { lora(rank = 2) on "q_proj" }';
    const { c } = await makeCheckpoint(ck, text, LLAMA_TINY);
    const out = join(tmp, 'merged-bf16.safetensors');
    await mergeToFile(c.graph, basePath, ck, out);
    const file = parseSafetensors(readFileSync(out));
    expect([...file.tensors.values()].every((x) => x.dtype === 'BF16')).toBe(true);
  });
});

describe('merge refuses what it cannot fold', () => {
  const tmp = tempDir();
  it('a prompt, or an adapter that does not fit the .peft, and writes nothing', async () => {
    const g = compilePeft('import "gpt2.peft"', GPT2_FIXTURE).graph;
    const s = createStore(g, 'f32');
    initParams(g, s, { seed: 1 });
    const basePath = join(tmp, 'base.safetensors');
    writeFileSync(basePath, serializeSafetensors(baseTensors(g, s, (p) => p)));
    const ck = join(tmp, 'ck');
    const text = 'import "gpt2.peft"\npeft {\n lora(rank = 2) on "c_attn"\n prompt(length = 2) on "wte"\n}';
    const { c } = await makeCheckpoint(ck, text, GPT2_FIXTURE);
    const out = join(tmp, 'merged.safetensors');
    await expect(mergeToFile(c.graph, basePath, ck, out)).rejects.toThrow(/this fine-tune also has prompt, which no base weight can hold: export it/);
    const other = compilePeft('import "gpt2.peft"\npeft { lora(rank = 3) on "c_attn" }', GPT2_FIXTURE).graph;
    await expect(mergeToFile(other, basePath, ck, out)).rejects.toThrow(/does not fit the .peft model: .*`h.0.attn.c_attn.lora_A.weight` is \[2, 32\], the model's \[3, 32\]/);
    expect(existsSync(out)).toBe(false);
  });

  it('LoRA on a token table the head is tied to (the merged head would change too)', async () => {
    const g = compilePeft('import "gpt2.peft"', GPT2_FIXTURE).graph;
    const s = createStore(g, 'f32');
    initParams(g, s, { seed: 1 });
    const basePath = join(tmp, 'base-tied.safetensors');
    writeFileSync(basePath, serializeSafetensors(baseTensors(g, s, (p) => p)));
    const ck = join(tmp, 'ck-tied');
    const { c } = await makeCheckpoint(ck, 'import "gpt2.peft"\npeft { lora(rank = 2) on "wte" }', GPT2_FIXTURE);
    const out = join(tmp, 'merged-tied.safetensors');
    await expect(mergeToFile(c.graph, basePath, ck, out)).rejects.toThrow('LoRA on `wte` cannot be merged: the output head is tied to its table');
    expect(existsSync(out)).toBe(false);
  });
});
