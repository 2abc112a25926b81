// Base weights in Hugging Face's names (`--init`): the tiny GPT-2 fixture re-saved with
// `transformer.` prefixes and GPT-2's buffers, in F16 and BF16, and sharded in two files with an
// index; LLaMA (`model.`) and BERT (`bert.`) names; and mismatches, all reported at once with
// nothing written.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, paramView } from '../../runtime/arena.ts';
import { float32ToHalf, halfToFloat32 } from '../../runtime/io/half.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, type WriteTensor } from '../../runtime/io/safetensors.ts';
import { InteropError } from '../../runtime/interop/errors.ts';
import { loadInit } from '../../runtime/interop/hf-weights-node.ts';
import { baseTensors, compilePeft, FIX, GPT2_FIXTURE, LLAMA_TINY, randomStore, tempDir } from './helpers.ts';
import { TINY } from '../helpers.ts';

const fixture = parseSafetensors(readFileSync(join(FIX, 'gpt2-lora-tiny', 'weights.safetensors')));
const lora = compilePeft('import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8) on "c_attn" }', GPT2_FIXTURE).graph;

/** The fixture as Hugging Face saves GPT2LMHeadModel: prefixed, with buffers and the tied head. */
function hfStyle(dtype: 'F32' | 'F16' | 'BF16'): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = {};
  for (const [name] of fixture.tensors) {
    const v = getFloat32(fixture, name);
    out[`transformer.${name}`] = dtype === 'F32' ? { dtype, shape: fixture.tensors.get(name)!.shape, data: v } : { dtype, shape: fixture.tensors.get(name)!.shape, data: float32ToHalf(v, dtype) };
  }
  for (const i of [0, 1]) {
    out[`transformer.h.${i}.attn.bias`] = { dtype: 'U8', shape: [1, 1, 16, 16], data: new Uint8Array(256).fill(1) };
    out[`transformer.h.${i}.attn.masked_bias`] = { dtype: 'F32', shape: [], data: Float32Array.of(-1e4) };
  }
  out['lm_head.weight'] = out['transformer.wte.weight']!;
  return out;
}

function expected(name: string, dtype: 'F32' | 'F16' | 'BF16'): Float32Array {
  const v = getFloat32(fixture, name);
  return dtype === 'F32' ? v : halfToFloat32(float32ToHalf(v, dtype), dtype);
}

