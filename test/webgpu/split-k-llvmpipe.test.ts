// Split-K in the training plan the trainer makes (the loss over chunks of rows, whose head input
// gradient dlogits·W has K = V): on llvmpipe a vocabulary of 8,200 (≥ LONG_K.from) puts each
// chunk's product into slices of 2048 along K, added into dh in turn; the loss and gradients still
// equal the CPU reference's. A missing adapter fails, never skips.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import { LONG_K } from '../../codegen/wgsl/matmul/index.ts';
import { batchFor, setup } from './plan-suite.ts';
import { TOL, expectGrads } from './compare.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await openNodeGpu({ gpu: 'llvmpipe' });
});
afterAll(() => {
  if (gpu && !gpu.isLost) gpu.destroy();
});

it('gpt2 (full fine-tune, V = 8200, 2 chunks of 64 rows): the head input gradient in split-K slices, loss and gradients equal the CPU', async () => {
  const V = 8200;
  const [B, T] = [2, 64];
  const { g, store } = setup('gpt2.peft', 1, [`vocab_size=${V}`]);
  const batch = batchFor(g, new Random(5), B, T);
  const t = buildTrainingGraph(g);
  const exec = await createExecutor(gpu, t, { B, T }, { store, plan: { lossChunkBytes: 8 * 64 * V } });
  try {
    expect(exec.plan.stats.lossChunk).toEqual({ rows: 64, chunks: 2, vocab: V });
    const slices = Math.ceil(V / LONG_K.slice);
    // each chunk's dh rows: K = V in slices of 2048
    const dh = exec.plan.steps.filter((x) => /lm_head ∂linear\).*\[piece \d+\/\d+\]$/.test(x.label));
    expect(dh.length).toBe(2 * slices);
    expect(dh.every((x) => x.label.endsWith(`/${slices}]`))).toBe(true);
    const res = await exec.run(batch, { training: true, step: 1 });
    const cpu = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: true, step: 1 });
    expect(Math.abs(res.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(cpu.loss));
    expectGrads(res.grads, cpu.grads);
  } finally {
    exec.destroy();
  }
}, 120_000);
