// A quantized frozen base (--frozen-dtype int8|nf4|nf4dq) on WebGPU against the CPU reference on the
// same quantized base, registered once per software adapter by quant-llvmpipe.test.ts and
// quant-swiftshader.test.ts (Dawn allows one instance of each kind per process). A missing
// adapter fails: it is never a skip. The check at GPT-2 small's width runs on llvmpipe only.
//
// The GPU gets the f32 base and quantizes it at upload (its frozen arena holds only codes and
// scales, dequantized inside the matmul and embedding kernels); the CPU computes with the values
// runtime/quantize-store.ts gave the same base. The tolerances are plan-suite.ts's f32 ones
// (TOL: loss 1e-5 relative, logits 1e-5 · (1 + max |cpu|), every gradient 5e-5 of its tensor's
// largest + 1e-6 of the model's largest): both sides compute with exactly the same weights, so
// only the order of the f32 sums differs. Each case also checks that the comparison sees the
// quantization: the GPU's logits are at least 10× closer to the quantized base's than to the
// f32 base's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import type { MatmulSpec } from '../../compiler/lower/matmul-spec.ts';
import { packQuantized, slotBytes } from '../../compiler/quant/slot.ts';
import { quantizableWeights } from '../../compiler/quant/select.ts';
import { dequantizeWeight, quantizeWeight, type QuantDtype } from '../../compiler/quant/weight.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { quantizeFrozen } from '../../runtime/quantize-store.ts';
import { WebGpuBackend } from '../../runtime/webgpu/backend.ts';
import type { GpuExecutor } from '../../runtime/webgpu/executor.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { prepareMatmul } from '../../runtime/webgpu/matmul.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import { graphOf, tinySet } from '../helpers.ts';
import { matmulTolerance } from './gpu-suite.ts';
import { batchFor } from './plan-suite.ts';
import { TOL, expectGrads, maxAbs, maxDiff } from './compare.ts';
import { matmulCpu, maxScaledError, randomArray } from './reference.ts';

/** A model with its base initialised and its trainable tensors perturbed (no gradient vanishes). */
function model(file: string, set: string[], seed = 4): { g: Graph; t: TrainingGraph; store: ParamStore } {
  const g = graphOf(file, set);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed });
  const rng = new Random(seed + 5);
  for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.05);
  return { g, t: buildTrainingGraph(g), store };
}

function copyStore(g: Graph, s: ParamStore): ParamStore {
  const r = createStore(g, 'f32');
  r.frozen.data.set(s.frozen.data);
  r.trainable.data.set(s.trainable.data);
  return r;
}

/**
 * The plan holds every matrix the CPU quantizes as codes and scales and nothing else for it: no
 * f32 copy of a quantized weight in any buffer, and only matmul and embedding kernels read them.
 */
function expectCompactArena(exec: GpuExecutor, g: Graph, dtype: QuantDtype): void {
  const plan = exec.plan;
  const want = quantizableWeights(g);
  const slots = plan.frozen.slots.filter((s) => s.dtype === dtype);
  expect(new Set(slots.map((s) => s.path))).toEqual(new Set(want.keys()));
  for (const s of slots) expect(s.bytes).toBe(slotBytes({ dtype, layout: want.get(s.path)!, rows: s.shape[0]!, cols: s.shape[1]! }));
  const values = plan.frozen.slots.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  // nf4dq as nf4, plus its header (offset, -0.0 and the 256-entry map: 1,032 bytes) per matrix
  const header = dtype === 'nf4dq' ? 1032 * slots.length : 0;
  expect(plan.stats.frozenBytes).toBeLessThan((dtype === 'int8' ? 0.55 : 0.4) * 4 * values + header);
  const frozenBuffer = plan.ids.frozen;
  const inSlot = (r: { buffer: number; offset: number }) => r.buffer === frozenBuffer && slots.some((s) => r.offset >= s.offset && r.offset < s.offset + s.bytes);
  for (const step of plan.steps) {
    if (step.kind !== 'dispatch') continue;
    if (step.bindings.some(inSlot)) expect(plan.shaders[step.shader]!.label, step.label).toMatch(new RegExp(`^(matmul_.*_${dtype}|embedding_.*_${dtype})`));
  }
  // the frozen arena is the only persistent buffer the size of the frozen weights
  expect(plan.buffers.filter((b) => b.kind === 'frozen').reduce((a, b) => a + b.bytes, 0)).toBe(plan.frozen.bytes);
}

