// Training at GPT-2-small size (examples/gpt2-lora.peft as it is: 12 layers, n_embd 768, vocab
// 50257; LoRA r = 8 on c_attn; dropout off) on the software WebGPU adapters, the CPU reference
// backend and the wasm backend (f32 WebAssembly SIMD on every core), against PyTorch on the CPU with the fastest correct BLAS found (bench/peers/blas.ts),
// with 1 and with 2 threads: on a loaded machine PyTorch's 2 OpenMP threads wait on each other at
// every elementwise op (measured here at load 12: 15 s a step against 3 s with one thread), so
// each round compares with the faster of the two, PyTorch at its best in that round.
// For each batch (B × 128 tokens) every implementation takes one step per round, the order
// rotating, so a change in the machine's load hits them alike; the tokens/s ratio to PyTorch is
// taken within each round. The first round is the warm-up and gives the first-step time (this
// project compiles its pipelines before it: "setup").
import { resolve } from 'node:path';
import { nodeHost } from '../cli/node-host.ts';
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { compile } from '../compiler/build.ts';
import { threadCount } from '../cli/backend-choice.ts';
import { CpuBackend } from '../runtime/backend.ts';
import type { Batch } from '../runtime/cpu/executor.ts';
import { Random } from '../runtime/cpu/random.ts';
import { lmTargets } from '../runtime/targets.ts';
import { GPU_CHOICES, type GpuChoice } from '../runtime/webgpu/device.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { createExecutor } from '../runtime/webgpu/plans.ts';
import type { BlasChoice } from './peers/blas.ts';
import { benchStore, OPTIMIZER, paramsByPath, type Stat, stat } from './model.ts';
import { startTorchJob, type TorchPeer } from './peers/torch.ts';

export const GPT2S = { vocab: 50257, embd: 768, layers: 12, heads: 12, rank: 8, alpha: 16, eps: 1e-5, T: 128 };
export const GPT2S_LABEL = `GPT-2 small (examples/gpt2-lora.peft: vocab ${GPT2S.vocab}, n_embd ${GPT2S.embd}, ${GPT2S.layers} layers, ${GPT2S.heads} heads), LoRA r = ${GPT2S.rank} on c_attn, dropout 0`;

export interface Gpt2sRunner {
  /** 'llvmpipe', 'swiftshader', 'cpu' (this project's CPU backend), 'wasm' (its wasm backend) or 'torch Nt' (PyTorch on N threads). */
  name: string;
  description: string;
  /** Plan, pipelines and upload (WebGPU), executor (CPU), start and weight load (PyTorch). */
  setupMs: number;
  /** The warm-up round's step. */
  firstStepMs: number;
  ms: Stat;
  tokensPerSecond: Stat;
  losses: number[];
}

export interface Gpt2sBatch {
  B: number;
  T: number;
  warmup: number;
  reps: number;
  runners: Gpt2sRunner[];
  /** Per round: this implementation's tokens/s over PyTorch's (the faster thread count of the round), by runner name. */
  vsTorch: Record<string, Stat>;
  /** Largest relative difference of a runner's loss from PyTorch's at the same step. */
  lossMaxRelDiff: Record<string, number>;
  errors: string[];
}

export interface Gpt2sResult {
  model: string;
  torch: { version: string; threads: number[]; blas: BlasChoice } | { skipped: string };
  batches: Gpt2sBatch[];
}

/** One batch size and what runs at it (besides PyTorch): WebGPU adapters, the CPU backend, the wasm backend. */
export interface Gpt2sPlanEntry {
  B: number;
  gpus: GpuChoice[];
  cpu: boolean;
  wasm: boolean;
}

/** The plan of the full run: every runner at B 1 and B 4. */
export const FULL_GPT2S_PLAN = '1:llvmpipe,swiftshader,cpu,wasm;4:llvmpipe,swiftshader,cpu,wasm';
/** The quick run's: the fast WebGPU adapter (gpt2s_train_vs_torch) and the wasm backend (gpt2s_wasm_train_vs_torch) at B 1. */
export const QUICK_GPT2S_PLAN = '1:llvmpipe,wasm';

/** The runners a plan may name besides the WebGPU adapters. */
const CPU_RUNNERS = ['cpu', 'wasm'];

/**
 * Parses a plan like `1:llvmpipe,swiftshader,cpu,wasm;4:llvmpipe`: per batch size, the adapters,
 * `cpu` for this project's CPU backend and `wasm` for its wasm backend (a slow runner can be left
 * out of the large batch).
 */
export function parseGpt2sPlan(text: string): Gpt2sPlanEntry[] {
  return text.split(';').filter(Boolean).map((part) => {
    const [b, who = ''] = part.split(':');
    const B = Number(b);
    if (!Number.isInteger(B) || B < 1) throw new Error(`gpt2s plan: \`${part}\` does not start with a batch size (e.g. 1:llvmpipe,cpu,wasm)`);
    const names = who.split(',').filter(Boolean);
    const unknown = names.find((n) => !CPU_RUNNERS.includes(n) && !(GPU_CHOICES as readonly string[]).includes(n));
    if (unknown) throw new Error(`gpt2s plan: \`${unknown}\` in \`${part}\` is not a runner (${[...GPU_CHOICES, ...CPU_RUNNERS].join(', ')})`);
    return { B, gpus: names.filter((n) => !CPU_RUNNERS.includes(n)) as GpuChoice[], cpu: names.includes('cpu'), wasm: names.includes('wasm') };
  });
}

