// AdaLoRA in Hugging Face PEFT's own format (runtime/interop/adalora.ts): export writes
// peft_type ADALORA with the kept triplets of lora_A, lora_E [k, 1], lora_B and the boolean
// rank_pattern; import puts them back in place (zeros where masked) with the masks in the
// checkpoint; the round trip gives the fine-tune's logits. Folders PEFT would refuse or that do
// not fit are refused in one line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { CHECKPOINT_FORMAT, packCheckpoint } from '../../runtime/checkpoint.ts';
import { readCheckpointDir, writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import { emitPeft } from '../../runtime/interop/emit-peft.ts';
import { parseAdapterConfig } from '../../runtime/interop/hf-config.ts';
import { importAdapters } from '../../runtime/interop/hf-import.ts';
import { exportCheckpoint, importToCheckpoint, readAdapterFolders } from '../../runtime/interop/interop-node.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { RankController } from '../../runtime/rank-controller.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { compilePeft, FIX, GPT2_FIXTURE, randomStore, tempDir, TOKENS } from './helpers.ts';

const tmp = tempDir();
const TEXT = 'import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4, tinit = 1, tfinal = 2), alpha = 6) on "c_attn", "c_fc" }';
const MASKS: Record<string, number[]> = { 'h.0.attn.c_attn': [1, 0, 1, 1], 'h.0.mlp.c_fc': [0, 0, 1, 0], 'h.1.attn.c_attn': [1, 1, 1, 1], 'h.1.mlp.c_fc': [0, 1, 0, 0] };

function logits(g: Graph, store: ParamStore, extra?: Batch['extra']): Float32Array {
  const batch: Batch = { tokens: TOKENS, targets: lmTargets(TOKENS), ...(extra ? { extra } : {}) };
  return new CpuExecutor(buildTrainingGraph(g)).run(store, batch, { precision: 'f32', training: false, step: 0, backward: false }).logits.data as Float32Array;
}

/** A trained AdaLoRA checkpoint: some triplets masked (their E zero), the masks saved, 20 steps. */
async function adaloraCheckpoint(dir: string): Promise<{ g: Graph; store: ParamStore; ranks: RankController }> {
  const c = compilePeft(TEXT, GPT2_FIXTURE);
  const store = randomStore(c.graph, 1);
  const ranks = new RankController(c.graph, { totalSteps: 20 });
  for (const [m, mask] of Object.entries(MASKS)) ranks.restore({ tensors: new Map([[`rank.mask.${m}`, { dtype: 'F32', shape: [4], data: Float32Array.from(mask) }]]) } as never);
  ranks.zeroMasked(store);
  const n = store.trainable.size;
  const ck = packCheckpoint(store, { step: 20, m: new Float32Array(n), v: new Float32Array(n) }, {
    format: CHECKPOINT_FORMAT, step: 20, seed: 1, settings: { steps: 20 }, source: { entry: c.entry, files: c.files }, set: GPT2_FIXTURE, base: null, valLoss: null,
  });
  Object.assign(ck.tensors, ranks.tensors());
  await writeCheckpointDir(dir, ck, adapterTensors(buildTrainingGraph(c.graph), store));
  return { g: c.graph, store, ranks };
}

describe('AdaLoRA as PEFT\'s ADALORA', () => {
  it('exports lora_A, lora_E [k, 1], lora_B of the kept triplets and the boolean rank_pattern', async () => {
    const ck = join(tmp, 'ada');
    const { store } = await adaloraCheckpoint(ck);
    const out = join(tmp, 'ada-hf');
    const res = await exportCheckpoint(ck, out, {});
    const part = res.plan.parts[0]!;
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ peft_type: 'ADALORA', init_r: 4, target_r: 2, tinit: 1, tfinal: 2, deltaT: 1, beta1: 0.85, beta2: 0.85, orth_reg_weight: 0.5, total_step: 20, lora_alpha: 6, r: 8, target_modules: ['c_attn', 'c_fc'], fan_in_fan_out: true, init_lora_weights: true });
    expect(cfg.rank_pattern).toEqual({
      'transformer.h.0.attn.c_attn.lora_E': [true, false, true, true], 'transformer.h.0.mlp.c_fc.lora_E': [false, false, true, false],
      'transformer.h.1.attn.c_attn.lora_E': [true, true, true, true], 'transformer.h.1.mlp.c_fc.lora_E': [false, true, false, false],
    });
    expect(part.entries.slice(0, 3).map((e) => [e.key, e.shape])).toEqual([
      ['base_model.model.transformer.h.0.attn.c_attn.lora_A', [3, 32]],
      ['base_model.model.transformer.h.0.attn.c_attn.lora_E', [3, 1]],
      ['base_model.model.transformer.h.0.attn.c_attn.lora_B', [96, 3]],
    ]);
    const file = parseSafetensors(readFileSync(join(out, 'adapter_model.safetensors')));
    expect(file.tensors.size).toBe(12);
    const E = store.trainable.view('h.0.attn.c_attn.lora_E.weight');
    const f = (4 + 1e-5) / 4; // PEFT's scale is alpha / (init_r + 1e-5)
    [...getFloat32(file, 'base_model.model.transformer.h.0.attn.c_attn.lora_E')].forEach((v, i) => expect(v).toBeCloseTo(Math.fround([E[0]!, E[2]!, E[3]!][i]! * f), 7));
  });

  it('imports back into the same .peft: the same logits, masked triplets zero, the masks in the checkpoint', async () => {
    const ck = join(tmp, 'ada2');
    const { g, store, ranks } = await adaloraCheckpoint(ck);
    const out = join(tmp, 'ada2-hf');
    await exportCheckpoint(ck, out, {});
    const c = compilePeft(TEXT, GPT2_FIXTURE, true);
    const imported = join(tmp, 'ada2-imported');
    await importToCheckpoint(out, { graph: c.graph, source: { entry: c.entry, files: c.files }, set: GPT2_FIXTURE }, imported);
    const back = randomStore(c.graph, 1);
    const adapter = parseSafetensors(readFileSync(join(imported, 'adapter.safetensors')));
    for (const p of c.graph.params.filter((x) => x.partition === 'trainable')) back.trainable.view(p.path).set(getFloat32(adapter, p.path));
    const A = back.trainable.view('h.0.attn.c_attn.lora_A.weight');
    expect(A.subarray(32, 64).every((v) => v === 0)).toBe(true); // triplet 1 was masked
    const want = logits(g, store, ranks.evalInputs());
    const got = logits(c.graph, back);
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-6);
    const ckFile = readCheckpointDir(imported).file;
    expect([...getFloat32(ckFile, 'rank.mask.h.0.mlp.c_fc')]).toEqual([0, 0, 1, 0]);
  });

  it('--emit-peft writes the auto(…) rank, and a plain-LoRA .peft or other settings are refused', async () => {
    const ck = join(tmp, 'ada3');
    await adaloraCheckpoint(ck);
    const out = join(tmp, 'ada3-hf');
    await exportCheckpoint(ck, out, {});
    const folders = await readAdapterFolders(out);
    const base = compilePeft('import "gpt2.peft"\n', GPT2_FIXTURE, true);
    expect(emitPeft(folders, base.graph, hfNameMap(base.graph), 'gpt2.peft', 'x')).toContain('lora(rank = auto(target = 2, init = 4, tinit = 1, tfinal = 2), alpha = 6) on "c_attn", "c_fc"');
    const fixed = compilePeft('import "gpt2.peft"\npeft { lora(rank = 4, alpha = 6) on "c_attn", "c_fc" }', GPT2_FIXTURE, true);
    expect(() => importAdapters(fixed.graph, hfNameMap(fixed.graph), folders)).toThrow(/an AdaLoRA adapter \(peft_type ADALORA\); import it into a .peft with lora\(rank = auto\(…\)\)/);
    const other = compilePeft(TEXT.replace('tfinal = 2', 'tfinal = 3'), GPT2_FIXTURE, true);
    expect(() => importAdapters(other.graph, hfNameMap(other.graph), folders)).toThrow('`h.0.attn.c_attn`: tfinal is 2 there, 3 in the .peft');
  });

  it('--adalora-as-lora, or auto modules PEFT cannot hold in one config, write the plain LoRA', async () => {
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4), alpha = 6) on "c_attn"\n lora(rank = auto(target = 1, init = 4), alpha = 6) on "c_fc" }', GPT2_FIXTURE);
    const store = randomStore(c.graph, 3);
    const n = store.trainable.size;
    const ck = join(tmp, 'ada4');
    const pack = packCheckpoint(store, { step: 1, m: new Float32Array(n), v: new Float32Array(n) }, {
      format: CHECKPOINT_FORMAT, step: 1, seed: 3, settings: {}, source: { entry: c.entry, files: c.files }, set: GPT2_FIXTURE, base: null, valLoss: null,
    });
    await writeCheckpointDir(ck, pack, adapterTensors(buildTrainingGraph(c.graph), store));
    const res = await exportCheckpoint(ck, join(tmp, 'ada4-hf'), {});
    expect(res.plan.parts[0]!.config.peft_type).toBe('LORA');
    expect(res.plan.parts[0]!.notes[0]).toBe("written as the plain LoRA it has become, not as AdaLoRA: rank = auto(…) modules with different target: PEFT's AdaLoraConfig has one of each");
  });
});

