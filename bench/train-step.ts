// Tokens per second of one training step (forward, backward, clipping, AdamW) of a tiny GPT-2
// with LoRA, on each software WebGPU adapter and on the CPU reference. Not a test: it measures
// and prints. Each backend first takes one warm-up step (pipelines compile, buffers fill); then
// the median of --reps steps is reported. The GPU step reads back only the loss and norm.
//
//   npx tsx bench/train-step.ts [--gpu swiftshader,llvmpipe] [--reps 5] [--batch 8] [--seq 128]
//                               [--cpu-reps 3] [--set vocab_size=256,n_embd=128,n_layer=4,n_head=4]
//                               [--profile]   (also time every kernel on its own: where the time goes)
import { resolve } from 'node:path';
import { buildTrainingGraph } from '../compiler/training.ts';
import { compile } from '../compiler/build.ts';
import { formatBytes } from '../compiler/lower/format.ts';
import { nodeHost } from '../cli/node-host.ts';
import { createStore } from '../runtime/arena.ts';
import { CpuExecutor } from '../runtime/cpu/executor.ts';
import { Random } from '../runtime/cpu/random.ts';
import { initParams } from '../runtime/init.ts';
import { Optimizer } from '../runtime/optim.ts';
import { lmTargets } from '../runtime/targets.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { createExecutor } from '../runtime/webgpu/plans.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { gpuFlag } from './model.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const B = Number(arg('batch', '8'));
const T = Number(arg('seq', '128'));
const reps = Number(arg('reps', '5'));
const cpuReps = Number(arg('cpu-reps', '3'));
const set = arg('set', 'vocab_size=256,n_positions=128,n_embd=128,n_layer=4,n_head=4');
const choices = gpuFlag('swiftshader,llvmpipe').split(',').filter(Boolean) as GpuChoice[];

const res = compile(resolve(import.meta.dirname, '../examples/gpt2-lora.peft'), nodeHost, { set: [set], full: false });
if (!res.graph) throw new Error('examples/gpt2-lora.peft did not compile');
const g = res.graph;
const t = buildTrainingGraph(g);
const rng = new Random(1);
const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(256)) };
const batch = { tokens, targets: lmTargets(tokens) };
const freshStore = () => {
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: 0 });
  return store;
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: { backend: string; ms: number; loss: number; note: string }[] = [];

async function timeSteps(step: () => Promise<number>, n: number): Promise<{ ms: number; loss: number }> {
  let loss = await step(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    loss = await step();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), loss };
}

console.log(`GPT-2 + LoRA (${set}), batch ${B} × ${T} tokens, ${g.params.filter((p) => p.partition === 'trainable').length} trainable tensors`);

for (const choice of choices) {
  const gpu = await openNodeGpu({ gpu: choice });
  const t0 = performance.now();
  const exec = await createExecutor(gpu, t, { B, T }, { store: freshStore() });
  const setup = performance.now() - t0;
  const p = exec.plan;
  const { ms, loss } = await timeSteps(async () => (await exec.step(batch)).loss, reps);
  const dispatches = p.steps.filter((s) => s.kind === 'dispatch').length;
  if (process.argv.includes('--profile')) {
    const prof = await exec.profile(batch);
    const byKernel = new Map<string, number>();
    for (const r of prof) {
      const family = r.kernel.replace(/_\d.*$/, '').replace(/_\[.*$/, '');
      byKernel.set(family, (byKernel.get(family) ?? 0) + r.ms);
    }
    const total = prof.reduce((a, r) => a + r.ms, 0);
    console.log(`\n${choice}: ${total.toFixed(0)} ms in ${prof.length} separately timed steps; by kernel family:`);
    for (const [k, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${k.padEnd(40)} ${ms.toFixed(1).padStart(8)} ms`);
    console.log('  slowest steps:');
    for (const r of [...prof].sort((a, b) => b.ms - a.ms).slice(0, 8)) console.log(`  ${r.label.padEnd(50)} ${r.kernel.padEnd(40)} ${r.ms.toFixed(1).padStart(8)} ms`);
  }
  rows.push({
    backend: `webgpu ${choice}`,
    ms,
    loss,
    note: `${dispatches} dispatches, ${p.shaders.length} shaders, activations ${formatBytes(p.stats.activationPeakBytes)}, setup ${(setup / 1000).toFixed(1)} s`,
  });
  exec.destroy();
  gpu.destroy();
}

if (cpuReps > 0) {
  const store = freshStore();
  const cpu = new CpuExecutor(t);
  const opt = new Optimizer(t.optimizer, store.trainable);
  let s = 0;
  const { ms, loss } = await timeSteps(async () => {
    const r = cpu.run(store, batch, { precision: 'f32', training: true, step: s++ });
    opt.step(r.grads);
    return r.loss;
  }, cpuReps);
  rows.push({ backend: 'cpu (reference, f32)', ms, loss, note: '' });
}

const pad = (x: string, n: number) => x + ' '.repeat(Math.max(0, n - x.length));
console.log(`\n${pad('backend', 24)} ${pad('ms/step', 10)} ${pad('tokens/s', 10)} ${pad('loss', 8)} notes`);
for (const r of rows) {
  console.log(`${pad(r.backend, 24)} ${pad(r.ms.toFixed(0), 10)} ${pad(((B * T) / (r.ms / 1000)).toFixed(0), 10)} ${pad(r.loss.toFixed(3), 8)} ${r.note}`);
}
process.exit(0);