/** One forward and backward on the GPU (from the f32 base) and the CPU (on the quantized base). */
async function compare(gpu: Gpu, file: string, set: string[], dtype: QuantDtype, dims: { B: number; T: number }, caps = gpu.info): Promise<GpuExecutor> {
  const { g, t, store } = model(file, set);
  const batch: Batch = batchFor(g, new Random(21), dims.B, dims.T);
  const exec = await createExecutor(gpu, t, dims, { store, caps, plan: { frozenQuant: dtype } });
  try {
    expectCompactArena(exec, g, dtype);
    const quantized = copyStore(g, store);
    quantizeFrozen(g, quantized, dtype);
    const ref = new CpuExecutor(t).run(quantized, batch, { precision: 'f32', training: false, step: 0 });
    const res = await exec.run(batch, { training: false, step: 0 });
    expect(Math.abs(res.loss - ref.loss)).toBeLessThanOrEqual(TOL.loss * ref.loss);
    const logitsDiff = maxDiff(res.logits!.data, ref.logits.data);
    expect(logitsDiff).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(ref.logits.data)));
    expectGrads(res.grads, ref.grads);
    const exact = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0 });
    expect(maxDiff(res.logits!.data, exact.logits.data)).toBeGreaterThan(10 * logitsDiff);
    return exec;
  } catch (e) {
    exec.destroy();
    throw e;
  }
}