describe('an ADALORA folder as PEFT writes it (scripts/reference/gpt2_adalora.py)', () => {
  const dir = join(FIX, 'gpt2-adalora-tiny');
  it('imports into lora(rank = auto(target = 2, init = 4), alpha = 8) and evaluates as PEFT\'s SVDLinear (float64 reference)', async () => {
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4), alpha = 8) on "c_attn", "c_fc" }', GPT2_FIXTURE, true);
    const folders = await readAdapterFolders(join(dir, 'adapter'));
    const store = createStore(c.graph, 'f64');
    loadWeights(c.graph, store, parseSafetensors(readFileSync(join(dir, 'base.safetensors'))), {});
    for (const [path, v] of importAdapters(c.graph, hfNameMap(c.graph), folders)) store.trainable.view(path).set(v);
    expect([...store.trainable.view('h.0.mlp.c_fc.lora_E.weight')].map((v) => v !== 0)).toEqual([false, false, true, false]);
    const rows = JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8')) as number[][];
    const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
    const res = new CpuExecutor(buildTrainingGraph(c.graph)).run(store, { tokens, targets: lmTargets(tokens) }, { precision: 'f64', training: false, step: 0, backward: false });
    const expected = parseSafetensors(readFileSync(join(dir, 'expected.safetensors')));
    // E came in as PEFT's × init / (init + 1e-5): PEFT's scale alpha / (init_r + 1e-5) exactly.
    expect(Math.abs(res.loss - getFloat32(expected, 'loss')[0]!)).toBeLessThan(1e-6);
    const want = getFloat32(expected, 'logits');
    expect(Math.max(...Array.from(res.logits.data, (v, i) => Math.abs(v - want[i]!)))).toBeLessThan(2e-6);
  });
});

