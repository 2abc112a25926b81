// Whole models on WebGPU against the CPU reference, registered once per software adapter by
// plan-swiftshader.test.ts and plan-llvmpipe.test.ts (Dawn allows one instance of each kind per
// process, and each test file is its own fork). A missing adapter fails: it is never a skip.
//
// Tolerances, float32 on both sides (the GPU sums in other orders; the CPU reference accumulates
// in float64 and rounds each op's result to f32). Measured worst on SwiftShader and llvmpipe in
// brackets; an indexing mistake or a missing term gives errors of order 1.
//   loss      |gpu − cpu| ≤ 1e-5 · |cpu|                                    [2.1e-7]
//   logits    max |gpu − cpu| ≤ 1e-5 · (1 + max |cpu|)                      [1.5e-7]
//   gradients per tensor, max |gpu − cpu| ≤ 5e-5 · max |cpu| + 1e-6 · G,
//             G the largest gradient of the model (a tensor whose exact gradient is zero,
//             like BERT's key bias, holds only rounding noise)              [2.3e-6 · max |cpu|]
//   training  20 AdamW steps (weight decay, clipping at 0.6 × the first norm), dropout on:
//             each step's loss within 1e-5 relative [2.1e-7], the gradient norm within 1e-4
//             [6.4e-6]; the final parameters within 5e-3 · lr · steps [5.6e-4, prefix tuning:
//             Adam turns rounding noise of near-zero gradients into steps of up to lr], Adam's m
//             and v within 1e-3 of their largest value.
//   PyTorch   the fixture's float64 numbers (saved as f32): loss 1e-5 relative, logits 5e-5,
//             gradients 1e-5 absolute, as the CPU's own float32 check (test/core/reference.test.ts).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OptimizerConfig, type TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { float32ToHalf, halfToFloat32 } from '../../runtime/io/half.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { Optimizer } from '../../runtime/optim.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { GpuError } from '../../runtime/webgpu/errors.ts';
import { GpuExecutor } from '../../runtime/webgpu/executor.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import { buildPlan } from '../../compiler/lower/plan.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { opKernel } from '../../codegen/wgsl/index.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { peftc } from '../cli/peftc.ts';
import { graphOf, graphOfText, tinySet } from '../helpers.ts';
import { PAD_LENGTHS, PAD_T, paddedBatch } from '../cpu/padding-cases.ts';
import { TOL, expectGrads, maxAbs, maxDiff } from './compare.ts';

export { TOL, maxDiff } from './compare.ts';

/** Every example, tiny. The PEFT methods the task names first, then full fine-tunes. */
export const MODELS = [
  'gpt2-lora.peft',
  'gpt2-prompt.peft',
  'gpt2-prefix.peft',
  'gpt2-adapter.peft',
  'gpt2-lora-prompt.peft',
  'llama-lora.peft',
  'bert-adapter.peft',
  'gpt2.peft',
  'llama.peft',
  'bert.peft',
];

export function batchFor(g: Graph, rng: Random, B = 2, T = 6): Batch {
  const vocab = g.params.find((p) => p.origin === 'base' && /wte|word_embeddings|embed_tokens/.test(p.module))!.shape[0]!;
  const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(vocab)) };
  if (g.task === 'classification') {
    const classes = g.nodes[g.outputs.logits]!.shape[1] as number;
    return { tokens, targets: { shape: [B], data: Int32Array.from({ length: B }, () => rng.int(classes)) } };
  }
  return { tokens, targets: lmTargets(tokens, g.promptLength) };
}

/** A tiny model with its zero-initialised PEFT tensors perturbed (so no gradient vanishes). */
export function setup(file: string, seed = 1, extra: string[] = []): { g: Graph; t: TrainingGraph; store: ParamStore; batch: Batch } {
  const g = graphOf(file, [...tinySet(file), ...extra]);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed });
  const rng = new Random(seed + 7);
  const d = store.trainable.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! + rng.normal(0, 0.1);
  return { g, t: buildTrainingGraph(g), store, batch: batchFor(g, rng) };
}




