// Training-step benchmark on one WebGPU adapter: this project with LoRA, this project with full
// fine-tuning, and tfjs-webgpu with LoRA (bench/peers/tfjs.ts), the same model, weights and batch.
// The three are measured in interleaved rounds (one step of each per round, the order rotating),
// so a change in the machine's load hits all three alike; ratios are taken within each round and
// their median and spread reported. Each step ends when its loss has been read back.
import type { Plan } from '../compiler/lower/plan.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import type { GpuExecutor } from '../runtime/webgpu/executor.ts';
import { createExecutor } from '../runtime/webgpu/plans.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { BATCH, benchBatch, benchStore, benchTraining, type Method, MODEL_LABEL, OPTIMIZER, paramsByPath, type Stat, stat, type StepFlops, stepFlops } from './model.ts';
import { openTfjs, TfjsGpt2 } from './peers/tfjs.ts';
import { startTorch, type TorchPeer, torchMissing } from './peers/torch.ts';

export interface GpuLabel {
  choice: string;
  description: string;
  backend: string;
  featureLevel: string;
}

/** The plan's memory report by category, in bytes. */
export interface MemoryReport {
  frozen: number;
  trainable: number;
  grads: number;
  optimizerState: number;
  optimizerScratch: number;
  activations: number;
  activationsLiveMax: number;
  inputs: number;
  total: number;
  /** trainable + grads + optimizerState. */
  trainableState: number;
}

export interface StepRecord {
  ms: Stat;
  tokensPerSecond: Stat;
  /** Plan, pipelines and buffers (this project), or backend start and model upload (tfjs). */
  setupMs: number;
  /** The first (warm-up) step: tfjs compiles its shaders here. */
  firstStepMs: number;
  dispatchesPerStep: number;
  losses: number[];
}

export interface TrainResult {
  /** The WebGPU adapter it ran on (`adapter`: the key results.json has always had). */
  adapter: GpuLabel;
  model: string;
  tokensPerStep: number;
  warmup: number;
  reps: number;
  ours: { lora: StepRecord; full: StepRecord; shaders: { lora: number; full: number } };
  tfjs: StepRecord | { error: string };
  /** PyTorch on the CPU (bench/torch_gpt2_lora.py), in the same rounds; its own step timer. */
  torch: (StepRecord & { version: string; threads: number }) | { skipped: string };
  /** Per round: this project's LoRA tokens/s over tfjs's (= tfjs step time over ours). */
  tfjsRatio?: Stat;
  /** Per round: LoRA step time over full fine-tuning step time. */
  loraVsFull: Stat;
  /** Largest relative difference between this project's and tfjs's loss at the same step. */
  tfjsLossMaxRelDiff?: number;
  /** Per round: this project's LoRA tokens/s (this adapter) over PyTorch's on the CPU. */
  torchRatio?: Stat;
  torchLossMaxRelDiff?: number;
  memory: { lora: MemoryReport; full: MemoryReport; trainableStateFraction: number };
  /** Matmul-class FLOPs per step (model.ts stepFlops) and their ratio, LoRA over full. */
  flops: { lora: StepFlops; full: StepFlops; ratio: number };
  /** This project's LoRA step, each dispatch timed on its own, summed by kernel family. */
  profile?: { totalMs: number; families: { family: string; ms: number; count: number }[] };
}

export function memoryReport(plan: Plan): MemoryReport {
  const s = plan.stats;
  const total = s.frozenBytes + s.trainableBytes + s.gradBytes + s.optimizerStateBytes + s.optimizerScratchBytes + s.activationPeakBytes + s.inputBytes;
  return {
    frozen: s.frozenBytes,
    trainable: s.trainableBytes,
    grads: s.gradBytes,
    optimizerState: s.optimizerStateBytes,
    optimizerScratch: s.optimizerScratchBytes,
    activations: s.activationPeakBytes,
    activationsLiveMax: s.activationLiveMaxBytes,
    inputs: s.inputBytes,
    total,
    trainableState: s.trainableBytes + s.gradBytes + s.optimizerStateBytes,
  };
}

