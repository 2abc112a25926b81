// A new length does not recompile the kernels whose sizes are open (docs/webgpu-runtime.md,
// "Sizes: baked and open"): matmuls whose rows are the batch's, the software norm rows, the
// software attention forward and query gradient, dropout (and its seed), kv_attention's kernels. On llvmpipe, tiny models:
// a plan for another batch and length in the same process creates pipelines only for the kernels
// that still bake a length, and its loss and gradients equal the CPU reference (the plan suite's
// tolerances).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { decodeGraphs } from '../../compiler/decode/graph.ts';
import { buildPlan, type Plan } from '../../compiler/lower/plan.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { lmTargets } from '../../runtime/targets.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import { graphOf, tinySet } from '../helpers.ts';
import { TOL, expectGrads } from './compare.ts';

let gpu: Gpu;
/** Every source compiled in this process so far (the Gpu caches pipelines by source). */
const compiled = new Set<string>();
beforeAll(async () => {
  gpu = await openNodeGpu({ gpu: 'llvmpipe' });
}, 60_000);
afterAll(() => gpu?.destroy());

/** The sources of a plan's shaders that some step dispatches with open sizes. */
const openSources = (p: Plan): Set<string> => new Set(p.steps.flatMap((s) => (s.kind === 'dispatch' && s.sizes ? [p.shaders[s.shader]!.wgsl] : [])));

const batchOf = (B: number, T: number, seed: number) => {
  const rng = new Random(seed);
  const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(32)) };
  return { tokens, targets: lmTargets(tokens) };
};

describe('open sizes on llvmpipe', () => {
  for (const name of ['gpt2-lora.peft', 'llama-lora.peft']) {
    it(`${name}: a second batch and length reuses the open kernels' pipelines, with the CPU's numbers`, async () => {
      const g = graphOf(name, [...tinySet(name), ...(name.startsWith('gpt2') ? ['resid_pdrop=0,attn_pdrop=0,embd_pdrop=0'] : [])]);
      const t = buildTrainingGraph(g);
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 0 });
      const first = await createExecutor(gpu, t, { B: 2, T: 16 }, { store });
      await first.run(batchOf(2, 16, 1), { training: false, step: 0 });
      const seen = new Set(first.plan.shaders.map((s) => s.wgsl));
      for (const w of seen) compiled.add(w);

      const before = gpu.compiled.count;
      const second = await createExecutor(gpu, t, { B: 3, T: 8 }, { params: first });
      const batch = batchOf(3, 8, 2);
      const got = await second.run(batch, { training: false, step: 0 });
      const plan = second.plan;
      const open = openSources(plan);
      const labels = plan.shaders.filter((s) => open.has(s.wgsl)).map((s) => s.label);
      // Every kind of open kernel is there, and none of them was compiled again.
      expect(labels.some((l) => l.startsWith('matmul_regblock_N') && l.includes('_Mx'))).toBe(true);
      expect(labels.some((l) => /^(layernorm|rmsnorm)_row_R/.test(l))).toBe(true);
      expect(labels.some((l) => l.startsWith('attention+lse_BxS'))).toBe(true);
      expect(labels.some((l) => l.startsWith('attention_grad_q_BxS'))).toBe(true);
      expect([...open].filter((w) => !seen.has(w)).length).toBe(0);
      const fresh = new Set(plan.shaders.map((s) => s.wgsl).filter((w) => !compiled.has(w)));
      expect(gpu.compiled.count - before).toBe(fresh.size);
      for (const w of fresh) compiled.add(w);
      expect(fresh.size).toBeLessThan(plan.shaders.length - open.size + 1);

      const want = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0 });
      expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(want.loss));
      expectGrads(got.grads, want.grads);
      second.destroy();
      first.destroy();
    }, 240_000);
  }

  it('the layers share one dropout shader: each layer\'s seed is in the sizes, not in the source', () => {
    const g = graphOf('gpt2-lora.peft', [...tinySet('gpt2-lora.peft'), 'n_layer=4,resid_pdrop=0.1']);
    const plan = buildPlan(buildTrainingGraph(g), { B: 2, T: 8 }, wgslBackend(gpu.info), { dropout: 'train' });
    const steps = plan.steps.filter((s) => s.kind === 'dispatch' && plan.shaders[s.shader]!.label.startsWith('dropout_'));
    const seeds = new Set(steps.map((s) => (s.kind === 'dispatch' ? s.sizes![1] : -1)));
    expect(seeds.size).toBeGreaterThanOrEqual(4);
    expect(new Set(steps.map((s) => (s.kind === 'dispatch' ? s.shader : -1))).size).toBe(1);
  });

  it('the prefill plans of two length buckets share every kv_attention, matmul and norm shader', () => {
    const g = graphOf('gpt2-lora.peft', tinySet('gpt2-lora.peft'));
    const d = decodeGraphs(g);
    const t = { graph: d.prefill, forwardEnd: d.prefill.nodes.length, grads: [], optimizer: buildTrainingGraph(g).optimizer };
    const plan = (B: number, T: number) => buildPlan(t, { B, T }, wgslBackend(gpu.info), { backward: false, dropout: 'eval', kvCache: { rows: 5, positions: 64 } });
    const [a, b] = [plan(1, 8), plan(4, 32)];
    const seen = new Set(a.shaders.map((s) => s.wgsl));
    const open = openSources(b);
    const labels = b.shaders.filter((s) => open.has(s.wgsl)).map((s) => s.label);
    expect(labels).toEqual(expect.arrayContaining(['kv_append', 'kv_attend']));
    expect(labels.some((l) => l.includes('_Mx'))).toBe(true);
    expect(labels.some((l) => l.startsWith('layernorm_row_R'))).toBe(true);
    expect([...open].filter((w) => !seen.has(w))).toEqual([]);
  });
});
