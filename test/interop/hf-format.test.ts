// The Hugging Face PEFT folders written for the PyTorch fixtures' tiny GPT-2: adapter_config.json
// byte for byte against golden files (as PEFT writes it: json.dumps(indent=2, sort_keys=True)),
// the LoRA keys against PEFT's names for the fixture, and the fixture's PyTorch numbers
// reproduced after export → import (logits within 5e-5, the tolerance of test/core/reference).
// UPDATE_GOLDEN=1 rewrites the golden files.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { CHECKPOINT_FORMAT, packCheckpoint } from '../../runtime/checkpoint.ts';
import { writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { exportCheckpoint, importToCheckpoint } from '../../runtime/interop/interop-node.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { compilePeft, FIX, GPT2_FIXTURE, maxDiff, readJson, tempDir } from './helpers.ts';

const GOLDEN = resolve(import.meta.dirname, 'golden');

const methods = [
  { name: 'lora', peft: 'lora(rank = 4, alpha = 8) on "c_attn"', expected: 'expected.safetensors', fixtureName: (n: string) => n },
  { name: 'prompt', peft: 'prompt(length = 3) on "wte"', expected: 'expected-hf.safetensors', fixtureName: (n: string) => n },
  { name: 'prefix', peft: 'prefix(length = 3) on "h.*.attn"', expected: 'expected-hf.safetensors', fixtureName: (n: string) => (n === 'prefix_embeddings' ? 'prefix' : n) },
];

/** A checkpoint directory holding the fixture's weights for the method. */
async function fixtureCheckpoint(dir: string, m: (typeof methods)[number]) {
  const text = `import "gpt2.peft"\npeft { ${m.peft} }`;
  const c = compilePeft(text, GPT2_FIXTURE);
  const weights = parseSafetensors(readFileSync(join(FIX, `gpt2-${m.name}-tiny`, 'weights.safetensors')));
  const store = createStore(c.graph, 'f32');
  loadWeights(c.graph, store, weights, { rename: (n) => (n === 'prefix' ? 'prefix_embeddings' : n) });
  const n = store.trainable.size;
  const ck = packCheckpoint(store, { step: 1, m: new Float32Array(n), v: new Float32Array(n) }, {
    format: CHECKPOINT_FORMAT, step: 1, seed: 0, settings: {}, source: { entry: c.entry, files: c.files }, set: GPT2_FIXTURE, base: null, valLoss: null,
  });
  await writeCheckpointDir(dir, ck, adapterTensors(buildTrainingGraph(c.graph), store));
  return { text, weights };
}

describe.each(methods)('Hugging Face PEFT export of the tiny GPT-2 fixture: $name', (m) => {
  const tmp = tempDir();
  const ck = join(tmp, 'ck');
  const out = join(tmp, 'hf');

  it('writes adapter_config.json as the golden file', async () => {
    await fixtureCheckpoint(ck, m);
    await exportCheckpoint(ck, out, { baseModel: 'gpt2-tiny' });
    const got = readFileSync(join(out, 'adapter_config.json'), 'utf8');
    const golden = join(GOLDEN, `gpt2-${m.name}.adapter_config.json`);
    if (process.env.UPDATE_GOLDEN) {
      mkdirSync(GOLDEN, { recursive: true });
      writeFileSync(golden, got);
    }
    expect(got).toBe(readFileSync(golden, 'utf8'));
  });

  it('reproduces the PyTorch logits after import', async () => {
    const fixture = join(FIX, `gpt2-${m.name}-tiny`);
    const text = `import "gpt2.peft"\npeft { ${m.peft} }`;
    const model = compilePeft(text, GPT2_FIXTURE, true);
    const back = join(tmp, 'back');
    await importToCheckpoint(out, { graph: model.graph, source: { entry: model.entry, files: model.files }, set: GPT2_FIXTURE }, back);
    const g = model.graph;
    const store = createStore(g, 'f32');
    const weights = parseSafetensors(readFileSync(join(fixture, 'weights.safetensors')));
    loadWeights(g, store, weights, { rename: (n) => (n === 'prefix' || g.params.find((p) => p.path === n)?.origin !== 'base' ? undefined : n) });
    const adapter = parseSafetensors(readFileSync(join(back, 'adapter.safetensors')));
    for (const [name] of adapter.tensors) paramView(store, name).set(getFloat32(adapter, name));
    const rows = readJson(join(fixture, 'tokens.json')) as number[][];
    const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
    const res = new CpuExecutor(buildTrainingGraph(g)).run(store, { tokens, targets: lmTargets(tokens, g.promptLength) }, { precision: 'f32', training: false, step: 0, backward: false });
    const expected = parseSafetensors(readFileSync(join(fixture, m.expected)));
    expect(maxDiff(res.logits.data, getFloat32(expected, 'logits'))).toBeLessThan(5e-5);
  });
});

describe('LoRA export against the fixture\'s PEFT names', () => {
  const tmp = tempDir();
  it('has PEFT\'s keys, the fixture\'s values and its LoRA settings', async () => {
    const ck = join(tmp, 'ck');
    const { weights } = await fixtureCheckpoint(ck, methods[0]!);
    await exportCheckpoint(ck, join(tmp, 'hf'), { baseModel: 'gpt2-tiny' });
    const file = parseSafetensors(readFileSync(join(tmp, 'hf', 'adapter_model.safetensors')));
    // test/fixtures/README.md: "PEFT's own key for A is base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight"
    const keys = [0, 1].flatMap((i) => ['A', 'B'].map((x) => `base_model.model.transformer.h.${i}.attn.c_attn.lora_${x}.weight`));
    expect([...file.tensors.keys()].sort()).toEqual(keys.sort());
    expect(file.metadata).toEqual({ format: 'pt' });
    for (const k of keys) {
      expect(file.tensors.get(k)!.dtype).toBe('F32');
      expect(getFloat32(file, k)).toEqual(getFloat32(weights, k.slice('base_model.model.transformer.'.length)));
    }
    const ours = readJson(join(tmp, 'hf', 'adapter_config.json')) as Record<string, unknown>;
    const theirs = readJson(join(FIX, 'gpt2-lora-tiny', 'config.json')) as Record<string, unknown>;
    for (const k of ['r', 'lora_alpha', 'target_modules', 'fan_in_fan_out', 'lora_dropout']) expect(ours[k]).toEqual(theirs[k]);
    expect(file.tensors.get(keys[0]!)!.shape).toEqual([4, 32]);
    expect(file.tensors.get(keys[1]!)!.shape).toEqual([96, 4]);
  });
});