export interface Gpt2sOptions {
  plan: Gpt2sPlanEntry[];
  warmup: number;
  reps: number;
  /** PyTorch's thread counts, each its own runner (empty: no PyTorch). */
  torchThreads: number[];
  /** The BLAS the PyTorch peer runs on (peers/blas.ts), or why it does not run. */
  blas: BlasChoice | { skipped: string };
  log?: (line: string) => void;
}

export function gpt2sTraining(): TrainingGraph {
  const file = resolve(import.meta.dirname, '../examples/gpt2-lora.peft');
  const res = compile(file, nodeHost, { set: ['resid_pdrop=0,attn_pdrop=0,embd_pdrop=0'], full: false });
  if (!res.graph) throw new Error('examples/gpt2-lora.peft did not compile');
  return buildTrainingGraph(res.graph, OPTIMIZER);
}

function gpt2sBatch(B: number): Batch {
  const rng = new Random(1);
  const tokens = { shape: [B, GPT2S.T], data: Int32Array.from({ length: B * GPT2S.T }, () => rng.int(GPT2S.vocab)) };
  return { tokens, targets: lmTargets(tokens) };
}

interface Live {
  name: string;
  description: string;
  setupMs: number;
  step: () => Promise<{ loss: number; ms?: number }>;
  close: () => void;
  times: number[];
  losses: number[];
  first: number;
}

async function startTorch(t: TrainingGraph, batch: Batch, threads: number, blas: BlasChoice): Promise<TorchPeer> {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [path, p] of paramsByPath(benchStore(t.graph))) tensors[path] = p;
  const opt = t.optimizer;
  const config = {
    n_embd: GPT2S.embd, n_head: GPT2S.heads, n_layer: GPT2S.layers, eps: GPT2S.eps, r: GPT2S.rank, alpha: GPT2S.alpha,
    lr: opt.lr, beta1: opt.beta1, beta2: opt.beta2, eps_adam: opt.eps, clip: opt.clipNorm,
  };
  const [B, T] = batch.tokens.shape as [number, number];
  const rows = (d: ArrayLike<number>) => Array.from({ length: B }, (_, b) => Array.from(d).slice(b * T, (b + 1) * T));
  return startTorchJob({ tensors, config, tokens: rows(batch.tokens.data), targets: rows(batch.targets.data), method: 'lora', threads, env: blas.env, unset: blas.unset });
}

async function runners(t: TrainingGraph, batch: Batch, o: Gpt2sOptions, at: Gpt2sPlanEntry, errors: string[]): Promise<Live[]> {
  const log = o.log ?? (() => undefined);
  const [B, T] = batch.tokens.shape as [number, number];
  const out: Live[] = [];
  const live = (name: string, description: string, setupMs: number, step: Live['step'], close: () => void) =>
    out.push({ name, description, setupMs, step, close, times: [], losses: [], first: 0 });
  for (const choice of at.gpus) {
    try {
      const gpu = await openNodeGpu({ gpu: choice });
      const t0 = performance.now();
      const exec = await createExecutor(gpu, t, { B, T }, { store: benchStore(t.graph) });
      live(choice, `${gpu.info.description} (${gpu.info.backend})`, performance.now() - t0, async () => ({ loss: (await exec.step(batch)).loss }), () => {
        exec.destroy();
        gpu.destroy();
      });
    } catch (e) {
      errors.push(`${choice}: ${(e as Error).message}`);
      log(`${choice} did not start: ${(e as Error).message}`);
    }
  }
  if (at.cpu) {
    const t0 = performance.now();
    const cpu = new CpuBackend(t, benchStore(t.graph));
    live('cpu', "this project's CPU backend (f32)", performance.now() - t0, async () => ({ loss: (await cpu.step(batch, t.optimizer.lr)).loss }), () => undefined);
  }
  if (at.wasm) {
    try {
      const t0 = performance.now();
      const threads = threadCount(undefined);
      const { openWasmBackend } = await import('../runtime/wasm/backend.ts');
      const wasm = openWasmBackend(t, benchStore(t.graph), { threads });
      live('wasm', wasmLabel(threads), performance.now() - t0, async () => ({ loss: (await wasm.step(batch, t.optimizer.lr)).loss }), () => undefined);
    } catch (e) {
      errors.push(`wasm: ${(e as Error).message}`);
      log(`wasm did not start: ${(e as Error).message}`);
    }
  }
  for (const threads of 'env' in o.blas ? o.torchThreads : []) {
    const blas = o.blas as BlasChoice;
    try {
      const t0 = performance.now();
      const torch = await startTorch(t, batch, threads, blas);
      live(`torch ${threads}t`, `PyTorch ${torch.version}, ${blas.blas}${blas.architecture ? ` (${blas.architecture})` : ''}, ${torch.threads} thread${torch.threads === 1 ? '' : 's'}`, performance.now() - t0, () => torch.step(), () => torch.close());
    } catch (e) {
      errors.push(`PyTorch, ${threads} threads: ${(e as Error).message}`);
      log(`PyTorch (${threads} threads) did not start: ${(e as Error).message}`);
    }
  }
  return out;
}

