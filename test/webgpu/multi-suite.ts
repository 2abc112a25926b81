// Several adapters in one batch on WebGPU (the bank graph of runtime/multi/set.ts through
// runtime/webgpu/executor.ts) against the CPU reference, registered once per software adapter by
// multi-swiftshader.test.ts and multi-llvmpipe.test.ts. A missing adapter fails, never skips.
//   logits     max |gpu − cpu| ≤ 1e-5 · (1 + max |cpu|), as plan-suite.ts
//   gradients  of every stacked tensor (training the bank: each adapter on its own sequences),
//              max |gpu − cpu| ≤ 5e-5 · max |cpu| + 1e-6 · G, as plan-suite.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { ADAPTER_IDS } from '../../compiler/multi/bank.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { AdapterSet, servingGraph } from '../../runtime/multi/set.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { adapterOf, randomTokens, tinyBase } from '../multi/helpers.ts';

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function multiSuite(software: SoftwareGpu): void {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await openNodeGpu({ gpu: software });
  });
  afterAll(() => {
    if (gpu && !gpu.isLost) gpu.destroy();
  });

  const base = tinyBase();
  const adapters = [
    adapterOf('a', 'lora(rank = 4, alpha = 8) on "c_attn"', 11),
    adapterOf('b', 'lora(rank = 2, alpha = 2) on "c_attn", "c_proj"', 12),
    adapterOf('c', 'adapter(bottleneck = 4) on "h.*.mlp"\n lora(rank = 2) on "c_fc"', 13),
    adapterOf('d', 'adapter(bottleneck = 3, activation = gelu, placement = parallel, scale = 0.5) on "h.*.attn"', 14),
  ];
  const set = AdapterSet.create(base, adapters);
  const use = ['a', null, 'b', 'c', 'd', 'a'];
  const T = 6;
  const tokens = randomTokens(use.length, T, 32, 8);
  const ids = use.map((n) => (n === null ? -1 : adapters.findIndex((a) => a.name === n)));

  describe(`${software}: several adapters in one batch`, () => {
    it('gives the CPU reference\'s logits for a batch mixing four adapters and the base', async () => {
      const g = set.graphOf(null);
      const exec = await createExecutor(gpu, servingGraph(g), { B: use.length, T }, { store: set.bankStore, plan: { backward: false } });
      const batch = set.batchFor(g, tokens, ids);
      const r = await exec.run(batch, { training: false, step: 0, backward: false, read: { logits: true } });
      const want = set.logits(tokens, use);
      expect(r.logits!.shape).toEqual([use.length, T, 32]);
      expect(maxDiff(r.logits!.data, want.data)).toBeLessThanOrEqual(1e-5 * (1 + maxAbs(want.data)));
      // The plan's memory: the base in the frozen arena, the bank in the second one.
      const baseBytes = exec.plan.stats.frozenBytes;
      expect(exec.plan.stats.trainableBytes).toBeGreaterThan(0);
      expect(exec.plan.stats.gradBytes).toBe(0);
      const one = AdapterSet.create(base, [adapters[0]!]);
      const exec1 = await createExecutor(gpu, servingGraph(one.graphOf(null)), { B: 1, T }, { store: one.bankStore, plan: { backward: false } });
      expect(exec1.plan.stats.frozenBytes).toBe(baseBytes);
      expect(exec1.plan.stats.trainableBytes).toBeLessThan(exec.plan.stats.trainableBytes);
      exec.destroy();
      exec1.destroy();
    });

    it('trains the bank: the gradient of every stacked tensor as the CPU computes it', async () => {
      const t = buildTrainingGraph(set.graphOf(null));
      expect(t.grads.length).toBe(set.bankStore.trainable.slots.length);
      const batch = { tokens, targets: lmTargets(tokens), extra: { [ADAPTER_IDS]: { shape: [use.length], data: Int32Array.from(ids) } } };
      const cpu = new CpuExecutor(t).run(set.bankStore, batch, { precision: 'f32', training: false, step: 0 });
      const exec = await createExecutor(gpu, t, { B: use.length, T }, { store: set.bankStore });
      const r = await exec.run(batch, { training: false, step: 0 });
      expect(Math.abs(r.loss - cpu.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(cpu.loss));
      const G = Math.max(...[...cpu.grads.values()].map((x) => maxAbs(x.data)));
      for (const [path, want] of cpu.grads) {
        const got = r.grads.get(path)!;
        expect(maxDiff(got.data, want.data), path).toBeLessThanOrEqual(5e-5 * maxAbs(want.data) + 1e-6 * G);
      }
      exec.destroy();
    });
  });
}
