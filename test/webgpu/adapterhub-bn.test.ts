// AdapterHub's bottleneck configs on both software WebGPU adapters against the PyTorch reference
// (test/fixtures/adapterhub-bn-tiny; the CPU runs are test/core/adapterhub-reference.test.ts):
// loss, logits and every adapter weight's gradient of the training plan, tolerances as
// bert-reference.test.ts on llvmpipe (5e-5 on logits and gradients: float32 kernels). Each adapter
// runs every preset and both models, half of the eight cases each, to keep the file short.
import { afterAll, describe, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import { bnBatch, bnGraph, bnStore, expectMatches } from '../core/adapterhub-fixture.ts';

const SPLIT = {
  llvmpipe: ['gpt2-seq_bn', 'gpt2-par_bn', 'bert-double_seq_bn', 'bert-flags'],
  swiftshader: ['gpt2-double_seq_bn', 'gpt2-flags', 'bert-seq_bn', 'bert-par_bn'],
} as const;

describe('AdapterHub bottleneck configs on WebGPU against PyTorch', () => {
  for (const adapter of ['llvmpipe', 'swiftshader'] as const) {
    describe(`on ${adapter}`, () => {
      let gpu: Gpu | undefined;
      afterAll(() => gpu?.destroy());
      it.each(SPLIT[adapter])('%s', async (c) => {
        gpu ??= await openNodeGpu({ gpu: adapter });
        const g = bnGraph(c);
        const t = buildTrainingGraph(g);
        const { batch } = bnBatch(c, g);
        const exec = await createExecutor(gpu, t, { B: batch.tokens.shape[0]!, T: batch.tokens.shape[1]! }, { store: bnStore(c, g, 'f32') });
        const res = await exec.run(batch, { training: false, step: 0 });
        expectMatches(c, { loss: res.loss, logits: res.logits!.data, grads: new Map([...res.grads].map(([k, v]) => [k, v.data])) }, 1e-5, 5e-5, 5e-5);
      }, 60_000);
    });
  }
});