export function quantSuite(software: SoftwareGpu): void {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await openNodeGpu({ gpu: software });
  });
  afterAll(() => {
    if (gpu && !gpu.isLost) gpu.destroy();
  });

  describe(`${software}: a quantized frozen base equals the CPU on the same quantized base`, () => {
    // GPT-2: Conv1D [in, out] weights (int8 scales per column, nf4 blocks along the transpose) and
    // the tied wte (an embedding table and the output layer's [out, in] weight, read transposed by
    // the backward pass). LLaMA: [out, in] projections, embed_tokens, an untied lm_head.
    it.each([
      ['gpt2-lora.peft', 'int8'],
      ['gpt2-lora.peft', 'nf4'],
      ['llama-lora.peft', 'int8'],
      ['llama-lora.peft', 'nf4'],
      ['gpt2-lora.peft', 'nf4dq'],
      ['llama-lora.peft', 'nf4dq'],
    ] as const)('%s, %s: loss, logits and trainable gradients', async (file, dtype) => {
      (await compare(gpu, file, tinySet(file), dtype, { B: 2, T: 6 })).destroy();
    });

    // One check at GPT-2 small's width, on llvmpipe: the kernels are the generator's code for the
    // small cases with other constants, and SwiftShader spends about 45 s compiling the 768-wide
    // ones (2-core machine, loaded) before a run of 3 s.
    if (software === 'llvmpipe') {
      it('at real width (GPT-2 small, 768, one layer), nf4', async () => {
        const set = ['vocab_size=256,n_positions=16,n_embd=768,n_inner=3072,n_layer=1,n_head=12'];
        (await compare(gpu, 'gpt2-lora.peft', set, 'nf4', { B: 1, T: 4 })).destroy();
      }, 300_000);
    }

    it('products split over a small binding limit bind the quantized weight whole', async () => {
      // the logits [2·64, 256] exceed a 100 KiB binding: the output layer x·wteᵀ and its input
      // gradient dy·wte are split by rows, each piece reading the whole quantized wte
      const set = ['vocab_size=256,n_positions=64,n_embd=32,n_inner=64,n_layer=1,n_head=2'];
      const caps = { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: 100 * 1024 } };
      const exec = await compare(gpu, 'gpt2-lora.peft', set, 'nf4', { B: 2, T: 64 }, caps);
      try {
        const pieces = exec.plan.steps.filter((s) => s.kind === 'dispatch' && /\[piece/.test(s.label) && /matmul_.*_nf4/.test(exec.plan.shaders[s.shader]!.label));
        expect(pieces.length).toBeGreaterThan(1);
      } finally {
        exec.destroy();
      }
    }, 300_000);
  });

  describe(`${software}: the matmul kernels with a quantized B`, () => {
    // Both variants (regblock on software adapters, tiled on hardware GPUs), against the f64
    // product with the dequantized B, at gpu-suite's f32 tolerance: Conv1D-like [in, out]
    // weights read as is and transposed, nn.Linear [out, in] weights transposed (x·Wᵀ), odd sizes.
    const CASES = [
      { spec: { M: 37, N: 54, K: 30 }, dtype: 'int8', layout: 'in_out' },
      { spec: { M: 37, N: 30, K: 54, transB: true }, dtype: 'int8', layout: 'in_out' },
      { spec: { M: 33, N: 70, K: 66, transB: true, bias: true, activation: 'gelu' }, dtype: 'nf4', layout: 'out_in' },
      { spec: { M: 21, N: 66, K: 70 }, dtype: 'nf4', layout: 'out_in' },
      { spec: { M: 9, N: 50, K: 130 }, dtype: 'nf4', layout: 'in_out' },
      { spec: { M: 9, N: 50, K: 130 }, dtype: 'nf4dq', layout: 'in_out' },
      { spec: { M: 5, N: 140, K: 130, transB: true }, dtype: 'nf4dq', layout: 'out_in' }, // 285 blocks: two second-level ones
    ] as const;
    for (const variant of ['regblock', 'tiled'] as const) {
      it(`${variant}: int8, nf4 and nf4dq, as stored and transposed`, async () => {
        for (const { spec: s, dtype, layout } of CASES) {
          const spec: MatmulSpec = { ...s };
          const [rows, cols] = spec.transB ? [spec.N, spec.K] : [spec.K, spec.N];
          const w = quantizeWeight(randomArray(rows * cols, 9), [rows, cols], layout, dtype);
          spec.quantB = { dtype, layout, rows, cols };
          const a = randomArray(spec.M * spec.K, 8);
          const bias = spec.bias ? randomArray(spec.N, 10) : undefined;
          const mm = await prepareMatmul(gpu, spec, { variant });
          const c = gpu.buffer(spec.M * spec.N * 4);
          const batch = gpu.commands(mm.kernel.label);
          mm.encode(batch, { a: gpu.buffer(a), b: gpu.buffer(packQuantized(w)), ...(bias ? { bias: gpu.buffer(bias) } : {}), c });
          await batch.submit();
          const want = matmulCpu({ ...spec, quantB: undefined }, a, dequantizeWeight(w), bias);
          expect(maxScaledError(await gpu.read(c), want.c, want.magnitude), JSON.stringify(spec)).toBeLessThanOrEqual(matmulTolerance(spec.K));
        }
      });
    }
  });

  describe(`${software}: training on a quantized base (the backend train, eval and generate use)`, () => {
    // nf4dq: the upload quantizes values that are already nf4dq's, which must give the same
    // codes back (compiler/quant/known.ts), not codes of the values' own double quantization.
    it.each(['nf4', 'nf4dq'] as const)('%s: three AdamW steps and an evaluation of another shape equal the CPU backend on the same quantized base', async (dtype) => {
      const file = 'llama-lora.peft';
      const { g, t, store } = model(file, tinySet(file), 6);
      const cpuStore = copyStore(g, store);
      quantizeFrozen(g, cpuStore, dtype);
      // as the CLI does: the host store already holds the quantized base's values
      const gpuStore = copyStore(g, cpuStore);
      const web = new WebGpuBackend(gpu, t, gpuStore, { frozenQuant: dtype });
      const cpu = new CpuBackend(t, cpuStore);
      const batch = batchFor(g, new Random(3), 2, 6);
      for (let step = 0; step < 3; step++) {
        const [a, b] = [await cpu.step(batch, 1e-2), await web.step(batch, 1e-2)];
        expect(Math.abs(a.loss - b.loss), `step ${step}`).toBeLessThanOrEqual(TOL.curve * a.loss);
      }
      const other = batchFor(g, new Random(8), 1, 5);
      const [ea, eb] = [await cpu.evaluate(other), await web.evaluate(other)];
      expect(Math.abs(ea.loss - eb.loss)).toBeLessThanOrEqual(TOL.loss * ea.loss);
      await web.sync();
      expect(maxDiff(gpuStore.trainable.data, cpuStore.trainable.data)).toBeLessThanOrEqual(TOL.params * 1e-2 * 3);
      // the host's frozen values are untouched: the GPU quantized its own copy
      expect(maxDiff(gpuStore.frozen.data, cpuStore.frozen.data)).toBe(0);
    }, 120_000);
  });
}
