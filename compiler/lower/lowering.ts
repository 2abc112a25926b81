// What every part of the planner shares while it lowers one Training IR: the plan being written
// (buffers, shaders, steps), where each value lives (regions, aliases), the activation pool, and
// the primitives that add to them: a buffer, a deduplicated shader, a dispatch step whose
// bindings are checked against the kernel's and the binding limit. The parts — plan.ts
// (orchestration, arenas), matmul.ts, loss.ts, pieces.ts, optimizer.ts — are functions of it.
import type { TrainingGraph } from '../autodiff/backward.ts';
import { evalShape } from '../ir/dims.ts';
import type { Node } from '../ir/types.ts';
import type { QuantTensor } from '../quant/slot.ts';
import type { QuantDtype } from '../quant/weight.ts';
import type { FusionKind, Group } from './fuse.ts';
import { type BindingName, type Kernel, type KernelBackend, type TensorSpec, WRITTEN } from './kernels.ts';
import type { KvCacheSize } from './kv-cache-spec.ts';
import { BufferPool, alignUp } from './memory.ts';
import { PlanError } from './plan-error.ts';
import { SplitError, type Window } from './split.ts';
import type { BufferKind, Phase, PlanBuffer, PlanShader, PlanStep, Region } from './types.ts';

export interface PlanOptions {
  /** Include backward and optimizer (default true). */
  backward?: boolean;
  /** Dropout as in training (default) or the identity (evaluation: no kernel, the value is aliased). */
  dropout?: 'train' | 'eval';
  /** Reuse activation buffers by liveness (default true; false is for comparisons). */
  reuse?: boolean;
  /** Fusions to apply: all (default), none, or a selection. */
  fuse?: boolean | readonly FusionKind[];
  /**
   * Store frozen weight matrices in IEEE half floats (half their memory; products still sum in
   * f32): those read only as a linear layer's weight or an embedding table, with an even row
   * length. Default false (f32).
   */
  frozenF16?: boolean;
  /**
   * Store the base's frozen weight matrices quantized (docs/quantization.md): the matrices the CPU
   * quantizes (compiler/quant/select.ts), as codes and scales in their arena slots, which the
   * matmul and embedding kernels dequantize as they read. Takes precedence over frozenF16.
   */
  frozenQuant?: QuantDtype;
  /** The key/value cache a decoding graph's kv_attention reads and extends (kv-cache.ts). */
  kvCache?: KvCacheSize;
  /**
   * A training plan's loss over chunks of rows (chunked-loss.ts): one chunk's logits and their
   * gradient take at most this many bytes, and the whole logits never exist (plan.io.logits is
   * then absent). Absent: the logits are computed whole, as a plan that returns them needs.
   */
  lossChunkBytes?: number;
}

