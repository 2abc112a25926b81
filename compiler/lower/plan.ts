// Lowering the Training IR to a plan: buffers (with sizes and roles) and an ordered list of
// kernel dispatches (code, workgroups, the byte range each binding reads or writes). Pure and
// isomorphic: the plan is data (JSON-serialisable); runtime/webgpu/executor.ts turns it into
// pipelines and buffers. The kernels come from a KernelBackend (kernels.ts) the caller gives:
// codegen/wgsl/backend.ts for WebGPU. See docs/runtime-plan.md.
//
// This file orchestrates: the parameter arenas, the inputs, where gradients go, the fused groups
// in order over the activation pool. The parts that lower one kind of work are beside it:
// matmul.ts (products and their epilogues), loss.ts, pieces.ts (ops over windows of a tensor
// larger than one binding), optimizer.ts (clipping and the update).
//
// Memory: the frozen parameters are one buffer, the trainable parameters another; their
// gradients one buffer with the trainable layout; Adam's m and v one buffer each, so clipping and
// the update are passes over whole arenas. Frozen parameters get no gradient memory. Activations
// and backward temporaries share a pool of buffers by liveness.
import type { TrainingGraph } from '../autodiff/backward.ts';
import { evalDim } from '../ir/dims.ts';
import { LENGTHS, TOKEN_TYPES } from '../ir/types.ts';
import type { Attrs, Node } from '../ir/types.ts';
import { FUSION_KINDS, type FusionKind, type Group, dropoutAliases, groupNodes } from './fuse.ts';
import type { BindingName, KernelBackend, OpKernelRequest, PairFusion, TensorSpec } from './kernels.ts';
import { DECODE_LOWERED, lowerDecodeOp } from './kv-cache.ts';
import { type ChunkedHead, findChunkedHead, lowerChunkedHead } from './chunked-loss.ts';
import { lossPieces, lowerCrossEntropy } from './loss.ts';
import { Lowering, type PlanOptions } from './lowering.ts';
import { frozenQuantOf } from './frozen-quant.ts';
import { lowerMatmul } from './matmul.ts';
import { type ArenaLayout, arenaParts, layoutArena, numel } from './memory.ts';
import { lowerOptimizer } from './optimizer.ts';
import { lowerPieces } from './pieces.ts';
import { PlanError } from './plan-error.ts';
import type { Phase, Plan, PlanFusion, Region } from './types.ts';

/** Attributes that may hold a symbolic dimension, resolved for the plan's dims. */
const DIM_ATTRS = ['size', 'total'];

function resolveAttrs(attrs: Attrs, env: Record<string, number>): Attrs {
  const out = { ...attrs };
  for (const k of DIM_ATTRS) if (typeof out[k] === 'string') out[k] = evalDim(out[k] as string, env);
  return out;
}

/** Builds the plan of one training step (or a forward pass) for batches of dims.B × dims.T tokens, with the backend's kernels. */
export function buildPlan(t: TrainingGraph, dims: { B: number; T: number }, backend: KernelBackend, opts: PlanOptions = {}): Plan {
  return new Planner(t, dims, backend, opts).build();
}

class Planner extends Lowering {
  private readonly enabled: Set<FusionKind>;
  private lossRegion: Region | undefined;
  /** The head whose loss is computed over chunks of rows (PlanOptions.lossChunkBytes), if any. */
  private chunked: ChunkedHead | null = null;

  constructor(t: TrainingGraph, dims: { B: number; T: number }, backend: KernelBackend, opts: PlanOptions) {
    super(t, dims, backend, opts);
    const fuse = opts.fuse ?? true;
    this.enabled = new Set(fuse === true ? FUSION_KINDS : fuse === false ? [] : fuse);
  }

