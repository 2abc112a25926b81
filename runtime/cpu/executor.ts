// The CPU reference executor: interprets a Training IR (forward, loss, backward) with
// the kernels of runtime/cpu/kernels. Intermediate tensors are released after their
// last use. It is the oracle every GPU kernel is checked against, and the `cpu` backend.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { evalDim, type DimEnv } from '../../compiler/ir/dims.ts';
import { checkSequenceFits } from '../../compiler/positions.ts';
import type { Attrs, Node } from '../../compiler/ir/types.ts';
import { paramView, type ParamStore } from '../arena.ts';
import { clearAttentionCache, KERNELS, type Kernel } from './kernels/index.ts';
import type { FloatTensor, Precision, Tensor } from './tensor.ts';

export interface Batch {
  /** i32 [B, T]. */
  tokens: Tensor;
  /** i32 [B, S] (language model, -100 = ignored) or [B] (classification). */
  targets: Tensor;
  /**
   * Further graph inputs by name, e.g. `adapter_ids` i32 [B] (docs/multi-adapter.md), or `lengths`
   * i32 [B] (each row's real positions, soft prompt included; default: all of them).
   */
  extra?: Record<string, Tensor>;
}

export interface RunOptions {
  precision: Precision;
  training: boolean;
  step: number;
  /** Run the backward part too (default true). */
  backward?: boolean;
}

export interface RunResult {
  loss: number;
  logits: FloatTensor;
  /** Gradient of every trainable parameter the loss depends on, by path. */
  grads: Map<string, FloatTensor>;
}

/** Attributes that may hold a symbolic dimension (`"T"`), resolved per batch. */
const DIM_ATTRS = ['size', 'total'];

export class CpuExecutor {
  private readonly lastUse: number[];

  /**
   * `kernels`: the table of kernels by op (the reference's by default; the wasm backend's replaces
   * the hot ones with f32 WebAssembly kernels, runtime/wasm/kernels.ts).
   */
  constructor(
    readonly t: TrainingGraph,
    private readonly kernels: Readonly<Record<string, Kernel>> = KERNELS,
  ) {
    const nodes = t.graph.nodes;
    this.lastUse = nodes.map((n) => n.id);
    for (const n of nodes) for (const i of n.inputs) this.lastUse[i] = Math.max(this.lastUse[i]!, n.id);
    const keep = [t.graph.outputs.logits, t.graph.outputs.loss, ...t.grads.map((g) => g.node)];
    for (const k of keep) this.lastUse[k] = Infinity;
  }

  run(store: ParamStore, batch: Batch, opts: RunOptions): RunResult {
    const nodes = this.t.graph.nodes;
    const end = opts.backward === false ? this.t.forwardEnd : nodes.length;
    const env: DimEnv = { B: batch.tokens.shape[0]!, T: batch.tokens.shape[1]! };
    checkSequenceFits(this.t.graph, env.T!);
    const values: (Tensor | undefined)[] = new Array(nodes.length);
    const ctx = { precision: opts.precision, step: opts.step, training: opts.training };
    clearAttentionCache();
    for (let id = 0; id < end; id++) {
      const n = nodes[id]!;
      values[id] = this.evalNode(n, values, store, batch, env, ctx);
      for (const i of n.inputs) if (this.lastUse[i] === id) values[i] = undefined;
    }
    const grads = new Map<string, FloatTensor>();
    if (end === nodes.length) for (const g of this.t.grads) grads.set(g.path, values[g.node] as FloatTensor);
    return {
      loss: values[this.t.graph.outputs.loss]!.data[0]!,
      logits: values[this.t.graph.outputs.logits] as FloatTensor,
      grads,
    };
  }

  /** The value of one forward node (e.g. the prefix table), computing only what it needs. */
  value(store: ParamStore, batch: Batch, id: number, opts: RunOptions): Tensor {
    const nodes = this.t.graph.nodes;
    const env: DimEnv = { B: batch.tokens.shape[0]!, T: batch.tokens.shape[1]! };
    const values: (Tensor | undefined)[] = new Array(nodes.length);
    const ctx = { precision: opts.precision, step: opts.step, training: opts.training };
    for (let i = 0; i <= id; i++) values[i] = this.evalNode(nodes[i]!, values, store, batch, env, ctx);
    return values[id]!;
  }

  private evalNode(n: Node, values: (Tensor | undefined)[], store: ParamStore, batch: Batch, env: DimEnv, ctx: { precision: Precision; step: number; training: boolean }): Tensor {
    if (n.op === 'param') {
      const data = paramView(store, n.attrs.path as string);
      return { shape: n.shape as number[], data };
    }
    if (n.op === 'input') return inputOf(batch, n, this.t.graph.promptLength, env);
    const kernel = this.kernels[n.op];
    if (!kernel) throw new Error(`no CPU kernel for ${n.op}`);
    const inputs = n.inputs.map((i) => {
      const v = values[i];
      if (!v) throw new Error(`executor: value %${i} used by %${n.id} was released or never computed`);
      return v;
    });
    return kernel(inputs, resolveAttrs(n.attrs, env), ctx);
  }
}

/** `lengths` when the batch leaves it out: every row is real, T + P positions (P soft prompt tokens). */
export function fullLengths(batch: Batch, promptLength: number): Tensor {
  const [B, T] = batch.tokens.shape as [number, number];
  return { shape: [B], data: new Int32Array(B).fill(T + promptLength) };
}

function inputOf(batch: Batch, n: Node, promptLength: number, env: DimEnv): Tensor {
  const name = n.attrs.name as string;
  if (name === 'tokens') return batch.tokens;
  if (name === 'targets') return batch.targets;
  // `lengths` (LENGTHS of compiler/ir/types.ts, spelled out: built trainers carry no compiler module)
  if (name === 'lengths' && !batch.extra?.[name]) return fullLengths(batch, promptLength);
  const t = batch.extra?.[name] ?? filledInput(n, env);
  if (!t) throw new Error(`executor: the graph has an input \`${name}\` that the batch does not give`);
  return t;
}

/** An input with a `fill` attribute (a LoRA rank mask) that the batch leaves out: that value everywhere. */
export function filledInput(n: Node, env?: DimEnv): Tensor | undefined {
  const fill = n.attrs.fill;
  if (typeof fill !== 'number') return undefined;
  // Symbolic dims (`token_types` is [B, T+P]) take the batch's sizes.
  const shape = n.shape.map((d) => (typeof d === 'number' ? d : env ? evalDim(d, env) : NaN));
  if (shape.some((d) => !Number.isInteger(d))) return undefined;
  const size = shape.reduce((a, b) => a * b, 1);
  return { shape, data: (n.dtype === 'i32' ? new Int32Array(size) : new Float32Array(size)).fill(fill) };
}

function resolveAttrs(attrs: Attrs, env: DimEnv): Attrs {
  if (!DIM_ATTRS.some((k) => typeof attrs[k] === 'string')) return attrs;
  const out = { ...attrs };
  for (const k of DIM_ATTRS) if (typeof out[k] === 'string') out[k] = evalDim(out[k] as string, env);
  return out;
}