describe('GPT-2 checkpoints in Hugging Face form', () => {
  const tmp = tempDir();

  it.each(['F32', 'F16', 'BF16'] as const)('%s with `transformer.` prefixes, buffers and a tied lm_head', async (dtype) => {
    const path = join(tmp, `gpt2-${dtype}.safetensors`);
    writeFileSync(path, serializeSafetensors(hfStyle(dtype), { format: 'pt' }));
    const store = createStore(lora, 'f32');
    const res = await loadInit(path, lora, store);
    expect(res.loaded.size).toBe(lora.params.length);
    expect(res.plan.names.family).toBe('gpt2');
    expect(res.plan.ignored.map((x) => x.name).sort()).toEqual(['lm_head.weight', 'transformer.h.0.attn.bias', 'transformer.h.0.attn.masked_bias', 'transformer.h.1.attn.bias', 'transformer.h.1.attn.masked_bias']);
    for (const p of lora.params) expect(paramView(store, p.path)).toEqual(expected(p.path, dtype));
  });

  it('sharded in two files with model.safetensors.index.json, named by the index or by its folder', async () => {
    const all = hfStyle('BF16');
    const names = Object.keys(all).sort();
    const dir = join(tmp, 'sharded');
    mkdirSync(dir);
    const shards = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    shards.forEach((list, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeFileSync(join(dir, file), serializeSafetensors(Object.fromEntries(list.map((n) => [n, all[n]!])), { format: 'pt' }));
      for (const n of list) weightMap[n] = file;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    for (const at of [join(dir, 'model.safetensors.index.json'), dir]) {
      const store = createStore(lora, 'f32');
      const res = await loadInit(at, lora, store);
      expect(res.files.length).toBe(2);
      for (const p of lora.params) expect(paramView(store, p.path)).toEqual(expected(p.path, 'BF16'));
    }
  });

  it('reports every mismatch at once and writes nothing', async () => {
    const bad = hfStyle('F32');
    const w = bad['transformer.h.0.attn.c_attn.weight']!;
    bad['transformer.h.0.attn.c_attn.weight'] = { dtype: 'F32', shape: [96, 32], data: w.data };
    delete bad['transformer.wpe.weight'];
    bad['transformer.h.0.attn.q_proj.weight'] = { dtype: 'F32', shape: [32, 32], data: new Float32Array(1024) };
    const path = join(tmp, 'bad.safetensors');
    writeFileSync(path, serializeSafetensors(bad));
    const store = createStore(lora, 'f32');
    const err = await loadInit(path, lora, store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InteropError);
    const e = err as InteropError;
    expect(e.problems).toHaveLength(3);
    expect(e.message).toContain('the file has 1 tensor(s) the model lacks: `transformer.h.0.attn.q_proj.weight` [32, 32]');
    expect(e.message).toContain('the model needs 1 tensor(s) the file lacks: `transformer.wpe.weight` [16, 32]');
    expect(e.message).toContain('`transformer.h.0.attn.c_attn.weight` is [96, 32] in the file, parameter `h.0.attn.c_attn.weight` is [32, 96] (transposed');
    expect(e.message).not.toContain('\n');
    expect(store.frozen.data.every((x) => x === 0) && store.trainable.data.every((x) => x === 0)).toBe(true);
  });

  it('says what is wrong with a folder or an index', async () => {
    const two = join(tmp, 'two');
    mkdirSync(two);
    writeFileSync(join(two, 'a.safetensors'), serializeSafetensors({}));
    writeFileSync(join(two, 'b.safetensors'), serializeSafetensors({}));
    await expect(loadInit(two, lora, createStore(lora, 'f32'))).rejects.toThrow(/holds 2 \.safetensors files .* and no model\.safetensors\.index\.json/);
    const idx = join(tmp, 'idx');
    mkdirSync(idx);
    writeFileSync(join(idx, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'wte.weight': 'model-00001-of-00002.safetensors' } }));
    await expect(loadInit(idx, lora, createStore(lora, 'f32'))).rejects.toThrow(/shard `model-00001-of-00002.safetensors` \(1 tensors\) is not next to the index/);
    writeFileSync(join(idx, 'model.safetensors.index.json'), '{"weight_map": 3}');
    await expect(loadInit(idx, lora, createStore(lora, 'f32'))).rejects.toThrow(/no `weight_map` object/);
    await expect(loadInit(join(tmp, 'nowhere'), lora, createStore(lora, 'f32'))).rejects.toThrow(/does not exist/);
  });
});