export const MiB = (n: number): string => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 1)} MiB`;
export const last = <T>(a: readonly T[]): T => a[a.length - 1]!;
/** The whole of a region as a window, and a window of a region as a region. */
export const whole = (r: Region): Window => ({ offset: 0, bytes: r.bytes });
export const within = (r: Region, w: Window): Region => ({ buffer: r.buffer, offset: r.offset + w.offset, bytes: w.bytes });

export class Lowering {
  readonly nodes: Node[];
  readonly env: Record<string, number>;
  readonly shapes: number[][];
  readonly training: boolean;
  /** maxStorageBufferBindingSize: no binding may span more. */
  readonly limit: number;
  readonly buffers: PlanBuffer[] = [];
  readonly shaders: PlanShader[] = [];
  private readonly shaderIds = new Map<string, number>();
  readonly steps: PlanStep[] = [];
  readonly regions: (Region | undefined)[];
  /**
   * Nodes whose value is another node's memory: dropout in evaluation, an accumulate fusion's add
   * (its `into`), a folded scale (its operand, scaled by the readers: `folded`).
   */
  alias = new Map<number, number>();
  /** scale_fold: the factor each folded scale's matmul readers multiply their alpha by. */
  readonly folded = new Map<number, number>();
  readonly pool: BufferPool;
  globalsId = -1;
  /** Param nodes whose arena slot holds f16 (PlanOptions.frozenF16). */
  readonly half = new Set<number>();
  /** Param nodes whose arena slot holds codes and scales (PlanOptions.frozenQuant). */
  readonly quant = new Map<number, QuantTensor>();
  /** The kernel group being lowered (the pool's clock). */
  time = 0;
  readonly root = (id: number): number => {
    for (let r = this.alias.get(id); r !== undefined; r = this.alias.get(id)) id = r;
    return id;
  };

  constructor(
    readonly t: TrainingGraph,
    readonly dims: { B: number; T: number },
    readonly backend: KernelBackend,
    readonly opts: PlanOptions,
  ) {
    this.nodes = t.graph.nodes;
    this.env = { B: dims.B, T: dims.T };
    this.shapes = this.nodes.map((n) => evalShape(n.shape, this.env));
    this.training = opts.backward !== false;
    this.limit = backend.target.limits.maxStorageBufferBindingSize;
    this.regions = new Array(this.nodes.length);
    this.pool = new BufferPool(opts.reuse !== false);
  }

  buffer(label: string, kind: BufferKind, bytes: number): number {
    const id = this.buffers.length;
    const max = this.backend.target.limits.maxBufferSize;
    if (bytes > max) {
      throw new PlanError(`${label} needs ${MiB(bytes)}, more than this adapter's maxBufferSize (${MiB(max)}); splitting it over several buffers is not implemented`);
    }
    this.buffers.push({ id, label, kind, bytes: Math.max(4, alignUp(bytes, 4)) });
    return id;
  }

  /** A shader's index: one entry per distinct source. */
  shader(label: string, wgsl: string): number {
    let id = this.shaderIds.get(wgsl);
    if (id === undefined) {
      id = this.shaders.length;
      this.shaders.push({ label, wgsl });
      this.shaderIds.set(wgsl, id);
    }
    return id;
  }

  /** Throws when an input or temporary is larger than a storage binding may be. */
  checkBinding(what: string, bytes: number): void {
    if (bytes > this.limit) {
      throw new PlanError(
        `${what} needs ${MiB(bytes)} in one binding, more than this adapter's maxStorageBufferBindingSize (${MiB(this.limit)}); use a smaller batch or sequence`,
      );
    }
  }

  describe(id: number): string {
    const n = this.nodes[id]!;
    return `tensor %${id} (${n.op}${n.scope ? ` in ${n.scope}` : ''}) [${this.shapes[id]!.join(', ')}]`;
  }

  spec(id: number): TensorSpec {
    const q = this.quant.get(this.root(id));
    if (q) return { shape: this.shapes[id]!, dtype: q.dtype, layout: q.layout };
    return { shape: this.shapes[id]!, dtype: this.half.has(this.root(id)) ? 'f16' : this.nodes[id]!.dtype };
  }

  region(id: number): Region {
    const r = this.regions[this.root(id)];
    if (!r) throw new PlanError(`internal: %${id} (${this.nodes[id]!.op}) has no memory when it is read`);
    return r;
  }

  /** The 16 bytes of u32 [step, training] the runtime writes each step (dropout's step). */
  globals(): Region {
    return { buffer: this.globalsId, offset: 0, bytes: 16 };
  }

  label(gr: Group): string {
    const n = this.nodes[gr.output]!;
    const ops = gr.nodes.map((x) => this.nodes[x]!.op).join('+');
    return `%${gr.output} ${ops}${n.scope ? ` (${n.scope})` : ''}`;
  }

  /** A dispatch of the group's kernel: `bind` gives the region of each binding name it declares. */
  push(gr: Group, phase: Phase, k: Kernel, bind: Partial<Record<BindingName, Region>>, piece = ''): void {
    const bindings = k.bindings.map((b) => {
      const r = bind[b];
      if (!r) throw new PlanError(`kernel ${k.label} binds \`${b}\`, which ${this.label(gr)} does not provide`);
      if (r.bytes > this.limit) throw this.tooLarge(gr, b, r.bytes);
      return r;
    });
    this.dispatch(`${this.label(gr)}${piece}`, k, bindings, phase, gr.nodes);
  }

  /** A dispatch step of `k` over `bindings` (in the kernel's order); the written ones are the names WRITTEN lists. */
  dispatch(label: string, k: Kernel, bindings: Region[], phase: Phase, nodes: number[]): void {
    const shader = this.shader(k.label, k.wgsl);
    const writes = k.bindings.flatMap((b, i) => (WRITTEN.has(b) ? [i] : []));
    this.steps.push({ kind: 'dispatch', label, shader, workgroups: k.workgroups, bindings, writes, phase, nodes, ...(k.sizes ? { sizes: [...k.sizes] } : {}) });
  }

  /** The error for a tensor an op that cannot be split binds whole: which tensor, how large, the limit. */
  tooLarge(gr: Group, binding: string, bytes: number): PlanError {
    const head = this.nodes[gr.nodes[0]!]!;
    const i = /^in(\d+)$/.exec(binding);
    const operands = gr.addend === undefined ? head.inputs : [...head.inputs, gr.addend];
    const id = binding === 'out' || binding === 'c' ? gr.output : i ? operands[Number(i[1])] : undefined;
    const what = id !== undefined ? this.describe(id) : `the \`${binding}\` binding of ${this.label(gr)}`;
    return new PlanError(
      `${what} needs ${MiB(bytes)} in one binding, more than this adapter's maxStorageBufferBindingSize (${MiB(this.limit)}); ` +
        `${head.op} is not split across bindings (matmuls, embedding lookups and gradients, the loss, elementwise ops and bias-gradient sums are): use a smaller batch or sequence`,
    );
  }

  /** A split's pieces, or the split's reason for failing as a PlanError naming the group. */
  pieces<T>(gr: Group, split: () => T): T {
    try {
      return split();
    } catch (e) {
      if (e instanceof SplitError) throw new PlanError(`${this.label(gr)}: ${e.message}`);
      throw e;
    }
  }
}
