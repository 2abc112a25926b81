// Benchmark (not a test): what the first step of a shape costs on a software WebGPU adapter, and
// what a second shape costs in the same process. For each length in turn (--seq 128,64: T = 128,
// then T = 64 sharing the first executor's parameters): the time to build the plan, its distinct
// WGSL sources, the pipelines created (the Gpu's cache hands out the others), the time spent
// creating them, the first step (pipelines, buffers, one training step) and a steady step.
//
//   npx tsx bench/first-step.ts [--gpu llvmpipe] [--batch 1] [--seq 128,64] [--set …] [--file examples/gpt2-lora.peft] [--mesa-cache] [--steps 1]
//   npx tsx bench/first-step.ts --prefill 8,40 …   (instead: generation's prefill of one prompt of
//                                                   each length, each in its own length bucket)
//
// Mesa keeps compiled shaders on disk (~/.cache/mesa_shader_cache): a source compiled by any
// earlier run is not compiled again. The benchmark turns that cache off (what a first run on a
// machine costs) unless --mesa-cache is given.
// Without --set it is GPT-2 small (vocab 50,257, 768 wide, 12 layers) with LoRA r = 8 on c_attn.
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { nodeHost } from '../cli/node-host.ts';
import { compile } from '../compiler/build.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { createStore } from '../runtime/arena.ts';
import { Random } from '../runtime/cpu/random.ts';
import { initParams } from '../runtime/init.ts';
import { lmTargets } from '../runtime/targets.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { GpuExecutor } from '../runtime/webgpu/executor.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { planGraph } from '../runtime/webgpu/plans.ts';
import { GpuDecoder } from '../runtime/webgpu/decoder.ts';
import { WebGpuBackend } from '../runtime/webgpu/backend.ts';
import { servingGraph } from '../runtime/multi/set.ts';
import { gpuFlag } from './model.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const file = resolve(arg('file', resolve(import.meta.dirname, '../examples/gpt2-lora.peft')));
const set = arg('set', '');
const B = Number(arg('batch', '1'));
const lengths = arg('seq', '128,64').split(',').map(Number);
const choice = gpuFlag('llvmpipe') as GpuChoice;
const load = () => loadavg()[0]!.toFixed(1);
/** Steady steps after the first (their median is reported). */
const steadySteps = Number(arg('steps', '1'));

const res = compile(file, nodeHost, { set: set ? [set] : [] });
if (!res.graph) throw new Error(`${file} did not compile`);
const g = res.graph;
const t = buildTrainingGraph(g);
const store = createStore(g, 'f32');
initParams(g, store, { seed: 0 });
const vocab = g.params.find((p) => p.path.endsWith('wte.weight'))?.shape[0] ?? 256;

if (!process.argv.includes('--mesa-cache')) process.env.MESA_SHADER_CACHE_DISABLE = 'true';
const gpu = await openNodeGpu({ gpu: choice });
// Count and time pipeline creation at the device (what the Gpu's cache could not hand out).
const device = gpu.device as GPUDevice & { createComputePipeline: GPUDevice['createComputePipeline'] };
const create = device.createComputePipeline.bind(device);
let created = 0;
let createMs = 0;
device.createComputePipeline = (d: GPUComputePipelineDescriptor) => {
  const t0 = performance.now();
  try {
    return create(d);
  } finally {
    created++;
    createMs += performance.now() - t0;
  }
};

if (process.argv.includes('--prefill')) await prefills(arg('prefill', '8,40').split(',').map(Number));
console.log(`${file.replace(/.*\//, '')}${set ? ` --set ${set}` : ''} on ${choice}, batch ${B}, lengths ${lengths.join(', ')} (load ${load()} at start)`);
let first: GpuExecutor | undefined;
for (const T of lengths) {
  const rng = new Random(T);
  const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(vocab)) };
  const batch = { tokens, targets: lmTargets(tokens) };
  const [c0, m0] = [created, createMs];
  const t0 = performance.now();
  const plans = planGraph(t, { B, T }, gpu.info);
  const planMs = performance.now() - t0;
  const sources = new Set(plans.train.shaders.map((s) => s.wgsl)).size;
  const t1 = performance.now();
  const exec = await GpuExecutor.fromPlan(gpu, plans, { graph: t, ...(first ? { params: first } : { store }) });
  const ready = performance.now() - t1;
  await exec.step(batch);
  const firstMs = performance.now() - t1;
  const times: number[] = [];
  for (let i = 0; i < steadySteps; i++) {
    const t2 = performance.now();
    await exec.step(batch);
    times.push(performance.now() - t2);
  }
  const steadyMs = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  const dispatches = plans.train.steps.filter((s) => s.kind === 'dispatch').length;
  console.log(
    `T ${T}: plan ${planMs.toFixed(0)} ms, ${dispatches} dispatches, ${plans.train.shaders.length} shaders (${sources} distinct), ` +
      `${created - c0} pipelines created in ${(createMs - m0).toFixed(0)} ms; executor ready ${ready.toFixed(0)} ms, ` +
      `first step ${(firstMs / 1000).toFixed(2)} s (plan + first step ${((planMs + firstMs) / 1000).toFixed(2)} s), steady step ${(steadyMs / 1000).toFixed(2)} s${steadySteps > 1 ? ` (median of ${steadySteps})` : ''} (load ${load()})`,
  );
  first ??= exec;
}
process.exit(0);

/** Generation's prefill of one prompt per length (each in its own bucket): time, and pipelines compiled. */
async function prefills(lengths: number[]): Promise<never> {
  const decoder = new GpuDecoder(new WebGpuBackend(gpu, servingGraph(g), store));
  decoder.reserve(1, g.promptLength + Math.max(...lengths) + 1);
  console.log(`${file.replace(/.*\//, '')} on ${choice}: generation's prefill, prompts of ${lengths.join(', ')} tokens (load ${load()} at start)`);
  for (const n of lengths) {
    const [c0, m0] = [created, createMs];
    const t0 = performance.now();
    const { rows } = await decoder.start([Array.from({ length: n }, (_, i) => (i * 7919) % vocab)]);
    const ms = performance.now() - t0;
    decoder.drop(rows);
    console.log(`prompt ${n} (plans so far: ${decoder.plans.join(', ')}): prefill ${(ms / 1000).toFixed(2)} s, ${created - c0} pipelines created in ${(createMs - m0).toFixed(0)} ms (load ${load()})`);
  }
  process.exit(0);
}
