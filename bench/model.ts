// The benchmark's model, batch and statistics, shared by every part of `npm run bench`: one
// GPT-2-style model (examples/gpt2.peft with vocab 256, n_embd 128, 4 layers, 4 heads, 128
// positions), dropout off, LoRA r = 8 (α = 16) on c_attn (examples/gpt2-lora.peft) or every
// parameter trainable (full fine-tuning), batch 8 × 128 tokens, AdamW with weight decay 0 (so it
// is Adam, as tfjs's and PyTorch's steps are) and gradient clipping at global norm 1.
import { resolve } from 'node:path';
import { nodeHost } from '../cli/node-host.ts';
import { DEFAULT_OPTIMIZER, type TrainingGraph } from '../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { compile } from '../compiler/build.ts';
import { evalDim } from '../compiler/ir/dims.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../runtime/arena.ts';
import type { Batch } from '../runtime/cpu/executor.ts';
import { fillNormal, Random } from '../runtime/cpu/random.ts';
import { initParams } from '../runtime/init.ts';
import { lmTargets } from '../runtime/targets.ts';

export const MODEL = { vocab: 256, positions: 128, embd: 128, layers: 4, heads: 4, rank: 8, alpha: 16, eps: 1e-5 };
export const BATCH = { B: 8, T: 128 };
export const OPTIMIZER = { ...DEFAULT_OPTIMIZER, weightDecay: 0 };
export const SET =
  `vocab_size=${MODEL.vocab},n_positions=${MODEL.positions},n_embd=${MODEL.embd},n_layer=${MODEL.layers},` +
  `n_head=${MODEL.heads},resid_pdrop=0,attn_pdrop=0,embd_pdrop=0`;
export const MODEL_LABEL =
  `GPT-2 (vocab ${MODEL.vocab}, n_embd ${MODEL.embd}, ${MODEL.layers} layers, ${MODEL.heads} heads), ` +
  `batch ${BATCH.B} × ${BATCH.T} tokens, dropout 0`;

export type Method = 'lora' | 'full';

/**
 * The model IR of the benchmark model: LoRA on c_attn (examples/gpt2-lora.peft), or full
 * fine-tuning of the same model without LoRA (examples/gpt2.peft, every parameter trainable).
 */
export function benchGraph(method: Method, set = SET): Graph {
  const name = method === 'lora' ? 'gpt2-lora.peft' : 'gpt2.peft';
  const res = compile(resolve(import.meta.dirname, '../examples', name), nodeHost, { set: [set], full: method === 'full' });
  if (!res.graph) throw new Error(`examples/${name} did not compile with --set ${set}`);
  return res.graph;
}

export function benchTraining(method: Method): TrainingGraph {
  return buildTrainingGraph(benchGraph(method), OPTIMIZER);
}

/**
 * Seeded parameters. LoRA's B starts at zero in training, which would make A's gradient zero
 * and hide a wrong peer model; here B is small and random so every gradient is non-trivial and
 * the losses of the implementations can be compared step by step.
 */
export function benchStore(g: Graph): ParamStore {
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: 0 });
  const rng = new Random(7);
  for (const arena of [store.frozen, store.trainable]) {
    for (const s of arena.slots) {
      if (s.param.path.endsWith('lora_B.weight')) fillNormal(arena.view(s.param.path) as Float32Array, rng, 0.02);
    }
  }
  return store;
}

/** A fixed batch of random tokens and its next-token targets (last position ignored). */
export function benchBatch(): Batch {
  const rng = new Random(1);
  const tokens = { shape: [BATCH.B, BATCH.T], data: Int32Array.from({ length: BATCH.B * BATCH.T }, () => rng.int(MODEL.vocab)) };
  return { tokens, targets: lmTargets(tokens) };
}

/** Every parameter's values by path (copies), from either arena. */
export function paramsByPath(store: ParamStore): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const arena of [store.frozen, store.trainable]) {
    for (const s of arena.slots) out.set(s.param.path, { shape: [...s.param.shape], data: Float32Array.from(arena.view(s.param.path)) });
  }
  return out;
}

/** Matmul-class FLOPs of one step by kind (model.ts stepFlops). */
export interface StepFlops {
  /** Linear layers: forward, input gradients (as linears), LoRA. */
  linear: number;
  /** Weight gradients (xᵀ·dy). */
  weightGrad: number;
  attention: number;
  attentionGrad: number;
  total: number;
}

/**
 * The step's matmul-class FLOPs from its Training IR: every linear (forward and input
 * gradients), every weight gradient, and attention counted dense (4·B·T²·C forward, twice that
 * for its backward, shared by the q, k and v gradient ops). The rest (norms, adds, the
 * optimizer) is a few percent. At equal efficiency per FLOP, step times would stand in this ratio.
 */
export function stepFlops(t: TrainingGraph, dims = BATCH): StepFlops {
  const nodes = t.graph.nodes;
  const size = (shape: readonly (number | string)[]) => shape.reduce<number>((a, d) => a * evalDim(d as never, dims), 1);
  const lastDim = (shape: readonly (number | string)[]) => evalDim(shape[shape.length - 1] as never, dims);
  const f: StepFlops = { linear: 0, weightGrad: 0, attention: 0, attentionGrad: 0, total: 0 };
  for (const n of nodes) {
    const x = nodes[n.inputs[0]!];
    if (!x) continue;
    if (n.op === 'linear') f.linear += 2 * size(n.shape) * lastDim(x.shape);
    else if (n.op === 'linear_grad_weight') f.weightGrad += 2 * size(n.shape) * (size(x.shape) / lastDim(x.shape));
    else if (n.op === 'attention') f.attention += 4 * size(n.shape) * dims.T;
    else if (n.op.startsWith('attention_grad_')) f.attentionGrad += (8 / 3) * size(n.shape) * dims.T;
  }
  f.total = f.linear + f.weightGrad + f.attention + f.attentionGrad;
  return f;
}

// ------------------------------------------------------------------ statistics

/** Repetitions of one measurement: the median and the spread (min, max, interquartile range). */
export interface Stat {
  median: number;
  min: number;
  max: number;
  q1: number;
  q3: number;
  reps: number;
}

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (i - lo);
}

export function stat(xs: readonly number[]): Stat {
  if (xs.length === 0) throw new Error('stat of no values');
  const s = [...xs].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), min: s[0]!, max: s[s.length - 1]!, q1: quantile(s, 0.25), q3: quantile(s, 0.75), reps: s.length };
}

/** A stat of x ↦ f(x) (f monotone decreasing flips min and max). */
export function mapStat(st: Stat, f: (x: number) => number): Stat {
  const a = f(st.min);
  const b = f(st.max);
  const c = f(st.q1);
  const d = f(st.q3);
  return { median: f(st.median), min: Math.min(a, b), max: Math.max(a, b), q1: Math.min(c, d), q3: Math.max(c, d), reps: st.reps };
}

/**
 * The WebGPU adapters a benchmark runs on: `--gpu a,b` as in the CLI; `--adapter` is its old
 * name, still read, with a note.
 */
export function gpuFlag(fallback: string, argv = process.argv): string {
  if (argv.includes('--gpu')) return flag('gpu', fallback, argv);
  if (argv.includes('--adapter')) {
    process.stderr.write('note: --adapter is now --gpu (as in peftc); --adapter still works for now\n');
    return flag('adapter', fallback, argv);
  }
  return fallback;
}

/** Command-line flag value (`--name value`), or the fallback. */
export function flag(name: string, fallback: string, argv = process.argv): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}
