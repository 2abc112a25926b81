// The playground's Train with the frozen base in int8 or nf4 (its "frozen base" choice): the
// page makes in memory what `peftc build --frozen-dtype` writes (quantized plans, codes and scales
// in weights.safetensors, the loss over chunks of rows) and runs it with the built trainer's
// runtime. In-process on llvmpipe, without a browser: the page's Train itself is
// test/playground/playground.test.ts's; the runtime's numbers are test/build/'s.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../runtime/io/safetensors.ts';
import { parseTrainerFiles } from '../../runtime/standalone/files.ts';
import { BuiltTrainer, runTraining } from '../../runtime/standalone/trainer.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { trainerFiles, type PageRun } from '../../playground/trainer.ts';
import { EXAMPLES, graphOf } from '../helpers.ts';

const g = graphOf('tiny-gpt-lora.peft');
const program = { entry: 'examples/tiny-gpt-lora.peft', sources: { 'examples/tiny-gpt-lora.peft': readFileSync(join(EXAMPLES, 'tiny-gpt-lora.peft'), 'utf8') } };
const base = { name: 'examples/tiny-gpt.safetensors', bytes: new Uint8Array(readFileSync(join(EXAMPLES, 'tiny-gpt.safetensors'))) };
const text = Array.from({ length: 80 }, (_, i) => `Line ${i}: we the people, in order to form a more perfect union, establish justice.`).join('\n');
const run = (frozen: PageRun['frozen']): PageRun => ({ steps: 2, batch: 2, seq: 32, lr: 3e-3, seed: 0, frozen });

let gpu: Gpu;
beforeAll(async () => {
  gpu = await openNodeGpu({ gpu: 'llvmpipe' });
});
afterAll(() => gpu?.destroy());

describe('the playground trains on a quantized base', () => {
  it('nf4: quantized plans and weights, which a built trainer accepts as its own files', () => {
    const files = trainerFiles(g, program, base, run('nf4'), gpu);
    expect(files.manifest.model.frozenDtype).toBe('nf4');
    const kind = gpu.info.isSoftware ? 'software' : 'hardware';
    const plans = files.plans[kind]!;
    const nf4 = plans.train.frozen.slots.filter((s) => s.dtype === 'nf4').map((s) => s.path);
    expect(nf4).toContain('wte.weight');
    expect(plans.train.stats.lossChunk).toBeDefined();
    const weights = parseSafetensors(files.weights);
    expect(weights.metadata?.['peftc.quantization']).toBe('nf4');
    for (const p of nf4) expect(weights.tensors.has(`${p}.qcodes`), p).toBe(true);
    // The same files as `peftc build` writes: the trainer's checks take them.
    expect(() => parseTrainerFiles({ manifest: JSON.stringify(files.manifest), plan: JSON.stringify(files.plans), weights: files.weights })).not.toThrow();
  });

  it('int8 and nf4 runs train from a base near the f32 one, not the same', async () => {
    const before: Record<string, number> = {};
    for (const frozen of ['f32', 'int8', 'nf4'] as const) {
      const trainer = await BuiltTrainer.open(gpu, trainerFiles(g, program, base, run(frozen), gpu));
      try {
        const res = await runTraining(trainer, { data: { name: 'text', format: 'text', text }, steps: 2, lr: 3e-3, seed: 0 });
        expect(res.end, frozen).toBe('done');
        expect(res.losses.every(Number.isFinite), frozen).toBe(true);
        before[frozen] = res.before;
      } finally {
        trainer.destroy();
      }
    }
    console.log(`validation loss before training: f32 ${before.f32}, int8 ${before.int8}, nf4 ${before.nf4}`);
    for (const q of ['int8', 'nf4']) {
      expect(before[q], q).not.toBe(before.f32);
      // docs/quantization.md: nf4 costs the tiny base about 4 % of its validation loss, int8 far less
      expect(Math.abs(before[q]! - before.f32!) / before.f32!, q).toBeLessThan(q === 'nf4' ? 0.1 : 0.01);
    }
  });
});