describe('LLaMA and BERT names', () => {
  const tmp = tempDir();

  it('LLaMA: `model.` prefix, rotary buffers, lm_head on top; a tied checkpoint copies lm_head', async () => {
    const g = compilePeft('import "llama.peft"', LLAMA_TINY).graph;
    const src = randomStore(g, 3);
    const t = baseTensors(g, src, (p) => (p === 'lm_head.weight' ? p : `model.${p}`));
    t['model.layers.0.self_attn.rotary_emb.inv_freq'] = { dtype: 'F32', shape: [2], data: Float32Array.of(1, 0.1) };
    const path = join(tmp, 'llama.safetensors');
    writeFileSync(path, serializeSafetensors(t));
    const store = createStore(g, 'f32');
    const res = await loadInit(path, g, store);
    expect(res.plan.names.family).toBe('llama');
    expect(res.loaded.size).toBe(g.params.length);
    expect(store.trainable.data).toEqual(src.trainable.data);
    delete t['lm_head.weight'];
    writeFileSync(path, serializeSafetensors(t));
    const tied = await loadInit(path, g, createStore(g, 'f32'));
    expect(tied.plan.copies).toEqual([{ path: 'lm_head.weight', from: 'model.embed_tokens.weight' }]);
    expect(tied.plan.notes[0]).toContain('tie_word_embeddings');
  });

  it('BERT: `bert.` prefix, token types loaded as they are, pre-training heads skipped, a fresh classifier', async () => {
    const g = compilePeft('import "bert.peft"\npeft { lora(rank = 2) on "query"\n train "classifier" }', [TINY.bert!]).graph;
    const src = randomStore(g, 4);
    const t = baseTensors(g, src, (p) => (p.startsWith('classifier') ? p : `bert.${p}`));
    delete t['classifier.weight'];
    delete t['classifier.bias'];
    const types = Float32Array.from({ length: 32 }, (_, i) => i / 100);
    t['bert.embeddings.token_type_embeddings.weight'] = { dtype: 'F32', shape: [2, 16], data: types };
    t['bert.embeddings.position_ids'] = { dtype: 'I64', shape: [1, 16], data: Int32Array.from({ length: 16 }, (_, i) => i) };
    t['cls.predictions.bias'] = { dtype: 'F32', shape: [32], data: new Float32Array(32) };
    // Old checkpoints call LayerNorm parameters gamma and beta.
    t['bert.embeddings.LayerNorm.gamma'] = t['bert.embeddings.LayerNorm.weight']!;
    delete t['bert.embeddings.LayerNorm.weight'];
    const path = join(tmp, 'bert.safetensors');
    writeFileSync(path, serializeSafetensors(t));
    const store = createStore(g, 'f32');
    const res = await loadInit(path, g, store);
    expect(res.plan.names.family).toBe('bert');
    expect(res.plan.fresh.sort()).toEqual(['classifier.bias', 'classifier.weight']);
    expect(res.plan.ignored.map((x) => x.name).sort()).toEqual(['bert.embeddings.position_ids', 'cls.predictions.bias']);
    expect(res.plan.notes).toEqual([]);
    expect(paramView(store, 'embeddings.token_type_embeddings.weight')).toEqual(types);
    expect(paramView(store, 'embeddings.position_embeddings.weight')).toEqual(paramView(src, 'embeddings.position_embeddings.weight'));
    expect(paramView(store, 'embeddings.LayerNorm.weight')).toEqual(paramView(src, 'embeddings.LayerNorm.weight'));
  });

  it('a BERT-like model without token types gets type 0 folded into its positions', async () => {
    const text = [
      'block Emb {\n word_embeddings = Embedding(32, 16)\n position_embeddings = Embedding(16, 16)\n forward(tokens) {\n x = word_embeddings(tokens)\n return x + position_embeddings(positions(x))\n }\n}',
      'block L {\n dense = Linear(16, 16)\n forward(x) {\n return dense(x)\n }\n}',
      'block Enc {\n layer = repeat(1, L())\n forward(x) {\n return layer(x)\n }\n}',
      'model M {\n embeddings = Emb()\n encoder = Enc()\n classifier = Linear(16, 2)\n forward(tokens) {\n return classifier(pool(encoder(embeddings(tokens))))\n }\n}',
    ].join('\n');
    const g = compilePeft(text, []).graph;
    const src = randomStore(g, 4);
    const t = baseTensors(g, src, (p) => (p.startsWith('classifier') ? p : `bert.${p}`));
    const types = Float32Array.from({ length: 32 }, (_, i) => i / 100);
    t['bert.embeddings.token_type_embeddings.weight'] = { dtype: 'F32', shape: [2, 16], data: types };
    const path = join(tmp, 'bert-like.safetensors');
    writeFileSync(path, serializeSafetensors(t));
    const store = createStore(g, 'f32');
    const res = await loadInit(path, g, store);
    expect(res.plan.names.family).toBe('bert');
    expect(res.plan.notes[0]).toContain('folded token type 0');
    const want = paramView(src, 'embeddings.position_embeddings.weight').map((x, i) => Math.fround(x + types[i % 16]!));
    expect(paramView(store, 'embeddings.position_embeddings.weight')).toEqual(want);
  });
});