/** Counts compute dispatches (any device) while `f` runs. */
async function countDispatches<T>(f: () => Promise<T>): Promise<{ value: T; dispatches: number }> {
  const proto = (globalThis as unknown as { GPUComputePassEncoder: { prototype: GPUComputePassEncoder } }).GPUComputePassEncoder.prototype;
  const original = proto.dispatchWorkgroups;
  let dispatches = 0;
  proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...args: Parameters<GPUComputePassEncoder['dispatchWorkgroups']>) {
    dispatches++;
    return original.apply(this, args);
  };
  try {
    return { value: await f(), dispatches };
  } finally {
    proto.dispatchWorkgroups = original;
  }
}

const family = (kernel: string): string => kernel.replace(/_\d.*$/, '').replace(/_\[.*$/, '');

export interface TrainOptions {
  gpu: GpuChoice;
  warmup: number;
  reps: number;
  tfjs: boolean;
  /** Run the PyTorch reference (when torch is installed) with this many threads; 0: not at all. */
  torchThreads: number;
  profile: boolean;
  log?: (line: string) => void;
}

export async function runTrainBench(o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? (() => undefined);
  const batch = benchBatch();
  const tokensPerStep = BATCH.B * BATCH.T;
  const gpu = await openNodeGpu({ gpu: o.gpu });
  const label = { choice: o.gpu, description: gpu.info.description, backend: gpu.info.backend, featureLevel: gpu.info.featureLevel };

  interface Runner {
    name: string;
    setupMs: number;
    /** One step; resolves to its loss, and its own time when the runner measures it. */
    step: () => Promise<{ loss: number; ms?: number }>;
    times: number[];
    losses: number[];
    first: number;
    dispatches: number;
  }
  const runners: Runner[] = [];
  const plans = new Map<Method, Plan>();
  const flops = new Map<Method, StepFlops>();
  const execs: GpuExecutor[] = [];
  for (const method of ['lora', 'full'] as const) {
    const t = benchTraining(method);
    flops.set(method, stepFlops(t));
    const t0 = performance.now();
    const exec = await createExecutor(gpu, t, BATCH, { store: benchStore(t.graph) });
    execs.push(exec);
    plans.set(method, exec.plan);
    runners.push({ name: method, setupMs: performance.now() - t0, step: async () => ({ loss: (await exec.step(batch)).loss }), times: [], losses: [], first: 0, dispatches: 0 });
  }

  let tfjsError: string | undefined;
  let tfjsModel: TfjsGpt2 | undefined;
  if (o.tfjs) {
    try {
      // A device of its own on the same adapter (another requestAdapter of the same Dawn instance).
      const t0 = performance.now();
      const tfGpu = await openNodeGpu({ gpu: o.gpu });
      const tf = await openTfjs(tfGpu);
      const t = benchTraining('lora');
      const trainable = new Set(t.graph.params.filter((p) => p.partition === 'trainable').map((p) => p.path));
      const model = new TfjsGpt2(tf, paramsByPath(benchStore(t.graph)), trainable, BATCH, OPTIMIZER);
      tfjsModel = model;
      const tokens = tf.tensor(batch.tokens.data as Int32Array, batch.tokens.shape, 'int32');
      const targets = tf.tensor(batch.targets.data as Int32Array, batch.targets.shape, 'int32');
      runners.push({ name: 'tfjs', setupMs: performance.now() - t0, step: async () => {
          const loss = await model.step(tokens, targets);
          await tfGpu.sync(); // throws if any of tfjs's commands failed validation
          return { loss };
        }, times: [], losses: [], first: 0, dispatches: 0 });
    } catch (e) {
      tfjsError = (e as Error).message;
      log(`tfjs-webgpu did not start on ${o.gpu}: ${tfjsError}`);
    }
  }

  let torchSkipped: string | undefined = 'not asked for';
  let torch: TorchPeer | undefined;
  if (o.torchThreads > 0) {
    torchSkipped = torchMissing();
    if (!torchSkipped) {
      try {
        const t0 = performance.now();
        torch = await startTorch(benchTraining('lora'), 'lora', o.torchThreads);
        const peer = torch;
        runners.push({ name: 'torch', setupMs: performance.now() - t0, step: () => peer.step(), times: [], losses: [], first: 0, dispatches: 0 });
      } catch (e) {
        torchSkipped = `the PyTorch reference failed: ${(e as Error).message}`;
      }
    }
    if (torchSkipped) log(`PyTorch reference skipped: ${torchSkipped}`);
  }

  const rounds = o.warmup + o.reps;
  for (let r = 0; r < rounds; r++) {
    const order = runners.map((_, i) => runners[(i + r) % runners.length]!);
    for (const run of order) {
      const t0 = performance.now();
      const { value, dispatches } = await countDispatches(run.step);
      const ms = value.ms ?? performance.now() - t0;
      const loss = value.loss;
      run.losses.push(loss);
      run.dispatches = dispatches;
      if (r === 0) run.first = ms;
      if (r >= o.warmup) run.times.push(ms);
      log(`${o.gpu} round ${r + 1}/${rounds}${r < o.warmup ? ' (warm-up)' : ''}: ${run.name} ${ms.toFixed(0)} ms, loss ${loss.toFixed(5)}`);
    }
  }

  const record = (run: Runner): StepRecord => ({
    ms: stat(run.times),
    tokensPerSecond: stat(run.times.map((ms) => tokensPerStep / (ms / 1000))),
    setupMs: run.setupMs,
    firstStepMs: run.first,
    dispatchesPerStep: run.dispatches,
    losses: run.losses,
  });
  const [lora, full] = runners as [Runner, Runner];
  const tfjs = runners.find((r) => r.name === 'tfjs');
  const torchRun = runners.find((r) => r.name === 'torch');
  const perRound = (a: Runner, b: Runner) => stat(a.times.map((x, i) => x / b.times[i]!));

  let profile: TrainResult['profile'];
  if (o.profile) {
    log(`${o.gpu}: profiling this project's LoRA step (each dispatch on its own)`);
    const prof = await execs[0]!.profile(batch);
    const byFamily = new Map<string, { ms: number; count: number }>();
    for (const p of prof) {
      const f = byFamily.get(family(p.kernel)) ?? { ms: 0, count: 0 };
      f.ms += p.ms;
      f.count++;
      byFamily.set(family(p.kernel), f);
    }
    profile = {
      totalMs: prof.reduce((a, p) => a + p.ms, 0),
      families: [...byFamily].map(([f, v]) => ({ family: f, ...v })).sort((a, b) => b.ms - a.ms),
    };
  }

  const memLora = memoryReport(plans.get('lora')!);
  const memFull = memoryReport(plans.get('full')!);
  const result: TrainResult = {
    adapter: label,
    model: MODEL_LABEL,
    tokensPerStep,
    warmup: o.warmup,
    reps: o.reps,
    ours: { lora: record(lora), full: record(full), shaders: { lora: plans.get('lora')!.shaders.length, full: plans.get('full')!.shaders.length } },
    tfjs: tfjs ? record(tfjs) : { error: tfjsError ?? 'not run' },
    torch: torchRun && torch ? { ...record(torchRun), dispatchesPerStep: 0, version: torch.version, threads: torch.threads } : { skipped: torchSkipped ?? 'not run' },
    loraVsFull: perRound(lora, full),
    memory: { lora: memLora, full: memFull, trainableStateFraction: memLora.trainableState / memFull.trainableState },
    flops: { lora: flops.get('lora')!, full: flops.get('full')!, ratio: flops.get('lora')!.total / flops.get('full')!.total },
    profile,
  };
  if (tfjs) {
    result.tfjsRatio = perRound(tfjs, lora);
    result.tfjsLossMaxRelDiff = Math.max(...tfjs.losses.map((l, i) => Math.abs(l - lora.losses[i]!) / Math.abs(lora.losses[i]!)));
  }
  if (torchRun) {
    result.torchRatio = perRound(torchRun, lora);
    result.torchLossMaxRelDiff = Math.max(...torchRun.losses.map((l, i) => Math.abs(l - lora.losses[i]!) / Math.abs(lora.losses[i]!)));
  }
  torch?.close();
  tfjsModel?.dispose();
  for (const e of execs) e.destroy();
  return result;
}
