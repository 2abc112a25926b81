// The loss over chunks of rows (compiler/lower/chunked-loss.ts) on a software adapter: a training
// plan made with a small lossChunkBytes (several chunks of 64 rows and a shorter last one) gives
// the CPU reference's loss and gradients, and the whole-logits plan's, within plan-suite.ts's
// tolerances; for LoRA with recomputation and dropout on, full fine-tunes (the head's weight
// gradient accumulated over the chunks, tied to the embedding in GPT-2, apart in LLaMA), f16 and
// nf4 heads. It holds no whole logits (reading them is refused in one line), the whole-logits plan
// of the same graph still returns them, and its activation pool is smaller. The f16 and nf4 heads
// are compared with the whole-logits plan of the same weights. A missing adapter fails, never
// skips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanOptions } from '../../compiler/lower/plan.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { batchFor, setup } from './plan-suite.ts';
import { TOL, expectGrads } from './compare.ts';

/** B × T = 150 rows: chunks of 64, 64 and 22 with the budget of one 64-row chunk. */
const B = 3;
const T = 50;
const V = 200;
const BUDGET = 8 * 64 * V;

export function chunkedLossSuite(software: SoftwareGpu): void {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await openNodeGpu({ gpu: software });
  });
  afterAll(() => {
    if (gpu && !gpu.isLost) gpu.destroy();
  });

  describe(`${software}: the loss over chunks of rows`, () => {
    it.each([
      ['gpt2-lora.peft', 'blocks', ['resid_pdrop=0.1,attn_pdrop=0.1,embd_pdrop=0.1'], {}],
      ['gpt2.peft', 'none', [], {}],
      ['llama.peft', 'none', [], {}],
      ['llama-lora.peft', 'blocks', [], { frozenF16: true }],
      ['llama-lora.peft', 'none', [], { frozenQuant: 'nf4' }],
    ] as const)('%s (recompute %s, set %j, plan %j): loss and gradients equal the CPU reference and the whole-logits plan', async (file, recompute, extra, frozen: PlanOptions) => {
      const { g, store } = setup(file, 1, [`vocab_size=${V}`, ...extra]);
      const batch = batchFor(g, new Random(5), B, T);
      const t = buildTrainingGraph(g, undefined, recompute);
      const exec = await createExecutor(gpu, t, { B, T }, { store, plan: { lossChunkBytes: BUDGET, ...frozen } });
      const whole = await createExecutor(gpu, t, { B, T }, { store, plan: frozen });
      try {
        expect(exec.plan.stats.lossChunk).toEqual({ rows: 64, chunks: 3, vocab: V });
        expect(exec.plan.io.logits).toBeUndefined();
        // The head's weight is held as asked: the chunks read it through the f16 or nf4 reader.
        if (frozen.frozenF16 || frozen.frozenQuant) expect(exec.plan.frozen.slots.find((x) => x.path === 'lm_head.weight')!.dtype).toBe(frozen.frozenQuant ?? 'f16');
        expect(exec.plan.stats.activationPeakBytes).toBeLessThan(whole.plan.stats.activationPeakBytes);
        const res = await exec.run(batch, { training: true, step: 3 });
        const ref = await whole.run(batch, { training: true, step: 3 });
        expect(res.logits).toBeUndefined();
        expect(ref.logits!.shape).toEqual([B, T, V]);
        expect(Math.abs(res.loss - ref.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(ref.loss));
        expectGrads(res.grads, ref.grads);
        // The CPU reference runs the f32 weights: compared where the GPU holds them so.
        if (!frozen.frozenF16 && !frozen.frozenQuant) {
          const cpu = new CpuExecutor(buildTrainingGraph(g)).run(store, batch, { precision: 'f32', training: true, step: 3 });
          expect(Math.abs(res.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(cpu.loss));
          expectGrads(res.grads, cpu.grads);
        }
        await expect(exec.run(batch, { training: false, step: 0, backward: false, read: { logits: true } })).rejects.toThrow(/over chunks of rows.*no whole logits/);
      } finally {
        exec.destroy();
        whole.destroy();
      }
    });
  });
}