async function runBatch(t: TrainingGraph, at: Gpt2sPlanEntry, o: Gpt2sOptions): Promise<Gpt2sBatch> {
  const log = o.log ?? (() => undefined);
  const B = at.B;
  const batch = gpt2sBatch(B);
  const errors: string[] = [];
  const all = await runners(t, batch, o, at, errors);
  const rounds = o.warmup + o.reps;
  const failed = new Set<Live>();
  for (let r = 0; r < rounds; r++) {
    const order = all.map((_, i) => all[(i + r) % all.length]!).filter((x) => !failed.has(x));
    for (const run of order) {
      const t0 = performance.now();
      try {
        const v = await run.step();
        const ms = v.ms ?? performance.now() - t0;
        run.losses.push(v.loss);
        if (r === 0) run.first = ms;
        if (r >= o.warmup) run.times.push(ms);
        log(`B=${B} round ${r + 1}/${rounds}${r < o.warmup ? ' (warm-up)' : ''}: ${run.name} ${(ms / 1000).toFixed(1)} s, loss ${v.loss.toFixed(5)}`);
      } catch (e) {
        failed.add(run);
        errors.push(`${run.name}, B=${B}, round ${r + 1}: ${(e as Error).message}`);
        log(`${run.name} failed: ${(e as Error).message}`);
      }
    }
  }
  for (const run of all) run.close();
  const ok = all.filter((x) => !failed.has(x) && x.times.length > 0);
  const tokens = B * GPT2S.T;
  const torches = ok.filter((x) => x.name.startsWith('torch'));
  // PyTorch at its best in each round: the faster of its thread counts.
  const best = torches.length ? ok[0]!.times.map((_, i) => Math.min(...torches.map((x) => x.times[i] ?? Infinity))) : [];
  const vsTorch: Record<string, Stat> = {};
  const lossMaxRelDiff: Record<string, number> = {};
  const ref = torches[0];
  for (const run of ok) {
    if (!ref || run === ref) continue;
    if (!torches.includes(run)) vsTorch[run.name] = stat(run.times.map((ms, i) => best[i]! / ms));
    lossMaxRelDiff[run.name] = Math.max(...run.losses.map((l, i) => Math.abs(l - ref.losses[i]!) / Math.abs(ref.losses[i]!)));
  }
  return {
    B,
    T: GPT2S.T,
    warmup: o.warmup,
    reps: o.reps,
    runners: ok.map((x) => ({
      name: x.name,
      description: x.description,
      setupMs: x.setupMs,
      firstStepMs: x.first,
      ms: stat(x.times),
      tokensPerSecond: stat(x.times.map((ms) => tokens / (ms / 1000))),
      losses: x.losses,
    })),
    vsTorch,
    lossMaxRelDiff,
    errors,
  };
}

export async function runGpt2sBench(o: Gpt2sOptions): Promise<Gpt2sResult> {
  const t = gpt2sTraining();
  const batches: Gpt2sBatch[] = [];
  for (const at of o.plan) batches.push(await runBatch(t, at, o));
  const torchRun = batches.flatMap((b) => b.runners).find((r) => r.name.startsWith('torch'));
  const version = torchRun?.description.match(/^PyTorch (\S+),/)?.[1] ?? 'unknown';
  return {
    model: GPT2S_LABEL,
    torch: 'env' in o.blas ? { version, threads: o.torchThreads, blas: o.blas } : o.blas,
    batches,
  };
}

/** The wasm runner's description in the report. */
export function wasmLabel(threads: number): string {
  return `this project's wasm backend (f32, WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'})`;
}

/** The quick run's figure: the best software adapter's tokens/s over PyTorch's at the smallest batch (median of rounds). */
export function gpt2sHeadline(r: Gpt2sResult | undefined): { ratio: number | null; adapter: string | null; B: number | null } {
  const b = r?.batches[0];
  if (!b) return { ratio: null, adapter: null, B: null };
  let best: { ratio: number; adapter: string } | null = null;
  for (const [name, s] of Object.entries(b.vsTorch)) {
    if (CPU_RUNNERS.includes(name)) continue;
    if (!best || s.median > best.ratio) best = { ratio: s.median, adapter: name };
  }
  return { ratio: best?.ratio ?? null, adapter: best?.adapter ?? null, B: b.B };
}

/** The wasm backend's tokens/s over PyTorch's at B = 1 × 128 (median of rounds), or null where it did not run there. */
export function gpt2sWasmHeadline(r: Gpt2sResult | undefined): number | null {
  return r?.batches.find((b) => b.B === 1)?.vsTorch.wasm?.median ?? null;
}