/**
 * `steps` training steps of the GPU executor beside the CPU reference and the host optimizer on
 * `store` (updated in place), each step's loss within TOL.curve; returns the last CPU run.
 */
async function stepAlongside(exec: GpuExecutor, t: TrainingGraph, store: ParamStore, batch: Batch, config: OptimizerConfig, steps: number): Promise<ReturnType<CpuExecutor['run']>> {
  const cpu = new CpuExecutor(t);
  const opt = new Optimizer(config, store.trainable);
  let ref: ReturnType<CpuExecutor['run']> | undefined;
  for (let step = 0; step < steps; step++) {
    ref = cpu.run(store, batch, { precision: 'f32', training: true, step });
    opt.step(ref.grads, config.lr);
    const got = await exec.step(batch, config.lr);
    expect(Math.abs(got.loss - ref.loss), `step ${step}`).toBeLessThanOrEqual(TOL.curve * ref.loss);
  }
  return ref!;
}

const ADAMW: OptimizerConfig = { kind: 'adamw', lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0, clipNorm: 1 };

export function planSuite(software: SoftwareGpu): void {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await openNodeGpu({ gpu: software });
  });
  afterAll(() => {
    if (gpu && !gpu.isLost) gpu.destroy();
  });

  describe(`${software}: one forward and backward equals the CPU reference`, () => {
    it.each(MODELS)('%s', async (file) => {
      const { t, store, batch } = setup(file);
      const cpu = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0 });
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store });
      try {
        const res = await exec.run(batch, { training: false, step: 0 });
        expect(Math.abs(res.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(cpu.loss));
        expect(maxDiff(res.logits!.data, cpu.logits.data)).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(cpu.logits.data)));
        expect([...res.grads.keys()].sort()).toEqual([...cpu.grads.keys()].sort());
        expectGrads(res.grads, cpu.grads);
      } finally {
        exec.destroy();
      }
    });

    it('gpt2-lora at 4 × 64 tokens (llvmpipe plans 16 × 4 outputs per invocation for M ≥ 256)', async () => {
      const { g, t, store } = setup('gpt2-lora.peft');
      const batch = batchFor(g, new Random(5), 4, 64);
      const cpu = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0 });
      const exec = await createExecutor(gpu, t, { B: 4, T: 64 }, { store });
      try {
        if (software === 'llvmpipe') expect(exec.plan.shaders.some((x) => x.wgsl.includes('let m0 = gid.y * 16u;'))).toBe(true);
        const res = await exec.run(batch, { training: false, step: 0 });
        expect(Math.abs(res.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(cpu.loss));
        expect(maxDiff(res.logits!.data, cpu.logits.data)).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(cpu.logits.data)));
        expectGrads(res.grads, cpu.grads);
      } finally {
        exec.destroy();
      }
    });

    it('dropout in training mode draws the same mask as the CPU (gpt2-lora, step 3)', async () => {
      const { t, store, batch } = setup('gpt2-lora.peft');
      const cpu = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: true, step: 3 });
      const eval0 = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 3 });
      expect(Math.abs(cpu.loss - eval0.loss)).toBeGreaterThan(1e-3); // dropout does change the loss
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store });
      const res = await exec.run(batch, { training: true, step: 3 });
      expect(Math.abs(res.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * cpu.loss);
      expectGrads(res.grads, cpu.grads);
      exec.destroy();
    });

    it('without fusions the numbers are the same (and with dropout drawn in the residual epilogues, the same masks)', async () => {
      const { t, store, batch } = setup('gpt2-lora.peft');
      const fused = await createExecutor(gpu, t, { B: 2, T: 6 }, { store });
      const plain = await createExecutor(gpu, t, { B: 2, T: 6 }, { store, plan: { fuse: false } });
      const kinds = new Set(fused.plan.fusions.map((f) => f.kind));
      for (const k of ['sum_of_products', 'activation_aux', 'activation_grad', 'residual', 'norm_residual', 'attention_lse', 'attention_grad_kv'] as const) expect(kinds.has(k), k).toBe(true);
      for (const training of [false, true]) {
        const a = await fused.run(batch, { training, step: 2 });
        const b = await plain.run(batch, { training, step: 2 });
        expect(Math.abs(a.loss - b.loss), `training ${training}`).toBeLessThanOrEqual(TOL.loss * a.loss);
        expectGrads(b.grads, a.grads);
      }
      fused.destroy();
      plain.destroy();
    });

    // The epilogues after a sum of two products: one regblock kernel, or (hardware kernels, tiled)
    // the main product and then the second accumulating with the epilogue.
    it.each([false, true])('LoRA on the MLP (activation output, activation gradient and residual after sum_of_products), hardware kernels %s: equal to the CPU in training', async (hardware) => {
      const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8) on "h.*.mlp.*" }', tinySet('gpt2.peft'));
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 6 });
      const rng = new Random(13);
      for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.1);
      const batch = batchFor(g, rng);
      const t = buildTrainingGraph(g);
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store, caps: { ...gpu.info, isSoftware: !hardware } });
      try {
        const onSums = exec.plan.fusions.filter((f) => t.graph.nodes[f.nodes[0]!]!.op === 'add').map((f) => f.kind);
        expect(onSums.sort()).toEqual(['activation_aux', 'activation_aux', 'activation_grad', 'activation_grad', 'residual', 'residual']);
        const cpu = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: true, step: 1 });
        const res = await exec.run(batch, { training: true, step: 1 });
        expect(Math.abs(res.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(cpu.loss));
        expect(maxDiff(res.logits!.data, cpu.logits.data)).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(cpu.logits.data)));
        expectGrads(res.grads, cpu.grads);
      } finally {
        exec.destroy();
      }
    });

    it('a forward-only run and a loss-only readback', async () => {
      const { t, store, batch } = setup('llama-lora.peft');
      const cpu = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0, backward: false });
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store });
      const fwd = await exec.run(batch, { training: false, step: 0, backward: false });
      expect(Math.abs(fwd.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * cpu.loss);
      expect(fwd.grads.size).toBe(0);
      const lossOnly = await exec.run(batch, { training: false, step: 0, read: { logits: false, grads: false } });
      expect(lossOnly.logits).toBeUndefined();
      expect(lossOnly.grads.size).toBe(0);
      expect(Math.abs(lossOnly.loss - cpu.loss)).toBeLessThanOrEqual(TOL.loss * cpu.loss);
      exec.destroy();
    });
  });

  describe(`${software}: padding with lengths (bert.peft)`, () => {
    it('each padded row gives the logits of the row alone, and the CPU\'s gradients', async () => {
      const { g, t, store } = setup('bert.peft');
      const rng = new Random(11);
      for (const d of [store.frozen.data, store.trainable.data]) for (let i = 0; i < d.length; i++) d[i] = d[i]! + rng.normal(0, 0.3);
      const { batch, rows } = paddedBatch(g);
      const C = g.nodes[g.outputs.logits]!.shape[1] as number;
      const cpu = new CpuExecutor(t);
      const want = cpu.run(store, batch, { precision: 'f32', training: false, step: 0 });
      const exec = await createExecutor(gpu, t, { B: PAD_LENGTHS.length, T: PAD_T }, { store });
      try {
        const res = await exec.run(batch, { training: false, step: 0 });
        expect(Math.abs(res.loss - want.loss)).toBeLessThanOrEqual(TOL.loss * Math.abs(want.loss));
        expectGrads(res.grads, want.grads);
        PAD_LENGTHS.forEach((_, b) => {
          const alone = cpu.run(store, rows[b]!, { precision: 'f32', training: false, step: 0, backward: false }).logits.data;
          const got = res.logits!.data.subarray(b * C, (b + 1) * C);
          expect(maxDiff(got, alone), `row ${b}`).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(alone)));
        });
      } finally {
        exec.destroy();
      }
    });
  });

  describe(`${software}: training on the GPU follows the CPU reference step by step`, () => {
    it.each(['gpt2-lora.peft', 'gpt2-prompt.peft', 'gpt2-prefix.peft', 'gpt2-adapter.peft', 'llama-lora.peft', 'bert-adapter.peft'])(
      '%s: 20 AdamW steps with clipping',
      async (file) => {
        const { g, store, batch } = setup(file, 2);
        // Clip at 0.6 × the first gradient norm, so that clipping acts in the first steps.
        const first = new CpuExecutor(buildTrainingGraph(g)).run(store, batch, { precision: 'f32', training: true, step: 0 });
        const cfg = { ...ADAMW, clipNorm: 0.6 * new Optimizer(ADAMW, store.trainable).gather(first.grads) };
        const t = buildTrainingGraph(g, cfg);
        const gpuStore = createStore(g, 'f32');
        gpuStore.frozen.data.set(store.frozen.data);
        gpuStore.trainable.data.set(store.trainable.data);
        const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store: gpuStore });
        const cpu = new CpuExecutor(t);
        const opt = new Optimizer(cfg, store.trainable);
        let clipped = 0;
        try {
          for (let step = 0; step < 20; step++) {
            const ref = cpu.run(store, batch, { precision: 'f32', training: true, step });
            const norm = opt.step(ref.grads, ADAMW.lr);
            if (norm > cfg.clipNorm) clipped++;
            const got = await exec.step(batch, ADAMW.lr);
            expect(Math.abs(got.loss - ref.loss), `step ${step}: loss ${got.loss} vs ${ref.loss}`).toBeLessThanOrEqual(TOL.curve * ref.loss);
            expect(Math.abs(got.gradNorm - norm), `step ${step}: gradient norm`).toBeLessThanOrEqual(TOL.norm * norm);
          }
          expect(clipped).toBeGreaterThan(0); // clipping was exercised
          const state = { step: 0, m: new Float32Array(store.trainable.size), v: new Float32Array(store.trainable.size) };
          await exec.download(gpuStore, state);
          expect(state.step).toBe(20);
          expect(maxDiff(gpuStore.trainable.data, store.trainable.data)).toBeLessThanOrEqual(TOL.params * ADAMW.lr * 20);
          expect(maxDiff(state.m, opt.state.m)).toBeLessThanOrEqual(TOL.moments * maxAbs(opt.state.m));
          expect(maxDiff(state.v, opt.state.v)).toBeLessThanOrEqual(TOL.moments * maxAbs(opt.state.v));
        } finally {
          exec.destroy();
        }
      },
    );

    // Tensors over the binding limit, split into windows (compiler/lower/split.ts). vocab 512 ×
    // n_embd 80 under a 128 KiB limit: the token table (160 KiB), the logits [128, 512] (256 KiB),
    // the MLP's hidden [128, 320] (160 KiB) and, in full fine-tuning, the table's gradient exceed it.
    const SPLIT_SET = { gpt2: ['vocab_size=512', 'n_positions=64', 'n_embd=80', 'n_layer=1', 'n_head=2'], llama: ['vocab_size=512', 'hidden_size=80', 'intermediate_size=160', 'num_hidden_layers=1', 'num_attention_heads=2', 'num_key_value_heads=1'] };
    const SPLIT_LIMIT = 128 * 1024;
    it.each([
      ['gpt2-lora.peft', SPLIT_SET.gpt2],
      ['gpt2.peft', SPLIT_SET.gpt2],
      ['llama-lora.peft', SPLIT_SET.llama],
    ] as const)('%s with tensors over a 128 KiB binding limit (and LoRA\'s frozen arena over a 256 KiB buffer limit): split, and equal to the CPU (forward, backward, 3 AdamW steps, forward-only)', async (file, set) => {
      const g = graphOf(file, [...set]);
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 5 });
      const rng = new Random(12);
      for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.05);
      const batch = batchFor(g, rng, 2, 64);
      const t = buildTrainingGraph(g, ADAMW);
      // LoRA: the frozen arena also goes over a 256 KiB maxBufferSize, so it is stored in several buffers.
      const maxBufferSize = file === 'gpt2.peft' ? gpu.info.limits.maxBufferSize : 256 * 1024;
      const caps = { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: SPLIT_LIMIT, maxBufferSize } };
      const gpuStore = createStore(g, 'f32');
      gpuStore.frozen.data.set(store.frozen.data);
      gpuStore.trainable.data.set(store.trainable.data);
      const exec = await createExecutor(gpu, t, { B: 2, T: 64 }, { store: gpuStore, caps });
      const evalExec = await createExecutor(gpu, t, { B: 2, T: 64 }, { store: gpuStore, caps, plan: { backward: false } });
      try {
        if (file !== 'gpt2.peft') expect(exec.plan.ids.frozenParts?.length).toBeGreaterThan(1);
        const pieces = exec.plan.steps.filter((x) => /\[piece \d+\/\d+\]$/.test(x.label));
        expect(pieces.length).toBeGreaterThan(4);
        for (const x of exec.plan.steps) if (x.kind === 'dispatch') for (const r of x.bindings) expect(r.bytes).toBeLessThanOrEqual(SPLIT_LIMIT);
        expect(evalExec.plan.steps.some((x) => /cross_entropy.*\[piece/.test(x.label))).toBe(true);
        const cpu = new CpuExecutor(t);
        const fwd = cpu.run(store, batch, { precision: 'f32', training: false, step: 0, backward: false });
        const got = await evalExec.run(batch, { training: false, step: 0, backward: false });
        expect(Math.abs(got.loss - fwd.loss)).toBeLessThanOrEqual(TOL.loss * fwd.loss);
        expect(maxDiff(got.logits!.data, fwd.logits.data)).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(fwd.logits.data)));
        const ref = cpu.run(store, batch, { precision: 'f32', training: false, step: 0 });
        const res = await exec.run(batch, { training: false, step: 0 });
        expect(Math.abs(res.loss - ref.loss)).toBeLessThanOrEqual(TOL.loss * ref.loss);
        expectGrads(res.grads, ref.grads);
        await stepAlongside(exec, t, store, batch, ADAMW, 3);
        await exec.download(gpuStore);
        // Per element: one whose exact gradient is zero (GPT-2's key bias) holds rounding noise,
        // which Adam turns into steps of up to lr each (the same without a split).
        const G = Math.max(...[...ref.grads.values()].map((x) => maxAbs(x.data)));
        for (const slot of store.trainable.slots) {
          const path = slot.param.path;
          const [got, want, grad] = [gpuStore.trainable.view(path), store.trainable.view(path), ref.grads.get(path)!.data];
          for (let i = 0; i < want.length; i++) {
            const noise = Math.abs(grad[i]!) <= TOL.gradFloor * G;
            const diff = Math.abs(got[i]! - want[i]!);
            if (diff > (noise ? 1 : TOL.params) * ADAMW.lr * 3) expect(diff, `${path}[${i}]`).toBeLessThanOrEqual((noise ? 1 : TOL.params) * ADAMW.lr * 3);
          }
        }
      } finally {
        exec.destroy();
        evalExec.destroy();
      }
    });

    // The real-size split, once: the planner's pieces do not depend on the adapter, SwiftShader
    // runs the same splits under small limits above, and this case costs it 40 s.
    if (software === 'llvmpipe') it('GPT-2\'s real token table (50257 × 768, 147 MiB) under WebGPU\'s default 128 MiB bindings: one LoRA step equals the CPU', async () => {
      const g = graphOf('gpt2-lora.peft', ['n_layer=1']);
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 2 });
      const rng = new Random(3);
      for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.02);
      const batch = batchFor(g, rng, 2, 16);
      const t = buildTrainingGraph(g, ADAMW);
      const caps = { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: Math.min(2 ** 27, gpu.info.limits.maxStorageBufferBindingSize) } };
      const exec = await createExecutor(gpu, t, { B: 2, T: 16 }, { store, caps });
      try {
        expect(exec.plan.steps.filter((x) => /^%\d+ embedding \(wte\) \[piece \d\/2\]$/.test(x.label))).toHaveLength(2);
        expect(exec.plan.steps.filter((x) => /lm_head\) \[piece/.test(x.label)).length).toBeGreaterThanOrEqual(2);
        // split-K on llvmpipe (codegen/wgsl/matmul/tuning.ts LONG_K): the input gradient's K = 50257 in 25 slices of 2048
        expect(exec.plan.steps.filter((x) => /lm_head ∂linear\) \[piece \d+\/25\]$/.test(x.label))).toHaveLength(25);
        const ref = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0 });
        const res = await exec.run(batch, { training: false, step: 0 });
        expect(Math.abs(res.loss - ref.loss)).toBeLessThanOrEqual(TOL.loss * ref.loss);
        expect(maxDiff(res.logits!.data, ref.logits.data)).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(ref.logits.data)));
        expectGrads(res.grads, ref.grads);
      } finally {
        exec.destroy();
      }
    }, 120_000);

    // Frozen weights in f16 (PlanOptions.frozenF16): the oracle is the CPU reference on the same
    // weights rounded to f16, so the tolerances are the f32 ones above.
    const roundFrozen = (store: ParamStore, g: Graph, paths: Set<string>): ParamStore => {
      const r = createStore(g, 'f32');
      r.frozen.data.set(store.frozen.data);
      r.trainable.data.set(store.trainable.data);
      for (const path of paths) {
        const v = r.frozen.view(path);
        v.set(halfToFloat32(float32ToHalf(Float32Array.from(v), 'F16'), 'F16'));
      }
      return r;
    };
    it.each([
      ['gpt2-lora.peft', [] as string[], { B: 2, T: 6 }],
      ['llama-lora.peft', [] as string[], { B: 2, T: 6 }],
      ['bert-adapter.peft', [] as string[], { B: 2, T: 6 }],
      // and with the token table split over a 128 KiB binding: [512, 160] in f16 is 160 KiB
      ['gpt2-lora.peft', ['vocab_size=512', 'n_positions=64', 'n_embd=160', 'n_inner=256', 'n_layer=1', 'n_head=2'], { B: 1, T: 64 }],
    ] as const)('%s %j: frozen weights in f16 equal the CPU on f16-rounded weights', async (file, set, dims) => {
      const { g, t, store } = set.length ? (() => {
        const g = graphOf(file, [...set]);
        const store = createStore(g, 'f32');
        initParams(g, store, { seed: 4 });
        const rng = new Random(9);
        for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.05);
        return { g, t: buildTrainingGraph(g), store };
      })() : setup(file);
      const batch = batchFor(g, new Random(21), dims.B, dims.T);
      const caps = set.length ? { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: 128 * 1024 } } : gpu.info;
      const exec = await createExecutor(gpu, t, dims, { store, caps, plan: { frozenF16: true } });
      const f32 = buildPlan(t, dims, wgslBackend(caps));
      try {
        const halves = exec.plan.frozen.slots.filter((s) => s.dtype === 'f16');
        expect(halves.length).toBeGreaterThan(0);
        expect(exec.plan.stats.frozenBytes).toBeLessThan(0.6 * f32.stats.frozenBytes);
        if (set.length) expect(exec.plan.steps.some((x) => /embedding.*\[piece/.test(x.label))).toBe(true);
        const rounded = roundFrozen(store, g, new Set(halves.map((s) => s.path)));
        const ref = new CpuExecutor(t).run(rounded, batch, { precision: 'f32', training: false, step: 0 });
        const res = await exec.run(batch, { training: false, step: 0 });
        expect(Math.abs(res.loss - ref.loss)).toBeLessThanOrEqual(TOL.loss * ref.loss);
        expect(maxDiff(res.logits!.data, ref.logits.data)).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(ref.logits.data)));
        expectGrads(res.grads, ref.grads);
        // and the comparison sees the rounding: the GPU is at least 10× closer to the rounded weights' logits
        const exact = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0 });
        expect(maxDiff(res.logits!.data, exact.logits.data)).toBeGreaterThan(10 * maxDiff(res.logits!.data, ref.logits.data));
      } finally {
        exec.destroy();
      }
    });

    it('SGD with momentum, and an optimizer split into chunks by a small binding limit', async () => {
      const sgd: OptimizerConfig = { kind: 'sgd', lr: 0.05, beta1: 0, beta2: 0, eps: 0, weightDecay: 0.01, momentum: 0.9, clipNorm: 0.5 };
      const { g, store, batch } = setup('gpt2.peft', 3, ['n_embd=32']);
      const t = buildTrainingGraph(g, sgd);
      const caps = { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: 65536 } };
      const gpuStore = createStore(g, 'f32');
      gpuStore.frozen.data.set(store.frozen.data);
      gpuStore.trainable.data.set(store.trainable.data);
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store: gpuStore, caps });
      expect(exec.plan.steps.filter((s) => s.label.startsWith('sgd update')).length).toBeGreaterThan(1);
      await stepAlongside(exec, t, store, batch, sgd, 5);
      await exec.download(gpuStore);
      expect(maxDiff(gpuStore.trainable.data, store.trainable.data)).toBeLessThanOrEqual(TOL.params * sgd.lr * 5);
      exec.destroy();
    });

    it('LoRA+ (lr_ratio on B and the DoRA magnitudes) steps each parameter at its own rate, as the CPU', async () => {
      const adamw: OptimizerConfig = { kind: 'adamw', lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, momentum: 0, clipNorm: 1 };
      const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 4, lr_ratio = 16, dora = true) on "c_attn" }', tinySet('gpt2.peft'));
      const t = buildTrainingGraph(g, adamw);
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 2 });
      const rng = new Random(9);
      const gpuStore = createStore(g, 'f32');
      gpuStore.frozen.data.set(store.frozen.data);
      gpuStore.trainable.data.set(store.trainable.data);
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store: gpuStore });
      expect(exec.plan.trainable.slots.filter((s) => s.lrScale === 16).map((s) => s.path.split('.').pop())).toEqual(['weight', 'lora_magnitude_vector', 'weight', 'lora_magnitude_vector']);
      await stepAlongside(exec, t, store, batchFor(g, rng), adamw, 3);
      await exec.download(gpuStore);
      expect(maxDiff(gpuStore.trainable.data, store.trainable.data)).toBeLessThanOrEqual(TOL.params * adamw.lr * 16 * 3);
      exec.destroy();
    });

    it.each(['pissa', 'olora'])('LoRA init = %s (host-side, the residual base uploaded) trains as on the CPU', async (init) => {
      const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4, init = ${init}) on "c_attn", "mlp.c_proj" }`, tinySet('gpt2.peft'));
      const t = buildTrainingGraph(g, ADAMW);
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 3 });
      const gpuStore = createStore(g, 'f32');
      gpuStore.frozen.data.set(store.frozen.data);
      gpuStore.trainable.data.set(store.trainable.data);
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store: gpuStore });
      await stepAlongside(exec, t, store, batchFor(g, new Random(4)), ADAMW, 3);
      await exec.download(gpuStore);
      expect(maxDiff(gpuStore.trainable.data, store.trainable.data)).toBeLessThanOrEqual(TOL.params * ADAMW.lr * 3);
      exec.destroy();
    });

    it('a non-finite gradient skips the update, as on the CPU', async () => {
      const { t, store, batch } = setup('gpt2-lora.peft');
      const path = store.trainable.slots[0]!.param.path;
      store.trainable.view(path)[0] = NaN;
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store });
      const before = Float32Array.from(store.trainable.data);
      const res = await exec.step(batch);
      expect(Number.isFinite(res.gradNorm)).toBe(false);
      expect(exec.updates).toBe(0);
      await exec.download(store);
      const after = store.trainable.data;
      for (let i = 1; i < after.length; i++) expect(Object.is(after[i], before[i])).toBe(true);
      exec.destroy();
    });
  });

  describe(`${software}: the PyTorch fixture`, () => {
    it.each([
      ['gpt2-lora-tiny', '"c_attn"'],
      ['gpt2-lora-all-linear-tiny', 'all_linear'],
      ['gpt2-lora-embedding-tiny', '"wte"'],
      ['gpt2-dora-tiny', '"c_attn", "c_fc"', ', dora = true'],
      ['gpt2-dora-embedding-tiny', '"wte"', ', dora = true'],
    ])('%s: loss, logits and every gradient as PyTorch computed them', async (fixture, targets, more = '') => {
      const dir = resolve(import.meta.dirname, `../fixtures/${fixture}`);
      const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8${more}) on ${targets} }`, ['vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4']);
      const weights = parseSafetensors(readFileSync(resolve(dir, 'weights.safetensors')));
      const expected = parseSafetensors(readFileSync(resolve(dir, 'expected.safetensors')));
      const rows = JSON.parse(readFileSync(resolve(dir, 'tokens.json'), 'utf8')) as number[][];
      const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
      const store = createStore(g, 'f32');
      expect(loadWeights(g, store, weights).size).toBe(g.params.length);
      const exec = await createExecutor(gpu, buildTrainingGraph(g), { B: rows.length, T: rows[0]!.length }, { store });
      const res = await exec.run({ tokens, targets: lmTargets(tokens) }, { training: false, step: 0 });
      const loss = getFloat32(expected, 'loss')[0]!;
      expect(Math.abs(res.loss - loss) / loss).toBeLessThan(1e-5);
      expect(maxDiff(res.logits!.data, getFloat32(expected, 'logits'))).toBeLessThan(5e-5);
      const names = [...expected.tensors.keys()].filter((k) => k.startsWith('grad.'));
      expect(names.length).toBe(res.grads.size);
      for (const name of names) expect(maxDiff(res.grads.get(name.slice(5))!.data, getFloat32(expected, name)), name).toBeLessThan(1e-5);
      exec.destroy();
    });
  });

  describe(`${software}: peftc grad --backend webgpu`, () => {
    it('writes the same loss, logits and gradients as --backend cpu', async () => {
      const dir = mkdtempSync(resolve(tmpdir(), 'peftc-grad-'));
      const fixture = resolve(import.meta.dirname, '../fixtures/gpt2-lora-tiny');
      const args = ['grad', 'examples/gpt2-lora.peft', '--set=vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4', '--tokens', resolve(fixture, 'tokens.json'), '--seed', '3'];
      const cpu = peftc(...args, '--out', resolve(dir, 'cpu.safetensors'));
      const gpuRun = peftc(...args, '--out', resolve(dir, 'gpu.safetensors'), '--backend', 'webgpu', '--gpu', software);
      expect(cpu.code, cpu.stderr).toBe(0);
      expect(gpuRun.code, gpuRun.stderr).toBe(0);
      const a = parseSafetensors(readFileSync(resolve(dir, 'cpu.safetensors')));
      const b = parseSafetensors(readFileSync(resolve(dir, 'gpu.safetensors')));
      expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
      for (const name of a.tensors.keys()) {
        const x = getFloat32(a, name);
        expect(maxDiff(getFloat32(b, name), x), name).toBeLessThanOrEqual(5e-5 * (1 + maxAbs(x)));
      }
    });
  });

  describe(`${software}: failures are errors, never zeros`, () => {
    it('a kernel that fails to compile makes fromPlan() throw a GpuError naming it', async () => {
      const { t, store } = setup('gpt2-lora.peft');
      const broken = (req: Parameters<typeof opKernel>[0]) => {
        const k = opKernel(req, gpu.info);
        return req.op === 'layernorm' ? { ...k, label: 'broken_layernorm', wgsl: k.wgsl.replace('fn main', 'fn main_typo') } : k;
      };
      const train = buildPlan(t, { B: 2, T: 6 }, { ...wgslBackend(gpu.info), op: broken });
      const err = await GpuExecutor.fromPlan(gpu, { train }, { store }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GpuError);
      expect((err as GpuError).message).toContain('broken_layernorm');
    });

    it('a batch of another shape than planned is refused', async () => {
      const { t, store, g } = setup('gpt2-lora.peft');
      const exec = await createExecutor(gpu, t, { B: 2, T: 6 }, { store });
      const other = batchFor(g, new Random(1), 2, 5);
      await expect(exec.run(other, { training: false, step: 0 })).rejects.toThrow(/planned for \[2, 6\]/);
      exec.destroy();
    });
  });
}