  build(): Plan {
    const t = this.t;
    const g = t.graph;
    const end = this.training ? this.nodes.length : t.forwardEnd;
    const gradNodes = this.training ? t.grads : [];
    const keep = new Set<number>([g.outputs.logits, g.outputs.loss, ...gradNodes.map((x) => x.node)]);
    const { frozen, trainable, ids } = this.layoutParameters();
    const tokens = this.inputRegion('tokens');
    // A decoding graph has no targets: its plan computes the logits only.
    const targets = g.inputs.targets === undefined ? undefined : this.inputRegion('targets');
    ids.tokens = tokens.buffer;
    ids.targets = targets?.buffer ?? -1;
    // Further inputs (e.g. `adapter_ids` i32 [B], docs/multi-adapter.md): one buffer each.
    // `lengths` (the rows' real positions, padding masks) defaults to the full sequence length,
    // `token_types` (sentence-pair segments) to type 0.
    const fills: Record<string, number> = { [LENGTHS]: this.dims.T + g.promptLength, [TOKEN_TYPES]: 0 };
    const extra = Object.keys(g.inputs)
      .filter((n) => n !== 'tokens' && n !== 'targets')
      .map((n) => [n, Object.hasOwn(fills, n) ? { ...this.inputRegion(n), fill: fills[n]! } : this.inputRegion(n)] as const);

    if (this.opts.dropout === 'eval') this.alias = dropoutAliases(this.nodes, end, keep);
    const groups = groupNodes({ graph: g, end, keep, enabled: this.enabled, alias: this.alias, maxBindings: this.backend.target.limits.maxStorageBuffersPerShaderStage });
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
    const route = this.routeGradients(grads, groups, end);
    if (this.training && this.opts.lossChunkBytes !== undefined) this.chunked = this.chunkedHead(groups, route);
    const { forwardEnd, fusions } = this.lowerGroups(groups, keep, route);
    const backwardEnd = this.steps.length;
    this.placePool();

    this.lossRegion = this.regions[g.outputs.loss];
    const optimizer = this.training && trainable.slots.length > 0 ? lowerOptimizer(this, ids, trainable, this.lossRegion!) : { scratch: 0, state: 0 };
    const logitsId = g.outputs.logits;
    return {
      dims: { ...this.dims },
      dropout: this.opts.dropout === 'eval' ? 'eval' : 'train',
      training: this.training,
      gpu: { isSoftware: this.backend.target.isSoftware, maxStorageBufferBindingSize: this.limit },
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
        ...(targets ? { targets } : {}),
        ...(extra.length ? { extra: Object.fromEntries(extra) } : {}),
        ...(this.chunked ? {} : { logits: { ...this.regions[logitsId]!, shape: this.shapes[logitsId]! } }),
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
        inputBytes: tokens.bytes + (targets?.bytes ?? 0) + extra.reduce((a, [, r]) => a + r.bytes, 0),
        ...(this.chunked ? { lossChunk: { rows: this.chunked.rows, chunks: Math.ceil(this.chunked.R / this.chunked.rows), vocab: this.chunked.V } } : {}),
      },
    };
  }

  /** The two parameter arenas (256-aligned slots), the gradient arena and the globals. */
  private layoutParameters(): { frozen: ArenaLayout; trainable: ArenaLayout; ids: Plan['ids'] } {
    const params = this.t.graph.params;
    const quant = this.opts.frozenQuant ? frozenQuantOf(this.t, this.opts.frozenQuant) : undefined;
    const halfPaths = new Set([...(this.opts.frozenF16 ? this.halfWeights() : [])].filter((p) => !quant?.layouts.has(p)));
    const frozen = layoutArena(params.filter((p) => p.partition === 'frozen'), halfPaths, quant);
    const trainable = layoutArena(params.filter((p) => p.partition === 'trainable'));
    // A frozen arena over maxBufferSize (GPT-2 in f32 is 475 MiB; WebGPU's default is 256 MiB)
    // is stored in several buffers, each a run of whole slots.
    let parts: { start: number; bytes: number }[];
    try {
      parts = arenaParts(frozen, this.backend.target.limits.maxBufferSize);
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
      const layout = quant?.layouts.get(n.attrs.path as string);
      if (layout) this.quant.set(n.id, { dtype: quant!.dtype, layout, rows: this.shapes[n.id]![0]!, cols: this.shapes[n.id]![1]! });
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

  /** The head to lower over chunks of rows, unless a gradient it computes must be copied to its slot. */
  private chunkedHead(groups: Group[], route: ReturnType<Planner['routeGradients']>): ChunkedHead | null {
    const head = findChunkedHead(this, groups, this.t.graph.outputs.logits, this.opts.lossChunkBytes!);
    if (!head || head.grads.some((gr) => route.copies.some((c) => c.node === gr.output))) return null;
    return head;
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
      const head = this.chunked;
      // The chunked head: all its groups' work happens at the logits' group (chunked-loss.ts);
      // the whole logits and dlogits get no memory, the loss, dh and dW theirs from there on.
      const inHead = head !== null && [head.loss, ...head.grads].includes(gr);
      const opens = head?.logits === gr ? [head.loss.output, ...head.grads.map((x) => x.output)] : inHead ? [] : outputs;
      for (const o of opens) {
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
      if (head?.logits === gr) lowerChunkedHead(this, head, phase);
      else if (!inHead) this.lowerGroup(gr, phase);
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

  /** One group's kernels: by the kind of work, matmul.ts, loss.ts, pieces.ts or one op kernel. */
  private lowerGroup(gr: Group, phase: Phase): void {
    const head = this.nodes[gr.nodes[0]!]!;
    const out = this.region(gr.output);
    if (gr.products || head.op === 'linear' || head.op === 'linear_grad_weight') return lowerMatmul(this, gr, phase, out);
    const globals = this.globals();
    if (gr.fusion === 'cross_entropy') return lowerCrossEntropy(this, gr, phase, head, out);
    if (gr.fusion === 'pad_concat') return this.lowerConcat(gr, phase, out);
    if (gr.fusion === 'attention_lse' || gr.fusion === 'attention_grad_kv') return this.lowerTwoResults(gr, phase, head, out);
    if (DECODE_LOWERED.has(head.op)) return lowerDecodeOp(this, gr, phase, head, out);
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
    const bind: Partial<Record<BindingName, Region>> = { out, globals };
    operands.forEach((x, i) => (bind[`in${i}`] = this.region(x)));
    // The loss of a forward-only plan: per-row losses (one invocation or workgroup per row), then
    // their sum; the one-workgroup mean kernel would loop over every logit in 64–256 invocations.
    if (req.op === 'cross_entropy') return lossPieces(this, gr, phase, req, bind, out, null);
    if ([out, ...operands.map((x) => this.region(x))].some((r) => r.bytes > this.limit)) return lowerPieces(this, gr, phase, req, bind);
    this.push(gr, phase, this.backend.op(req), bind);
  }

  /**
   * attention_lse, attention_grad_kv: one kernel of the head node's request that writes the
   * group's output (`out`) and its extra output (`out1`: the lse, or dv).
   */
  private lowerTwoResults(gr: Group, phase: Phase, head: Node, out: Region): void {
    const req: OpKernelRequest = { op: head.op, attrs: resolveAttrs(head.attrs, this.env), inputs: head.inputs.map((i) => this.spec(i)), output: this.spec(gr.output) };
    const bind: Partial<Record<BindingName, Region>> = { out, out1: this.region(gr.extraOutput!) };
    head.inputs.forEach((x, i) => (bind[`in${i}`] = this.region(x)));
    this.push(gr, phase, this.backend.pair(gr.fusion as PairFusion, req), bind);
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
      const k = this.backend.op({ op: 'concat', attrs: { axis }, inputs: [acc.spec, b.spec], output: spec });
      this.push(gr, phase, k, { in0: acc.region, in1: b.region, out: region });
      acc = { region, spec };
    }
    for (const t of temps) this.pool.close(t, this.time);
  }
}

export { PlanError } from './plan-error.ts';
export { DEFAULT_LOSS_CHUNK_BYTES } from './chunked-loss.ts';
export type { PlanOptions } from './lowering.ts';
export type { KernelBackend, PlanTarget } from './kernels.ts';
export type * from './types.ts';
