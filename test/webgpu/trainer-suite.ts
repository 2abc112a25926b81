// The training loop on the WebGPU backend against the CPU backend: the same losses step by
// step, the same validation loss, and parameters synced back to the host that agree.
// Tolerances: loss 1e-5 relative per step; parameters 5e-3·lr·steps absolute (Adam turns
// rounding noise in near-zero gradients into steps of up to lr).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { float32ToHalf, halfToFloat32 } from '../../runtime/io/half.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { train, validate, type BatchSource } from '../../runtime/trainer.ts';
import { WebGpuBackend } from '../../runtime/webgpu/backend.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { graphOf, tinySet } from '../helpers.ts';

const opt = { kind: 'adamw' as const, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0, clipNorm: 1 };
const schedule = { kind: 'cosine' as const, lr: 1e-2, warmup: 1, total: 6 };

function source(g: Graph): BatchSource {
  const rng = new Random(11);
  const make = (r: Random) => {
    const tokens = { shape: [2, 8], data: Int32Array.from({ length: 16 }, () => r.int(32)) };
    return { tokens, targets: lmTargets(tokens, g.promptLength) };
  };
  const val = [make(new Random(12)), make(new Random(13))];
  return { next: () => make(rng), validation: () => val, tokensPerBatch: 16 };
}

export function trainerSuite(software: SoftwareGpu): void {
  describe(`training loop on WebGPU (${software}) vs the CPU`, () => {
    let gpu: Gpu;
    beforeAll(async () => {
      gpu = await openNodeGpu({ gpu: software });
    });
    afterAll(() => gpu?.destroy());

    it.each(['gpt2-lora.peft', 'gpt2-prefix.peft', 'llama-lora.peft'])('%s', async (file) => {
      const g = graphOf(file, tinySet(file));
      const t = buildTrainingGraph(g, opt);
      const stores = [createStore(g, 'f32'), createStore(g, 'f32')] as const;
      for (const s of stores) initParams(g, s, { seed: 2 });
      const cpu = new CpuBackend(t, stores[0]);
      const web = new WebGpuBackend(gpu, t, stores[1]);
      const a = await train(cpu, source(g), { steps: 6, schedule, evalEvery: 0 });
      const b = await train(web, source(g), { steps: 6, schedule, evalEvery: 0 });
      a.losses.forEach((l, i) => expect(Math.abs(b.losses[i]! - l) / l).toBeLessThan(1e-5));
      expect(Math.abs(b.valLoss! - a.valLoss!) / a.valLoss!).toBeLessThan(1e-5);
      await web.sync();
      expect(web.optimizer.step).toBe(6);
      let worst = 0;
      stores[0].trainable.data.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - stores[1].trainable.data[i]!))));
      expect(worst).toBeLessThan(5e-3 * 1e-2 * 6);
      // A batch of another shape (generation) is evaluated on the CPU over the synced parameters.
      const one = { tokens: { shape: [1, 3], data: Int32Array.of(1, 2, 3) }, targets: lmTargets({ shape: [1, 3], data: Int32Array.of(1, 2, 3) }, g.promptLength) };
      expect((await web.evaluate(one)).loss).toBeCloseTo((await cpu.evaluate(one)).loss, 3);
      expect(await validate(web, source(g).validation())).toBeCloseTo(b.valLoss!, 6);
    });

    it('frozen weights in f16 (--frozen-dtype f16): the CPU on f16-rounded weights takes the same steps, and the host store holds those weights', async () => {
      const g = graphOf('gpt2-lora.peft', tinySet('gpt2-lora.peft'));
      const t = buildTrainingGraph(g, opt);
      const stores = [createStore(g, 'f32'), createStore(g, 'f32')] as const;
      for (const s of stores) initParams(g, s, { seed: 2 });
      const web = new WebGpuBackend(gpu, t, stores[1], { frozenF16: true });
      const b = await train(web, source(g), { steps: 6, schedule, evalEvery: 0 });
      // the backend rounded the host's copy of the weights it stores in f16: the CPU uses those
      const rounded = ['wte.weight', 'h.0.attn.c_attn.weight', 'h.1.mlp.c_fc.weight'];
      for (const p of rounded) {
        const v = stores[1].frozen.view(p);
        expect(Array.from(halfToFloat32(float32ToHalf(Float32Array.from(v), 'F16'), 'F16'))).toEqual(Array.from(v));
        expect(Array.from(v)).not.toEqual(Array.from(stores[0].frozen.view(p)));
      }
      stores[0].frozen.data.set(stores[1].frozen.data);
      const a = await train(new CpuBackend(t, stores[0]), source(g), { steps: 6, schedule, evalEvery: 0 });
      a.losses.forEach((l, i) => expect(Math.abs(b.losses[i]! - l) / l).toBeLessThan(1e-5));
    });
  });
}
