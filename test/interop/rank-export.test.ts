// Selected LoRA ranks export as the plain LoRA they are: AdaLoRA's kept triplets (E folded into
// A, pruned rows and columns dropped, the final ranks as rank_pattern), DyLoRA at a chosen rank.
// The exported folder, read back through `peftc import --emit-peft`'s .peft, gives the logits of
// the fine-tune it came from.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import type { ParamStore } from '../../runtime/arena.ts';
import { CHECKPOINT_FORMAT, packCheckpoint } from '../../runtime/checkpoint.ts';
import { writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import { emitPeft } from '../../runtime/interop/emit-peft.ts';
import { importAdapters } from '../../runtime/interop/hf-import.ts';
import { exportCheckpoint, readAdapterFolders } from '../../runtime/interop/interop-node.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { RankController } from '../../runtime/rank-controller.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { compilePeft, GPT2_FIXTURE, makeCheckpoint, randomStore, tempDir, TOKENS } from './helpers.ts';

function logits(g: Graph, store: ParamStore, extra?: Batch['extra']): Float32Array {
  const batch: Batch = { tokens: TOKENS, targets: lmTargets(TOKENS), ...(extra ? { extra } : {}) };
  return new CpuExecutor(buildTrainingGraph(g)).run(store, batch, { precision: 'f32', training: false, step: 0, backward: false }).logits.data as Float32Array;
}

async function checkpoint(dir: string, c: ReturnType<typeof compilePeft>, store: ParamStore, ranks?: RankController): Promise<void> {
  const n = store.trainable.size;
  const ck = packCheckpoint(store, { step: 3, m: new Float32Array(n), v: new Float32Array(n) }, {
    format: CHECKPOINT_FORMAT, step: 3, seed: 0, settings: {}, source: { entry: c.entry, files: c.files }, set: GPT2_FIXTURE, base: null, valLoss: null,
  });
  if (ranks) Object.assign(ck.tensors, ranks.tensors());
  await writeCheckpointDir(dir, ck, adapterTensors(buildTrainingGraph(c.graph), store));
}

/** The exported folder as `peftc import --emit-peft` reads it: its .peft, and the imported values. */
async function readBack(out: string, seed: number): Promise<{ graph: Graph; store: ParamStore; text: string }> {
  const folders = await readAdapterFolders(out);
  const base = compilePeft('import "gpt2.peft"\n', GPT2_FIXTURE, true);
  const text = emitPeft(folders, base.graph, hfNameMap(base.graph), 'gpt2.peft', 'read back');
  const model = compilePeft(text, GPT2_FIXTURE, true);
  const store = randomStore(model.graph, seed); // the same base weights (per-path streams), adapter replaced below
  for (const [path, v] of importAdapters(model.graph, hfNameMap(model.graph), folders)) store.trainable.view(path).set(v);
  return { graph: model.graph, store, text };
}

describe('exporting selected ranks as LoRA', () => {
  const tmp = tempDir();

  it('AdaLoRA: the kept triplets with E folded into A, final ranks as rank_pattern, the same logits', async () => {
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4), alpha = 6) on "c_attn", "c_fc" }', GPT2_FIXTURE);
    const store = randomStore(c.graph, 1);
    const ranks = new RankController(c.graph, { totalSteps: 10 });
    // Allocation as training would leave it: some triplets masked, their E zero.
    const masks: Record<string, number[]> = { 'h.0.attn.c_attn': [1, 0, 1, 1], 'h.0.mlp.c_fc': [0, 0, 1, 0], 'h.1.attn.c_attn': [1, 1, 0, 1], 'h.1.mlp.c_fc': [0, 0, 0, 0] };
    for (const [m, mask] of Object.entries(masks)) {
      const file = { tensors: new Map([[`rank.mask.${m}`, { dtype: 'F32', shape: [4], data: Float32Array.from(mask) }]]) } as never;
      ranks.restore(file);
    }
    ranks.zeroMasked(store);
    expect([...ranks.ranks().values()]).toEqual([3, 1, 3, 0]);
    const ck = join(tmp, 'ada');
    await checkpoint(ck, c, store, ranks);
    const out = join(tmp, 'ada-hf');
    const res = await exportCheckpoint(ck, out, { adalora: 'lora' }); // --adalora-as-lora
    const part = res.plan.parts[0]!;
    expect(part.config.peft_type).toBe('LORA');
    expect(part.config.r).toBe(3);
    expect(part.config.rank_pattern).toEqual({ 'h.0.mlp.c_fc': 1 });
    // alpha/r = 6/4 for every module: alpha' = 1.5·r'.
    expect(part.config.lora_alpha).toBe(4.5);
    expect(part.config.alpha_pattern).toEqual({ 'h.0.mlp.c_fc': 1.5 });
    expect(part.notes.join()).toMatch(/h.1.mlp.c_fc: rank = auto\(…\) kept none/);
    expect(part.entries.map((e) => [e.key.replace('base_model.model.transformer.', ''), e.shape])).toEqual([
      ['h.0.attn.c_attn.lora_A.weight', [3, 32]],
      ['h.0.attn.c_attn.lora_B.weight', [96, 3]],
      ['h.0.mlp.c_fc.lora_A.weight', [1, 32]],
      ['h.0.mlp.c_fc.lora_B.weight', [128, 1]],
      ['h.1.attn.c_attn.lora_A.weight', [3, 32]],
      ['h.1.attn.c_attn.lora_B.weight', [96, 3]],
    ]);
    const back = await readBack(out, 1);
    expect(back.text).toMatch(/lora\(rank = 3, alpha = 4\.5\) on "c_attn", "h\.0\.mlp\.c_fc"/);
    expect(back.text).toMatch(/override "h\.0\.mlp\.c_fc" \(rank = 1, alpha = 1\.5\)/);
    const want = logits(c.graph, store, ranks.evalInputs());
    const got = logits(back.graph, back.store);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    // (and the adapter matters: without it the logits differ)
    const bare = randomStore(c.graph, 1);
    bare.trainable.data.fill(0);
    const plain = logits(c.graph, bare);
    expect(Math.max(...want.map((v, i) => Math.abs(v - plain[i]!)))).toBeGreaterThan(1e-3);
  });

  it('DyLoRA: `--rank n` exports the first n ranks with alpha, the logits of the model at rank n', async () => {
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = dynamic(max = 4), alpha = 8) on "c_attn" }', GPT2_FIXTURE);
    const store = randomStore(c.graph, 2);
    const ck = join(tmp, 'dy');
    await checkpoint(ck, c, store);
    for (const n of [2, 4]) {
      const out = join(tmp, `dy-hf-${n}`);
      const res = await exportCheckpoint(ck, out, { rank: n });
      expect([res.plan.parts[0]!.config.r, res.plan.parts[0]!.config.lora_alpha]).toEqual([n, 8]);
      const back = await readBack(out, 2);
      const ranks = new RankController(c.graph, { evalRank: n });
      const want = logits(c.graph, store, ranks.evalInputs());
      logits(back.graph, back.store).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    }
    await expect(exportCheckpoint(ck, join(tmp, 'dy-bad'), { rank: 5 })).rejects.toThrow(/--rank must be an integer from 1 to 4/);
    const cfg = JSON.parse(readFileSync(join(tmp, 'dy-hf-2', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.rank_pattern).toEqual({});
  });

  it('a "[P:n] {text}" template exports as PROMPT_TUNING and imports back into prompt_embeddings.0', async () => {
    const text = 'import "gpt2.peft"\npeft { prompt(template = "[P:3] {text}") on "wte" }';
    const ck = join(tmp, 'tpl');
    const { adapter } = await makeCheckpoint(ck, text, GPT2_FIXTURE);
    const out = join(tmp, 'tpl-hf');
    const res = await exportCheckpoint(ck, out, {});
    expect([res.plan.parts[0]!.config.peft_type, res.plan.parts[0]!.config.num_virtual_tokens]).toEqual(['PROMPT_TUNING', 3]);
    const model = compilePeft(text, GPT2_FIXTURE, true);
    const values = importAdapters(model.graph, hfNameMap(model.graph), await readAdapterFolders(out));
    expect([...values.keys()]).toEqual(['prompt_embeddings.0']);
    expect(values.get('prompt_embeddings.0')).toEqual(adapter['prompt_embeddings.0']!.data);
  });

  it('refuses to import a fixed-rank adapter into a .peft that selects ranks', async () => {
    const folders = await readAdapterFolders(join(tmp, 'dy-hf-2'));
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = dynamic(max = 4), alpha = 8) on "c_attn" }', GPT2_FIXTURE, true);
    expect(() => importAdapters(c.graph, hfNameMap(c.graph), folders)).toThrow(/selects LoRA ranks .*rank = dynamic\(…\).*peftc import --emit-peft/);
  });
});
