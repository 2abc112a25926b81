// Lowering the Training IR to a WebGPU plan: buffers (with sizes and roles) and an ordered
// list of kernel dispatches (WGSL, workgroups, the byte range each binding reads or writes).
// Pure and isomorphic: the plan is data (JSON-serialisable); runtime/webgpu/executor.ts turns it
// into pipelines and buffers. See docs/runtime-plan.md.
//
// Memory (ARCHITECTURE.md principle 1): the frozen parameters are one buffer, the trainable
// parameters another; their gradients one buffer with the trainable layout; Adam's m and v one
// buffer each, so clipping and the update are passes over whole arenas. Frozen parameters get
// no gradient memory. Activations and backward temporaries share a pool of buffers by liveness.
import type { TrainingGraph } from '../autodiff/backward.ts';
import { evalDim, evalShape } from '../ir/dims.ts';
import { LENGTHS } from '../ir/types.ts';
import type { Attrs, Node } from '../ir/types.ts';
import type { AdapterCaps, OpKernel, OpKernelGen, OpKernelRequest, TensorSpec } from '../../codegen/wgsl/types.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { matmulKernel, matmulVariantFor, regblockRowBlocks } from '../../codegen/wgsl/matmul.ts';
import { attentionGradKV, attentionWithLse, crossEntropyFused, crossEntropyRows, opKernel } from '../../codegen/wgsl/index.ts';
import type { Activation, GradActivation, MatmulSpec } from './matmul-spec.ts';
import { FUSION_KINDS, type FusionKind, type Group, dropoutAliases, groupNodes } from './fuse.ts';
import type { BufferKind, Phase, Plan, PlanBuffer, PlanFusion, PlanShader, PlanStep, Region } from './types.ts';
import { type ArenaLayout, BufferPool, alignUp, arenaParts, layoutArena, numel } from './memory.ts';
import { FLAT_OPS, SplitError, type Window, chunks, rowWindow, rowsPerWindow, splitMatmul } from './split.ts';
import { CLIP, HYPER, OPT_WG, SUMSQ_MAX_WG, UPDATE_MAX_WG, clipFinishWgsl, sumSquaresWgsl, updateWgsl } from './optimizer.ts';

export interface PlanOptions {
  /** The op kernel generators (default: runtime/webgpu/kernels' registry, opKernel). */
  kernels?: OpKernelGen;
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
}

export { DEFAULT_CAPS };

export class PlanError extends Error {
  override name = 'PlanError';
}