describe('ADALORA configs that do not fit are refused in one line', () => {
  const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4), alpha = 8) on "c_attn", "c_fc" }', GPT2_FIXTURE, true);
  const names = hfNameMap(c.graph);
  const cfg = JSON.parse(readFileSync(join(FIX, 'gpt2-adalora-tiny/adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
  const weights = parseSafetensors(readFileSync(join(FIX, 'gpt2-adalora-tiny/adapter/adapter_model.safetensors')));
  const attempt = (patch: Record<string, unknown>) => () =>
    importAdapters(c.graph, names, [{ where: 'ada', config: parseAdapterConfig(JSON.stringify({ ...cfg, ...patch }), 'ada/adapter_config.json'), weights }]);
  it.each([
    ['a rank_pattern that is not booleans', { rank_pattern: { 'transformer.h.0.attn.c_attn.lora_E': [1, 0, 1, 1] } }, 'ada/adapter_config.json: an AdaLoRA `rank_pattern` maps each module\'s lora_E to a list of booleans (the kept triplets)'],
    ['a rank_pattern of another length', { rank_pattern: { 'transformer.h.0.attn.c_attn.lora_E': [true, false] } }, 'ada: rank_pattern `transformer.h.0.attn.c_attn.lora_E` has 2 entries, init_r is 4'],
    ['a rank_pattern naming another module', { rank_pattern: { 'transformer.h.0.attn.c_proj.lora_E': [true, true, true, true] } }, 'ada: rank_pattern names `transformer.h.0.attn.c_proj.lora_E`, which is not the lora_E of a module it adapts'],
    ['another init_r', { init_r: 6, rank_pattern: null }, '`h.0.attn.c_attn`: init_r (auto\'s init) is 6 there, 4 in the .peft'],
    ['a bad deltaT', { deltaT: 0 }, 'ada/adapter_config.json: `deltaT` must be an integer ≥ 1, found 0'],
  ])('%s', (_, patch, message) => {
    expect(attempt(patch)).toThrow(message);
    try {
      attempt(patch)();
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
  });
  it('the folder as written imports (the weights fit the kept triplets)', () => {
    expect(attempt({})().size).toBe(12);
  });
});
