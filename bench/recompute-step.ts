// Training step time with activation recomputation (--recompute blocks) over without, measured
// interleaved on one WebGPU adapter: the two executors take turns, one step each per round, so a
// change in the machine's load hits both alike; the ratio is of the two medians. Both plans are the
// ones the trainer runs (runtime/webgpu/backend.ts): the loss over chunks of rows at the same 64 MiB
// budget, so recompute_step_ratio is the ratio users get. Also prints each plan's activation peak
// and its loss chunks. Not a test: it measures and prints (last line: JSON with --json).
//
//   npx tsx bench/recompute-step.ts [--gpu llvmpipe] [--rounds 5] [--batch 8] [--seq 128]
//                                   [--set vocab_size=256,n_positions=128,n_embd=128,n_layer=4,n_head=4] [--json]
import { resolve } from 'node:path';
import type { RecomputeMode } from '../compiler/autodiff/recompute.ts';
import { compile } from '../compiler/build.ts';
import { DEFAULT_LOSS_CHUNK_BYTES } from '../compiler/lower/plan.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { nodeHost } from '../cli/node-host.ts';
import { createStore } from '../runtime/arena.ts';
import { Random } from '../runtime/cpu/random.ts';
import { initParams } from '../runtime/init.ts';
import { lmTargets } from '../runtime/targets.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { createExecutor } from '../runtime/webgpu/plans.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { flag, gpuFlag } from './model.ts';

const argv = process.argv.slice(2);
const B = Number(flag('batch', '8', argv));
const T = Number(flag('seq', '128', argv));
const rounds = Number(flag('rounds', '5', argv));
const set = flag('set', 'vocab_size=256,n_positions=128,n_embd=128,n_layer=4,n_head=4', argv);
const choice = gpuFlag('llvmpipe', argv).split(',')[0] as GpuChoice;

const res = compile(resolve(import.meta.dirname, '../examples/gpt2-lora.peft'), nodeHost, { set: [set] });
if (!res.graph) throw new Error('examples/gpt2-lora.peft did not compile');
const g = res.graph;
const rng = new Random(1);
const vocab = g.params.find((p) => p.path === 'wte.weight')!.shape[0]!;
const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(vocab)) };
const batch = { tokens, targets: lmTargets(tokens) };
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const gpu = await openNodeGpu({ gpu: choice });
const modes: RecomputeMode[] = ['none', 'blocks'];
const runs = await Promise.all(
  modes.map(async (mode) => {
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 0 });
    const exec = await createExecutor(gpu, buildTrainingGraph(g, undefined, mode), { B, T }, { store, plan: { lossChunkBytes: DEFAULT_LOSS_CHUNK_BYTES } });
    return { mode, exec, times: [] as number[], loss: NaN };
  }),
);
for (let round = -1; round < rounds; round++) {
  // Round -1 warms up (pipelines compile, buffers fill); the order alternates by round.
  for (const r of round % 2 === 0 ? runs : [...runs].reverse()) {
    const t0 = performance.now();
    r.loss = (await r.exec.step(batch)).loss;
    if (round >= 0) r.times.push(performance.now() - t0);
  }
}
const [none, blocks] = runs as [(typeof runs)[0], (typeof runs)[0]];
const out = {
  adapter: choice,
  model: `examples/gpt2-lora.peft --set ${set}`,
  B,
  T,
  rounds,
  ms_none: +median(none.times).toFixed(1),
  ms_blocks: +median(blocks.times).toFixed(1),
  recompute_step_ratio: +(median(blocks.times) / median(none.times)).toFixed(3),
  activations_none: none.exec.plan.stats.activationPeakBytes,
  activations_blocks: blocks.exec.plan.stats.activationPeakBytes,
  loss_chunk_rows: blocks.exec.plan.stats.lossChunk?.rows ?? 0,
  loss_chunks: blocks.exec.plan.stats.lossChunk?.chunks ?? 1,
  loss_none: none.loss,
  loss_blocks: blocks.loss,
};
for (const r of runs) r.exec.destroy();
gpu.destroy();
if (argv.includes('--json')) console.log(JSON.stringify(out));
else console.log(out);
process.exit(0);