const MiB = (n: number): string => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 1)} MiB`;
const last = <T>(a: readonly T[]): T => a[a.length - 1]!;
/** The whole of a region as a window, and a window of a region as a region. */
const whole = (r: Region): Window => ({ offset: 0, bytes: r.bytes });
const within = (r: Region, w: Window): Region => ({ buffer: r.buffer, offset: r.offset + w.offset, bytes: w.bytes });

/** Binding names kernels write: the op contract's `out` and `out1`, matmul's `c` and `activated`, the fused loss's extra output. */
const WRITTEN = new Set(['out', 'out1', 'c', 'activated', 'loss']);
type BindingName = OpKernel['bindings'][number];

/** Attributes that may hold a symbolic dimension, resolved for the plan's dims. */
const DIM_ATTRS = ['size', 'total'];

function resolveAttrs(attrs: Attrs, env: Record<string, number>): Attrs {
  const out = { ...attrs };
  for (const k of DIM_ATTRS) if (typeof out[k] === 'string') out[k] = evalDim(out[k] as string, env);
  return out;
}

/** Builds the plan of one training step (or a forward pass) for batches of dims.B × dims.T tokens. */
export function buildPlan(t: TrainingGraph, dims: { B: number; T: number }, caps: AdapterCaps, opts: PlanOptions = {}): Plan {
  return new Planner(t, dims, caps, opts).build();
}

class Planner {
  private readonly nodes: Node[];
  private readonly env: Record<string, number>;
  private readonly shapes: number[][];
  private readonly training: boolean;
  private readonly limit: number;
  private readonly buffers: PlanBuffer[] = [];
  private readonly shaders: PlanShader[] = [];
  private readonly shaderIds = new Map<string, number>();
  private readonly steps: PlanStep[] = [];
  private readonly regions: (Region | undefined)[];
  private readonly enabled: Set<FusionKind>;
  private lossRegion: Region | undefined;
  /**
   * Nodes whose value is another node's memory: dropout in evaluation, an accumulate fusion's add
   * (its `into`), a folded scale (its operand, scaled by the readers: `folded`).
   */
  private alias = new Map<number, number>();
  /** scale_fold: the factor each folded scale's matmul readers multiply their alpha by. */
  private readonly folded = new Map<number, number>();
  private readonly pool: BufferPool;
  private readonly kernels: OpKernelGen;
  private globalsId = -1;
  /** Param nodes whose arena slot holds f16 (PlanOptions.frozenF16). */
  private readonly half = new Set<number>();
  /** The kernel group being lowered (the pool's clock). */
  private time = 0;
  private readonly root = (id: number): number => {
    for (let r = this.alias.get(id); r !== undefined; r = this.alias.get(id)) id = r;
    return id;
  };

  constructor(
    private readonly t: TrainingGraph,
    private readonly dims: { B: number; T: number },
    private readonly caps: AdapterCaps,
    private readonly opts: PlanOptions,
  ) {
    this.nodes = t.graph.nodes;
    this.env = { B: dims.B, T: dims.T };
    this.shapes = this.nodes.map((n) => evalShape(n.shape, this.env));
    this.training = opts.backward !== false;
    this.limit = caps.limits.maxStorageBufferBindingSize;
    this.regions = new Array(this.nodes.length);
    const fuse = opts.fuse ?? true;
    this.enabled = new Set(fuse === true ? FUSION_KINDS : fuse === false ? [] : fuse);
    this.pool = new BufferPool(opts.reuse !== false);
    this.kernels = opts.kernels ?? opKernel;
  }

  private buffer(label: string, kind: BufferKind, bytes: number): number {
    const id = this.buffers.length;
    if (bytes > this.caps.limits.maxBufferSize) {
      throw new PlanError(
        `${label} needs ${MiB(bytes)}, more than this adapter's maxBufferSize (${MiB(this.caps.limits.maxBufferSize)}); ` +
          'splitting it over several buffers is not implemented',
      );
    }
    this.buffers.push({ id, label, kind, bytes: Math.max(4, alignUp(bytes, 4)) });
    return id;
  }

  private shader(label: string, wgsl: string): number {
    let id = this.shaderIds.get(wgsl);
    if (id === undefined) {
      id = this.shaders.length;
      this.shaders.push({ label, wgsl });
      this.shaderIds.set(wgsl, id);
    }
    return id;
  }

  /** Throws when an input or temporary is larger than a storage binding may be. */
  private checkBinding(what: string, bytes: number): void {
    if (bytes > this.limit) {
      throw new PlanError(
        `${what} needs ${MiB(bytes)} in one binding, more than this adapter's maxStorageBufferBindingSize (${MiB(this.limit)}); use a smaller batch or sequence`,
      );
    }
  }

  private describe(id: number): string {
    const n = this.nodes[id]!;
    return `tensor %${id} (${n.op}${n.scope ? ` in ${n.scope}` : ''}) [${this.shapes[id]!.join(', ')}]`;
  }

  build(): Plan {
    const t = this.t;
    const g = t.graph;
    const end = this.training ? this.nodes.length : t.forwardEnd;
    const gradNodes = this.training ? t.grads : [];
    const keep = new Set<number>([g.outputs.logits, g.outputs.loss, ...gradNodes.map((x) => x.node)]);
    const { frozen, trainable, ids } = this.layoutParameters();
    const tokens = this.inputRegion('tokens');
    const targets = this.inputRegion('targets');
    ids.tokens = tokens.buffer;
    ids.targets = targets.buffer;
    // Further inputs (e.g. `adapter_ids` i32 [B], docs/multi-adapter.md): one buffer each.
    // `lengths` (the rows' real positions, padding masks) defaults to the full sequence length.
    const extra = Object.keys(g.inputs)
      .filter((n) => n !== 'tokens' && n !== 'targets')
      .map((n) => [n, n === LENGTHS ? { ...this.inputRegion(n), fill: this.dims.T + g.promptLength } : this.inputRegion(n)] as const);

    if (this.opts.dropout === 'eval') this.alias = dropoutAliases(this.nodes, end, keep);
    const groups = groupNodes({ graph: g, end, keep, enabled: this.enabled, alias: this.alias, maxBindings: this.caps.limits.maxStorageBuffersPerShaderStage });
    for (const gr of groups) {
      if (gr.into !== undefined) this.alias.set(gr.output, gr.into);
      if (gr.fold) {
        this.alias.set(gr.output, gr.fold.of);
        this.folded.set(gr.output, gr.fold.factor);
      }
    }
    const grads = gradNodes.map(({ path, node }) => {
      const s = trainable.slots.find((x) => x.path === path)!;
      return { path, node, region: { buffer: ids.grads, offset: s.offset, bytes: s.bytes } };
    });
    const { forwardEnd, fusions } = this.lowerGroups(groups, keep, this.routeGradients(grads, groups, end));
    const backwardEnd = this.steps.length;
    this.placePool();

    this.lossRegion = this.regions[g.outputs.loss];
    const optimizer = this.training && trainable.slots.length > 0 ? this.lowerOptimizer(ids, trainable) : { scratch: 0, state: 0 };
    const logitsId = g.outputs.logits;
    return {
      dims: { ...this.dims },
      dropout: this.opts.dropout === 'eval' ? 'eval' : 'train',
      training: this.training,
      adapter: { isSoftware: this.caps.isSoftware, maxStorageBufferBindingSize: this.limit },
      buffers: this.buffers,
      shaders: this.shaders,
      steps: this.steps,
      forwardEnd,
      backwardEnd,
      frozen,
      trainable,
      ids,
      io: {
        tokens,
        targets,
        ...(extra.length ? { extra: Object.fromEntries(extra) } : {}),
        logits: { ...this.regions[logitsId]!, shape: this.shapes[logitsId]! },
        loss: this.regions[g.outputs.loss]!,
      },
      values: Array.from(this.regions, (r, id) => r ?? (this.folded.has(id) ? null : this.regions[this.root(id)]) ?? null),
      grads,
      optimizer: { ...t.optimizer },
      fusions,
      stats: {
        frozenBytes: frozen.bytes,
        trainableBytes: trainable.bytes,
        gradBytes: this.training ? trainable.bytes : 0,
        optimizerStateBytes: optimizer.state,
        optimizerScratchBytes: optimizer.scratch,
        activationPeakBytes: this.pool.totalBytes,
        activationNoReuseBytes: this.pool.noReuseBytes,
        activationLiveMaxBytes: this.pool.maxLiveBytes,
        inputBytes: tokens.bytes + targets.bytes + extra.reduce((a, [, r]) => a + r.bytes, 0),
      },
    };
  }

  /** The two parameter arenas (256-aligned slots), the gradient arena and the globals. */
  private layoutParameters(): { frozen: ArenaLayout; trainable: ArenaLayout; ids: Plan['ids'] } {
    const params = this.t.graph.params;
    const halfPaths = this.opts.frozenF16 ? this.halfWeights() : new Set<string>();
    const frozen = layoutArena(params.filter((p) => p.partition === 'frozen'), halfPaths);
    const trainable = layoutArena(params.filter((p) => p.partition === 'trainable'));
    // A frozen arena over maxBufferSize (GPT-2 in f32 is 475 MiB; WebGPU's default is 256 MiB)
    // is stored in several buffers, each a run of whole slots.
    let parts: { start: number; bytes: number }[];
    try {
      parts = arenaParts(frozen, this.caps.limits.maxBufferSize);
    } catch (e) {
      throw new PlanError(`${(e as Error).message} (maxBufferSize)`);
    }
    const frozenParts = parts.map((r, i) => ({ buffer: this.buffer(parts.length > 1 ? `params.frozen.${i}` : 'params.frozen', 'frozen', r.bytes), ...r }));
    const ids: Plan['ids'] = {
      frozen: frozenParts[0]!.buffer,
      ...(frozenParts.length > 1 ? { frozenParts } : {}),
      trainable: this.buffer('params.trainable', 'trainable', trainable.bytes),
      grads: this.buffer('grads', 'grads', this.training ? trainable.bytes : 4),
      globals: (this.globalsId = this.buffer('globals', 'globals', 16)),
      tokens: -1,
      targets: -1,
    };
    const slotOf = new Map<string, Region>();
    for (const s of frozen.slots) {
      const part = frozenParts.find((r) => s.offset >= r.start && s.offset < r.start + r.bytes)!;
      slotOf.set(s.path, { buffer: part.buffer, offset: s.offset - part.start, bytes: s.bytes });
    }
    for (const s of trainable.slots) slotOf.set(s.path, { buffer: ids.trainable, offset: s.offset, bytes: s.bytes });
    for (const n of this.nodes) {
      if (n.op !== 'param') continue;
      this.regions[n.id] = slotOf.get(n.attrs.path as string);
      if (halfPaths.has(n.attrs.path as string)) this.half.add(n.id);
    }
    return { frozen, trainable, ids };
  }

  /**
   * Frozen matrices every reader of which takes them as a linear layer's weight (forward or input
   * gradient: matmul's B) or an embedding table, with an even row length (two halves per u32):
   * these can live in f16.
   */
  private halfWeights(): Set<string> {
    const readers = new Map<number, Node[]>();
    for (const n of this.nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
    const out = new Set<string>();
    for (const n of this.nodes) {
      if (n.op !== 'param') continue;
      const p = this.t.graph.params.find((x) => x.path === n.attrs.path)!;
      if (p.partition !== 'frozen' || p.shape.length !== 2 || p.shape[1]! % 2 !== 0) continue;
      const ok = (readers.get(n.id) ?? []).every((r) => (r.op === 'linear' && r.inputs[1] === n.id && r.inputs[0] !== n.id) || (r.op === 'embedding' && r.inputs[0] === n.id));
      if (ok && readers.has(n.id)) out.add(p.path);
    }
    return out;
  }

  private inputRegion(name: string): Region & { shape: number[] } {
    const id = this.t.graph.inputs[name];
    if (id === undefined) throw new PlanError(`the graph has no input \`${name}\``);
    const shape = this.shapes[id]!;
    const bytes = 4 * numel(shape);
    this.checkBinding(`input ${name} [${shape.join(', ')}]`, bytes);
    const r = { buffer: this.buffer(`input.${name}`, 'input', bytes), offset: 0, bytes, shape };
    this.regions[id] = r;
    return r;
  }

  /**
   * Where gradient nodes are written: straight into their slot of the gradient arena, unless
   * another kernel also reads the value (or it is a second parameter's gradient): then a copy.
   */
  private routeGradients(grads: Plan['grads'], groups: Group[], end: number): { direct: Map<number, Region>; copies: { node: number; region: Region }[] } {
    const computed = new Set(groups.flatMap((gr) => gr.nodes));
    const direct = new Map<number, Region>();
    const copies: { node: number; region: Region }[] = [];
    for (const { node, region } of grads) {
      const read = this.nodes.slice(node + 1, end).some((m) => computed.has(m.id) && m.inputs.includes(node));
      if (read || direct.has(node)) copies.push({ node, region });
      else direct.set(node, region);
    }
    return { direct, copies };
  }

  /** Every group's kernels in order; pooled values opened when written and closed after their last reader. */
  private lowerGroups(groups: Group[], keep: ReadonlySet<number>, route: ReturnType<Planner['routeGradients']>): { forwardEnd: number; fusions: PlanFusion[] } {
    const lastUse = new Map<number, number>();
    groups.forEach((gr, i) => {
      for (const n of gr.nodes) for (const input of this.nodes[n]!.inputs) lastUse.set(this.root(input), i);
    });
    const open = new Map<number, number>(); // node → pool value
    const close = (node: number) => {
      this.pool.close(open.get(node)!, this.time);
      open.delete(node);
    };
    const fusions: PlanFusion[] = [];
    let forwardEnd = -1;
    groups.forEach((gr, gi) => {
      this.time = gi;
      const phase: Phase = gr.output < this.t.forwardEnd ? 'forward' : 'backward';
      if (phase === 'backward' && forwardEnd < 0) forwardEnd = this.steps.length;
      if (gr.fold) {
        fusions.push({ kind: 'scale_fold', nodes: gr.nodes });
        return; // no kernel: the readers scale
      }
      const outputs = gr.extraOutput === undefined ? [gr.output] : [gr.output, gr.extraOutput];
      for (const o of outputs) {
        if (gr.into !== undefined && o === gr.output) continue; // the add's value is `into`'s memory
        const bytes = 4 * numel(this.shapes[o]!);
        const direct = route.direct.get(o);
        if (direct) {
          this.regions[o] = direct;
          continue;
        }
        const value = this.pool.open(bytes, gi);
        open.set(o, value);
        this.regions[o] = { buffer: -1 - value, offset: 0, bytes }; // a pool value: placePool() fixes the buffer
      }
      this.lowerGroup(gr, phase);
      for (const sub of gr.products ? [gr.products.main, gr.products.second] : []) if (sub.fusion) fusions.push({ kind: sub.fusion, nodes: sub.nodes });
      // What follows the product (an accumulate's add, an epilogue's nodes) is listed apart.
      const after = gr.epilogue?.nodes ?? (gr.into !== undefined ? [gr.output] : []);
      const product = gr.nodes.slice(0, gr.nodes.length - after.length);
      if (gr.fusion) fusions.push({ kind: gr.fusion, nodes: product });
      if (gr.into !== undefined) fusions.push({ kind: 'accumulate', nodes: [gr.into, ...gr.nodes.slice(-2)] });
      if (gr.epilogue) fusions.push({ kind: gr.epilogue.kind, nodes: [product.at(-1)!, ...after] });
      for (const c of route.copies.filter((x) => outputs.includes(x.node))) {
        this.steps.push({ kind: 'copy', label: `gradient of %${c.node} into its slot`, src: this.regions[c.node]!, dst: c.region, phase, nodes: [c.node] });
      }
      // Close the operands read for the last time here, and outputs nobody reads; never kept values.
      const done = [...gr.nodes.flatMap((n) => this.nodes[n]!.inputs.map(this.root)).filter((x) => lastUse.get(x) === gi), ...outputs.filter((o) => !lastUse.has(o))];
      for (const x of new Set(done)) if (open.has(x) && !keep.has(x)) close(x);
    });
    return { forwardEnd: forwardEnd < 0 ? this.steps.length : forwardEnd, fusions };
  }

  /** Assigns pooled values to buffers (all live intervals are known now) and fixes up the regions. */
  private placePool(): void {
    this.pool.assign();
    const ids = this.pool.sizes.map((bytes, i) => this.buffer(`activations.${i}`, 'activation', bytes));
    const fix = (r: Region): Region => (r.buffer < 0 ? { ...r, buffer: ids[this.pool.bufferOf[-1 - r.buffer]!]! } : r);
    for (const s of this.steps) {
      if (s.kind === 'dispatch') s.bindings = s.bindings.map(fix);
      else {
        s.src = fix(s.src);
        s.dst = fix(s.dst);
      }
    }
    this.regions.forEach((r, i) => {
      if (r) this.regions[i] = fix(r);
    });
  }

  // ------------------------------------------------------------------ kernels of the graph

  private spec(id: number): TensorSpec {
    return { shape: this.shapes[id]!, dtype: this.half.has(this.root(id)) ? 'f16' : this.nodes[id]!.dtype };
  }

  private region(id: number): Region {
    const r = this.regions[this.root(id)];
    if (!r) throw new PlanError(`internal: %${id} (${this.nodes[id]!.op}) has no memory when it is read`);
    return r;
  }

  private label(gr: Group): string {
    const n = this.nodes[gr.output]!;
    const ops = gr.nodes.map((x) => this.nodes[x]!.op).join('+');
    return `%${gr.output} ${ops}${n.scope ? ` (${n.scope})` : ''}`;
  }

  private push(gr: Group, phase: Phase, k: OpKernel, bind: Record<string, Region>, piece = ''): void {
    const bindings = k.bindings.map((b) => {
      const r = bind[b];
      if (!r) throw new PlanError(`kernel ${k.label} binds \`${b}\`, which ${this.label(gr)} does not provide`);
      if (r.bytes > this.limit) throw this.tooLarge(gr, b, r.bytes);
      return r;
    });
    const shader = this.shader(k.label, k.wgsl);
    const writes = k.bindings.flatMap((b, i) => (WRITTEN.has(b) ? [i] : []));
    this.steps.push({ kind: 'dispatch', label: `${this.label(gr)}${piece}`, shader, workgroups: k.workgroups, bindings, writes, phase, nodes: gr.nodes });
  }

  /** The error for a tensor an op that cannot be split binds whole: which tensor, how large, the limit. */
  private tooLarge(gr: Group, binding: string, bytes: number): PlanError {
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
  private pieces<T>(gr: Group, split: () => T): T {
    try {
      return split();
    } catch (e) {
      if (e instanceof SplitError) throw new PlanError(`${this.label(gr)}: ${e.message}`);
      throw e;
    }
  }

  private lowerGroup(gr: Group, phase: Phase): void {
    const head = this.nodes[gr.nodes[0]!]!;
    const out = this.region(gr.output);
    if (gr.products) return this.lowerProducts(gr, phase, out);
    if (head.op === 'linear' || head.op === 'linear_grad_weight') {
      const m = this.matmulOf(gr);
      if (gr.into !== undefined) m.spec.accumulate = true; // C += result: the add's other operand is there
      this.setEpilogue(gr, m.spec);
      return this.emitMatmul(gr, phase, m, out);
    }
    const globals = this.globals();
    if (gr.fusion === 'cross_entropy') return this.lowerCrossEntropy(gr, phase, head, out);
    if (gr.fusion === 'pad_concat') return this.lowerConcat(gr, phase, out);
    if (gr.fusion === 'attention_lse' || gr.fusion === 'attention_grad_kv') return this.lowerTwoResults(gr, phase, head, out);
    const attrs = resolveAttrs(head.attrs, this.env);
    if (head.op === 'dropout' && this.opts.dropout === 'eval') attrs.p = 0; // a kept value: a copy
    // norm_residual: the value the gradient kernel adds to its output, as one more operand.
    const operands = gr.addend === undefined ? head.inputs : [...head.inputs, gr.addend];
    if (gr.addend !== undefined) attrs.residual = true;
    const req = {
      op: head.op,
      attrs,
      inputs: operands.map((i) => this.spec(i)),
      output: this.spec(gr.output),
    };
    const bind: Record<string, Region> = { out, globals };
    operands.forEach((x, i) => (bind[`in${i}`] = this.region(x)));
    // The loss of a forward-only plan: per-row losses (one invocation or workgroup per row), then
    // their sum; the one-workgroup mean kernel would loop over every logit in 64–256 invocations.
    if (req.op === 'cross_entropy') return this.lossPieces(gr, phase, req, bind, out, null);
    if ([out, ...operands.map((x) => this.region(x))].some((r) => r.bytes > this.limit)) return this.lowerSplit(gr, phase, req, bind);
    this.push(gr, phase, this.kernels(req, this.caps), bind);
  }

  /** A matmul group's product: operands, alpha (scale_alpha, folded scales), activation, f16 B. */
  private matmulOf(gr: Group): { spec: MatmulSpec; a: number; b: number; bias?: number } {
    const m = this.matmulOperands(this.nodes[gr.nodes[0]!]!);
    const { spec } = m;
    if (gr.fusion === 'bias_activation') spec.activation = this.nodes[gr.output]!.op as 'gelu' | 'relu' | 'silu';
    if (gr.fusion === 'scale_alpha') spec.alpha = this.nodes[gr.nodes[1]!]!.attrs.factor as number;
    // Folded scales (scale_fold): read their operand, multiply alpha by their factor.
    for (const x of [m.a, m.b]) if (this.folded.has(x)) spec.alpha = (spec.alpha ?? 1) * this.folded.get(x)!;
    if (this.half.has(this.root(m.b))) spec.halfB = true;
    return m;
  }

  /** The 16 bytes of u32 [step, training] the runtime writes each step (dropout's step). */
  private globals(): Region {
    return { buffer: this.globalsId, offset: 0, bytes: 16 };
  }

  /** A matmul group's epilogue (fuse.ts) as the fields of the MatmulSpec that computes it. */
  private setEpilogue(gr: Group, spec: MatmulSpec): void {
    const ep = gr.epilogue;
    if (!ep) return;
    const op = this.nodes[ep.nodes[0]!]!.op;
    if (ep.kind === 'activation_aux') spec.activationOut = op as Activation;
    if (ep.kind === 'activation_grad') spec.activationGrad = op.replace(/_grad$/, '') as GradActivation;
    if (ep.kind === 'residual') spec.residual = true;
    if (ep.dropout !== undefined) {
      const { p, seed } = this.nodes[ep.dropout]!.attrs;
      spec.dropout = { p: p as number, seed: seed as number };
    }
  }

  /** The regions a matmul group's epilogue binds: `pre`, `res` and `activated` are laid out like C (and windowed like it). */
  private epilogueRegions(gr: Group): { likeC: Record<string, Region>; other: Record<string, Region> } {
    const ep = gr.epilogue;
    const likeC: Record<string, Region> = {};
    if (ep?.kind === 'activation_aux') likeC.activated = this.region(gr.extraOutput!);
    if (ep?.kind === 'activation_grad') likeC.pre = this.region(ep.operand!);
    if (ep?.kind === 'residual') likeC.res = this.region(ep.operand!);
    return { likeC, other: ep?.dropout !== undefined ? { globals: this.globals() } : {} };
  }

  /** One product as dispatches: one, or pieces (compiler/lower/split.ts) when a binding is too large. */
  private emitMatmul(gr: Group, phase: Phase, m: { spec: MatmulSpec; a: number; b: number; bias?: number }, out: Region, second?: { a: number; b: number }): void {
    const { spec, bias } = m;
    const opts = { variant: matmulVariantFor(this.caps), limits: this.caps.limits };
    const operands: Record<string, Region> = { a: this.region(m.a), b: this.region(m.b), c: out };
    if (bias !== undefined) operands.bias = this.region(bias);
    const { likeC, other } = this.epilogueRegions(gr);
    const extra: Record<string, Region> = second ? { a2: this.region(second.a), b2: this.region(second.b), ...other } : { ...other };
    const pieces = second ? null : this.pieces(gr, () => splitMatmul(spec, this.limit));
    const all = pieces ?? [{ spec, a: whole(operands.a!), b: whole(operands.b!), c: whole(out), ...(bias !== undefined ? { bias: whole(operands.bias!) } : {}) }];
    all.forEach((p, i) => {
      const k = matmulKernel(p.spec, { ...opts, rowBlocks: regblockRowBlocks(p.spec, this.caps.adapterClass) });
      const bind: Record<string, Region> = { a: within(operands.a!, p.a), b: within(operands.b!, p.b), c: within(out, p.c), ...extra };
      for (const [name, r] of Object.entries(likeC)) bind[name] = within(r, p.c);
      if (p.bias) bind.bias = within(operands.bias!, p.bias);
      const piece = all.length > 1 ? ` [piece ${i + 1}/${all.length}]` : '';
      this.push(gr, phase, { label: k.label, wgsl: k.wgsl, bindings: k.bindings as never, workgroups: k.workgroups }, bind, piece);
    });
  }

  /**
   * sum_of_products: both products in one regblock kernel (MatmulSpec.second). Where that kernel
   * does not apply (the tiled variant, a product split into pieces, a second B in f16), the main
   * product is written and the second accumulates into it: two dispatches, still no add. An
   * epilogue goes with the kernel that completes the sum.
   */
  private lowerProducts(gr: Group, phase: Phase, out: Region): void {
    const main = this.matmulOf(gr.products!.main);
    const second = this.matmulOf(gr.products!.second);
    const s = second.spec;
    const one =
      matmulVariantFor(this.caps) === 'regblock' &&
      this.pieces(gr, () => splitMatmul(main.spec, this.limit)) === null &&
      this.pieces(gr, () => splitMatmul(s, this.limit)) === null &&
      !s.halfB && !s.bias && !s.activation && s.M === main.spec.M && s.N === main.spec.N;
    if (one) {
      main.spec.second = { K: s.K, ...(s.transA ? { transA: true } : {}), ...(s.transB ? { transB: true } : {}), ...(s.alpha !== undefined ? { alpha: s.alpha } : {}) };
      this.setEpilogue(gr, main.spec);
      return this.emitMatmul(gr, phase, main, out, second);
    }
    // The epilogue needs the whole sum: the second, accumulating dispatch applies it.
    this.emitMatmul(gr, phase, main, out);
    second.spec.accumulate = true;
    this.setEpilogue(gr, second.spec);
    this.emitMatmul(gr, phase, second, out);
  }

  /**
   * An op with a tensor larger than one binding, as several dispatches over windows of it
   * (compiler/lower/split.ts): a large embedding table or its gradient by table rows, the loss by
   * rows of the logits, elementwise ops by flat ranges, sums over copies (bias gradients) by
   * copies. Other ops get a PlanError naming the tensor.
   */
  private lowerSplit(gr: Group, phase: Phase, req: OpKernelRequest, bind: Record<string, Region>): void {
    const [first, second] = req.inputs;
    const emit = (parts: { start: number; count: number }[], make: (c: { start: number; count: number }) => { req: OpKernelRequest; bind: Record<string, Region> }) =>
      parts.forEach((c, i) => {
        const p = make(c);
        this.push(gr, phase, this.kernels(p.req, this.caps), p.bind, ` [piece ${i + 1}/${parts.length}]`);
      });
    if (req.op === 'embedding' && bind.in0!.bytes > this.limit) {
      const [N, D] = first!.shape as [number, number];
      const rowBytes = (first!.dtype === 'f16' ? 2 : 4) * D;
      const parts = chunks(N, this.pieces(gr, () => rowsPerWindow(N, rowBytes, this.limit, `embedding table [${N}, ${D}]`)));
      return emit(parts, (c) => ({
        req: { ...req, attrs: { ...req.attrs, row0: c.start, table_rows: N }, inputs: [{ ...first!, shape: [c.count, D] }, second!] },
        bind: { ...bind, in0: within(bind.in0!, rowWindow(c.start, c.count, rowBytes)) },
      }));
    }
    if (req.op === 'embedding_grad') {
      const [N, D] = req.output.shape as [number, number];
      const parts = chunks(N, this.pieces(gr, () => rowsPerWindow(N, 4 * D, this.limit, `embedding gradient [${N}, ${D}]`)));
      return emit(parts, (c) => ({
        req: { ...req, attrs: { ...req.attrs, rows: c.count, row0: c.start }, output: { ...req.output, shape: [c.count, D] } },
        bind: { ...bind, out: within(bind.out!, rowWindow(c.start, c.count, 4 * D)) },
      }));
    }
    const n = numel(req.output.shape);
    if (FLAT_OPS.has(req.op) && req.inputs.every((t) => numel(t.shape) === n)) {
      const parts = chunks(n, this.pieces(gr, () => rowsPerWindow(n, 4, this.limit, `${req.op} over ${n} elements`)));
      return emit(parts, (c) => {
        const w = rowWindow(c.start, c.count, 4);
        const windows = Object.fromEntries(Object.entries(bind).map(([k, r]) => [k, k === 'globals' ? r : within(r, w)]));
        return { req: { ...req, inputs: req.inputs.map((t) => ({ ...t, shape: [c.count] })), output: { ...req.output, shape: [c.count] } }, bind: windows };
      });
    }
    if (req.op === 'sum_to' && bind.in0!.bytes > this.limit && bind.out!.bytes <= this.limit) {
      // A sum over copies (a bias gradient over rows): each piece adds its rows' copies into out.
      const like = req.inputs[1]!.shape;
      const rowBytes = 4 * numel(like);
      const copies = n === 0 ? 0 : numel(req.inputs[0]!.shape) / n;
      const parts = chunks(copies, this.pieces(gr, () => rowsPerWindow(copies, rowBytes, this.limit, `sum_to over ${copies} copies of ${n}`)));
      return emit(parts, (c) => ({
        req: { ...req, attrs: { ...req.attrs, accumulate: c.start > 0 ? 1 : 0 }, inputs: [{ ...req.inputs[0]!, shape: [c.count, ...like] }, req.inputs[1]!] },
        bind: { ...bind, in0: within(bind.in0!, rowWindow(c.start, c.count, rowBytes)) },
      }));
    }
    const big = Object.entries(bind).find(([, r]) => r.bytes > this.limit)!;
    throw this.tooLarge(gr, big[0], big[1].bytes);
  }

  /**
   * The loss of logits [R, V], in row pieces when the logits exceed one binding: each piece
   * writes its rows' losses (and, when `grad` is given, dlogits) into a temporary [R], which
   * sum_to adds into `loss`. Targets are bound whole: every row counts the counted rows of all.
   */
  private lossPieces(gr: Group, phase: Phase, req: OpKernelRequest, bind: Record<string, Region>, loss: Region, grad: Region | null): void {
    const logits = req.inputs[0]!.shape;
    const V = last(logits);
    const R = numel(logits) / V;
    const per = bind.in0!.bytes > this.limit || (grad?.bytes ?? 0) > this.limit ? this.pieces(gr, () => rowsPerWindow(R, 4 * V, this.limit, `logits [${R}, ${V}]`)) : R;
    const parts = chunks(R, per);
    this.checkBinding(`the per-row losses of %${gr.output} [${R}]`, 4 * R);
    const slot = this.pool.open(4 * R, this.time);
    const rows: Region = { buffer: -1 - slot, offset: 0, bytes: 4 * R };
    parts.forEach((c, i) => {
      const w = rowWindow(c.start, c.count, 4 * V);
      const rowsOfPiece = { ...req.inputs[0]!, shape: [c.count, V] };
      const pieceReq: OpKernelRequest = {
        ...req,
        attrs: { ...req.attrs, row0: c.start },
        inputs: [rowsOfPiece, req.inputs[1]!],
        output: grad ? rowsOfPiece : req.output,
      };
      const k = grad ? crossEntropyFused(pieceReq, this.caps) : crossEntropyRows(pieceReq, this.caps);
      const b: Record<string, Region> = { in0: within(bind.in0!, w), in1: bind.in1!, loss: within(rows, rowWindow(c.start, c.count, 4)) };
      if (grad) b.out = within(grad, w);
      this.push(gr, phase, { ...k, bindings: k.bindings as BindingName[] }, b, parts.length > 1 ? ` [piece ${i + 1}/${parts.length}]` : '');
    });
    const sum = this.kernels({ op: 'sum_to', attrs: {}, inputs: [{ shape: [R], dtype: 'f32' }, { shape: [], dtype: 'f32' }], output: { shape: [], dtype: 'f32' } }, this.caps);
    this.push(gr, phase, sum, { in0: rows, out: loss });
    this.pool.close(slot, this.time);
  }

  /**
   * cross_entropy + cross_entropy_grad: one kernel writes dlogits and per-row losses (already
   * divided by the count), then sum_to [] adds them into the loss (lossPieces). The per-row
   * losses are a temporary of the pool, released at once.
   */
  private lowerCrossEntropy(gr: Group, phase: Phase, head: Node, out: Region): void {
    const grad = gr.extraOutput!;
    const req = { op: 'cross_entropy_grad', attrs: head.attrs, inputs: head.inputs.map((i) => this.spec(i)), output: this.spec(grad) };
    const bind: Record<string, Region> = {};
    head.inputs.forEach((x, i) => (bind[`in${i}`] = this.region(x)));
    this.lossPieces(gr, phase, req, bind, out, this.region(grad));
  }

  /**
   * attention_lse, attention_grad_kv: one kernel of the head node's request that writes the
   * group's output (`out`) and its extra output (`out1`: the lse, or dv).
   */
  private lowerTwoResults(gr: Group, phase: Phase, head: Node, out: Region): void {
    const req: OpKernelRequest = { op: head.op, attrs: resolveAttrs(head.attrs, this.env), inputs: head.inputs.map((i) => this.spec(i)), output: this.spec(gr.output) };
    const bind: Record<string, Region> = { out, out1: this.region(gr.extraOutput!) };
    head.inputs.forEach((x, i) => (bind[`in${i}`] = this.region(x)));
    const k = gr.fusion === 'attention_lse' ? attentionWithLse(req, this.caps) : attentionGradKV(req, this.caps);
    this.push(gr, phase, k, bind);
  }

  /** pad_concat: concat(concat(p0, p1), p2)…, the intermediate results temporaries of the pool. */
  private lowerConcat(gr: Group, phase: Phase, out: Region): void {
    const { axis, parts } = gr.concat!;
    let acc: { region: Region; spec: TensorSpec } = { region: this.region(parts[0]!), spec: this.spec(parts[0]!) };
    const temps: number[] = [];
    for (let i = 1; i < parts.length; i++) {
      const b = { region: this.region(parts[i]!), spec: this.spec(parts[i]!) };
      const shape = [...acc.spec.shape];
      shape[axis] = shape[axis]! + b.spec.shape[axis]!;
      const last = i === parts.length - 1;
      let region = out;
      if (!last) {
        const bytes = 4 * numel(shape);
        const slot = this.pool.open(bytes, this.time);
        temps.push(slot);
        region = { buffer: -1 - slot, offset: 0, bytes };
      }
      const spec: TensorSpec = { shape, dtype: acc.spec.dtype };
      const k = this.kernels({ op: 'concat', attrs: { axis }, inputs: [acc.spec, b.spec], output: spec }, this.caps);
      this.push(gr, phase, k, { in0: acc.region, in1: b.region, out: region });
      acc = { region, spec };
    }
    for (const t of temps) this.pool.close(t, this.time);
  }


  /** linear / linear_grad_weight as C = op(A)·op(B) (+ bias), rows of every operand flattened. */
  private matmulOperands(n: Node): { spec: MatmulSpec; a: number; b: number; bias?: number } {
    const [x, w, bias] = n.inputs as [number, number, number | undefined];
    const xs = this.shapes[x]!;
    const layout = n.attrs.layout;
    if (n.op === 'linear') {
      const K = last(xs);
      const M = numel(xs) / K;
      const ws = this.shapes[w]!;
      const spec: MatmulSpec =
        layout === 'in_out' ? { M, K, N: ws[1]!, bias: bias !== undefined } : { M, K, N: ws[0]!, transB: true, bias: bias !== undefined };
      return { spec, a: x, b: w, ...(bias !== undefined ? { bias } : {}) };
    }
    // linear_grad_weight(x, dy): in_out → xᵀ·dy [in, out]; out_in → dyᵀ·x [out, in]; K = rows.
    const dy = w;
    const ds = this.shapes[dy]!;
    const R = numel(xs) / last(xs);
    return layout === 'in_out'
      ? { spec: { M: last(xs), N: last(ds), K: R, transA: true }, a: x, b: dy }
      : { spec: { M: last(ds), N: last(xs), K: R, transA: true }, a: dy, b: x };
  }

  // ------------------------------------------------------------------ the optimizer

  /**
   * Clip (Σg² per chunk, then one finishing invocation) and update (per chunk). A chunk is the
   * whole arena unless it exceeds maxStorageBufferBindingSize; chunk sizes are multiples of 64 KiB so
   * the decay mask's matching range (one u32 per 256 bytes) stays 256-aligned.
   */
  private lowerOptimizer(ids: Plan['ids'], trainable: ArenaLayout): { scratch: number; state: number } {
    const cfg = this.t.optimizer;
    const total = trainable.bytes;
    const chunkMax = Math.floor(this.limit / 65536) * 65536;
    if (chunkMax === 0) throw new PlanError(`maxStorageBufferBindingSize ${this.limit} is below 64 KiB; the optimizer cannot bind its arenas`);
    const chunks: { offset: number; bytes: number }[] = [];
    for (let o = 0; o < total; o += chunkMax) chunks.push({ offset: o, bytes: Math.min(chunkMax, total - o) });
    const withM = cfg.kind === 'adamw' || cfg.momentum !== 0;
    if (withM) ids.m = this.buffer('optim.m', 'optim-state', total);
    if (cfg.kind === 'adamw') ids.v = this.buffer('optim.v', 'optim-state', total);
    ids.decay = this.buffer('optim.decay', 'optim-scratch', alignUp(total / 64, 4));
    ids.hyper = this.buffer('optim.hyper', 'optim-scratch', 4 * HYPER.floats);
    const sumsqWg = chunks.map((c) => Math.min(SUMSQ_MAX_WG, Math.ceil(c.bytes / 16 / OPT_WG)));
    const partialBytes = sumsqWg.map((w) => w * OPT_WG * 4);
    ids.partials = this.buffer('optim.partials', 'optim-scratch', partialBytes.reduce((a, b) => a + b, 0));
    ids.clip = this.buffer('optim.clip', 'optim-scratch', 4 * CLIP.floats);
    const arena = (buffer: number, c: { offset: number; bytes: number }): Region => ({ buffer, offset: c.offset, bytes: c.bytes });
    const mask = (c: { offset: number; bytes: number }): Region => ({ buffer: ids.decay!, offset: c.offset / 64, bytes: Math.max(4, c.bytes / 64) });

    const sumsq = this.shader('optimizer_sum_squares', sumSquaresWgsl());
    let po = 0;
    chunks.forEach((c, i) => {
      this.steps.push({
        kind: 'dispatch',
        label: `clip: Σg² of gradients [${c.offset}, ${c.offset + c.bytes})`,
        shader: sumsq,
        workgroups: [sumsqWg[i]!, 1, 1],
        bindings: [arena(ids.grads, c), { buffer: ids.partials!, offset: po, bytes: partialBytes[i]! }],
        writes: [1],
        phase: 'optimizer',
        nodes: [],
      });
      po += partialBytes[i]!;
    });
    this.steps.push({
      kind: 'dispatch',
      label: `clip: global norm and factor (clip_norm ${cfg.clipNorm})`,
      shader: this.shader('optimizer_clip_factor', clipFinishWgsl(cfg.clipNorm)),
      workgroups: [1, 1, 1],
      bindings: [
        { buffer: ids.partials!, offset: 0, bytes: po },
        { buffer: ids.clip!, offset: 0, bytes: 4 * CLIP.floats },
      ],
      writes: [1],
      phase: 'optimizer',
      nodes: [],
    });
    this.steps.push({
      kind: 'copy',
      label: 'loss beside the norm (one readback per step)',
      src: this.lossRegion!,
      dst: { buffer: ids.clip!, offset: 4 * CLIP.loss, bytes: 4 },
      phase: 'optimizer',
      nodes: [],
    });
    const upd = updateWgsl(cfg);
    const update = this.shader(`optimizer_${cfg.kind}`, upd.wgsl);
    for (const c of chunks) {
      const bind: Record<string, Region> = {
        p: arena(ids.trainable, c),
        g: arena(ids.grads, c),
        decay: mask(c),
        hyper: { buffer: ids.hyper!, offset: 0, bytes: 4 * HYPER.floats },
        clip: { buffer: ids.clip!, offset: 0, bytes: 4 * CLIP.floats },
      };
      if (ids.m !== undefined) bind.m = arena(ids.m, c);
      if (ids.v !== undefined) bind.v = arena(ids.v, c);
      this.steps.push({
        kind: 'dispatch',
        label: `${cfg.kind} update of trainable [${c.offset}, ${c.offset + c.bytes})`,
        shader: update,
        workgroups: [Math.min(UPDATE_MAX_WG, Math.ceil(c.bytes / 16 / OPT_WG)), 1, 1],
        bindings: upd.bindings.map((b) => bind[b]!),
        writes: upd.bindings.flatMap((b, i) => (['p', 'm', 'v'].includes(b) ? [i] : [])),
        phase: 'optimizer',
        nodes: [],
      });
    }
    const scratch = [ids.decay, ids.hyper, ids.partials, ids.clip].reduce((s, id) => s + this.buffers[id!]!.bytes, 0);
    return { scratch, state: (withM ? total : 0) + (cfg.kind === 'adamw' ? total : 0) };
  }
}


export { formatPlan, formatWgsl } from './format.ts';
export type * from './types.ts';
