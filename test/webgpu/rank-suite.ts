// LoRA rank selection and prompt templates on WebGPU against the CPU reference, registered once
// per software adapter (rank-swiftshader.test.ts, rank-llvmpipe.test.ts). The rank masks are f32
// graph inputs written per step; AdaLoRA's importance and masking run on the host, reading the
// gradients and parameters back after each step (AdaLoRA in both forms; DyLoRA with the prefix
// and the sampled update, whose frozen ranks are put back on the host). Tolerances as plan-suite.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { RankController, RankedBackend } from '../../runtime/rank-controller.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { WebGpuBackend } from '../../runtime/webgpu/backend.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { graphOfText } from '../helpers.ts';

const TINY = 'vocab_size=32,n_positions=64,n_embd=16,n_layer=2,n_head=2';
const opt = { kind: 'adamw' as const, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0, clipNorm: 1 };

const PROGRAMS = {
  adalora: 'lora(rank = auto(target = 2, init = 4, tinit = 1, tfinal = 2, delta_t = 1), alpha = 8) on "c_attn", "c_fc"',
  dylora: 'lora(rank = dynamic(max = 4), alpha = 8) on "c_attn"',
  sampled: 'lora(rank = dynamic(max = 4, min = 2, update = sampled), alpha = 8) on "c_attn"',
  paper: 'lora(rank = auto(target = 2, init = 4, tinit = 1, tfinal = 2, delta_t = 1, form = paper), alpha = 8) on "c_attn", "c_fc"',
  template: 'prompt(template = "[P:2] {text} [P:1]", init = vocab) on "wte"',
};

function setup(rule: string, seed = 1) {
  const g = graphOfText(`import "gpt2.peft"\npeft { ${rule} }`, [TINY]);
  const t = buildTrainingGraph(g, opt);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed });
  const rng = new Random(seed + 7);
  for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.1);
  return { g, t, store };
}

function batch(rng: Random, virtual = 0): Batch {
  const tokens = { shape: [2, 8], data: Int32Array.from({ length: 16 }, () => rng.int(32)) };
  if (virtual) {
    // "[P:2] {text} [P:1]": ids 32, 33 first, 34 last; the text between.
    for (const b of [0, 1]) tokens.data.set([32, 33], b * 8), (tokens.data[b * 8 + 7] = 34);
    const mask = Array.from({ length: 16 }, (_, i) => (i % 8 >= 2 && i % 8 < 7 ? 1 : 0));
    return { tokens, targets: lmTargets(tokens, 0, undefined, mask) };
  }
  return { tokens, targets: lmTargets(tokens) };
}

export function rankSuite(software: SoftwareGpu): void {
  describe(`rank selection and prompt templates on WebGPU (${software})`, () => {
    let gpu: Gpu;
    beforeAll(async () => {
      gpu = await openNodeGpu({ gpu: software });
    });
    afterAll(() => gpu?.destroy());

    it.each(Object.entries(PROGRAMS))('%s: loss and gradients as the CPU, with the masks given', async (name, rule) => {
      const { g, t, store } = setup(rule);
      const rng = new Random(3);
      const b = batch(rng, name === 'template' ? 3 : 0);
      if (name !== 'template') {
        const ctl = new RankController(g, { seed: 1, evalRank: 2 });
        // AdaLoRA: a mask with zeros; DyLoRA: rank 2.
        b.extra = ctl.evalInputs();
        if (name === 'adalora' || name === 'paper') for (const k of Object.keys(b.extra)) b.extra[k] = { shape: [4], data: Float32Array.of(1, 0, 1, 1) };
      }
      const cpu = new CpuExecutor(t).run(store, b, { precision: 'f32', training: true, step: 0 });
      const exec = await createExecutor(gpu, t, { B: 2, T: 8 }, { store });
      const res = await exec.run(b, { training: true, step: 0 });
      expect(Math.abs(res.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-5);
      let G = 0;
      for (const v of cpu.grads.values()) for (const x of v.data) G = Math.max(G, Math.abs(x));
      for (const [path, want] of cpu.grads) {
        const got = res.grads.get(path)!;
        let worst = 0;
        let top = 0;
        want.data.forEach((x, i) => ((worst = Math.max(worst, Math.abs(x - got.data[i]!))), (top = Math.max(top, Math.abs(x)))));
        expect(worst, path).toBeLessThanOrEqual(5e-5 * top + 1e-6 * G);
      }
      exec.destroy();
    });

    it.each(['adalora', 'paper', 'dylora', 'sampled'] as const)('%s: a training run follows the CPU, masks and ranks included', async (name) => {
      const runs = [];
      for (const kind of ['cpu', 'gpu'] as const) {
        const { g, t, store } = setup(PROGRAMS[name], 2);
        const inner = kind === 'cpu' ? new CpuBackend(t, store) : new WebGpuBackend(gpu, t, store);
        const ranks = new RankController(g, { totalSteps: 6, seed: 5 });
        const backend = new RankedBackend(inner, store, ranks);
        const rng = new Random(9);
        const losses: number[] = [];
        for (let s = 0; s < 6; s++) losses.push((await backend.step(batch(rng), 1e-2)).loss);
        await backend.sync();
        runs.push({ losses, ranks: [...ranks.ranks().values()], store });
      }
      const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
      a.losses.forEach((l, i) => expect(Math.abs(b.losses[i]! - l) / l).toBeLessThan(1e-5));
      expect(b.ranks).toEqual(a.ranks);
      if (name === 'adalora' || name === 'paper') expect(a.ranks.reduce((x, y) => x + y, 0)).toBe(8);
      let worst = 0;
      a.store.trainable.data.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b.store.trainable.data[i]!))));
      expect(worst).toBeLessThan(5e-3 * 1e-2 * 6);
    });
  });
}
