// Activation recomputation on WebGPU (llvmpipe): a plan made with recompute = blocks gives the
// CPU reference's loss and gradients (without recomputation), dropout's masks included, and its
// activation pool is smaller. Tolerances are plan-suite.ts's (TOL: loss 1e-5 relative; each
// gradient within 5e-5 of its tensor's largest value plus 1e-6 of the model's largest gradient).
// A missing adapter fails, never skips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import { setup } from './plan-suite.ts';
import { TOL, expectGrads } from './compare.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await openNodeGpu({ gpu: 'llvmpipe' });
});
afterAll(() => {
  if (gpu && !gpu.isLost) gpu.destroy();
});

describe('llvmpipe: recompute = blocks', () => {
  it.each([
    ['gpt2-lora.peft', ['resid_pdrop=0.1,attn_pdrop=0.1,embd_pdrop=0.1']],
    ['llama-lora.peft', []],
  ])('%s: loss and gradients equal the CPU without recomputation (training mode, dropout on), with a smaller pool', async (file, extra) => {
    const { g, t, store, batch } = setup(file, 1, extra);
    const cpu = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: true, step: 3 });
    const rt = buildTrainingGraph(g, undefined, 'blocks');
    const exec = await createExecutor(gpu, rt, { B: 2, T: 6 }, { store });
    const plain = await createExecutor(gpu, t, { B: 2, T: 6 }, { store });
    try {
      const res = await exec.run(batch, { training: true, step: 3 });
      expect(Math.abs(res.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(cpu.loss));
      expectGrads(res.grads, cpu.grads);
      expect(exec.plan.stats.activationPeakBytes).toBeLessThan(plain.plan.stats.activationPeakBytes);
      expect(exec.plan.steps.some((s) => s.phase === 'backward' && s.label.includes('↻'))).toBe(true);
    } finally {
      exec.destroy();
      plain.destroy();
    }
  });
});
