// The WebGPU executor: runs plans (compiler/lower/plan.ts) of a Training IR on one device. It
// makes none: its caller plans (runtime/webgpu/plans.ts: createExecutor) or brings plans made
// ahead of time (`peftc build`).
// Same contract as the CPU executor (runtime/cpu/executor.ts) — run(batch) gives the loss,
// logits and the trainable gradients — plus step(), a whole training step on the GPU
// (forward, backward, clipping, AdamW/SGD update) that reads back only the loss.
// Parameters stay on the GPU between steps; upload() and download() move the arenas.
// Every pipeline and submit is error-scoped (gpu.ts): a failure throws GpuError, never zeros.
// Isomorphic: no Node APIs.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { alignUp, decayMask } from '../../compiler/lower/memory.ts';
import { checkSequenceFits } from '../../compiler/positions.ts';
import { HYPER, CLIP } from '../../compiler/lower/optimizer-layout.ts';
import type { Plan, Region } from '../../compiler/lower/plan.ts';
import type { ParamStore, Arena } from '../arena.ts';
import { filledInput, type Batch } from '../cpu/executor.ts';
import type { FloatTensor } from '../cpu/tensor.ts';
import { float32ToHalf } from '../io/half.ts';
import type { OptimizerState } from '../optim.ts';
import { GpuError } from './errors.ts';
import type { BufferRange, CommandBatch, Gpu, Kernel } from './gpu.ts';
import { StepSizes } from './step-sizes.ts';
import { isQuantDtype } from '../../compiler/quant/dtype.ts';
import { packQuantized } from '../../compiler/quant/slot.ts';
import { quantizeWeight, type QuantizedWeight } from '../../compiler/quant/weight.ts';

export interface GpuRunOptions {
  /** Dropout is active in training mode. */
  training: boolean;
  /** The step dropout's mask depends on. */
  step: number;
  /** Run the backward pass too (default true). */
  backward?: boolean;
  /** What to read back besides the loss (default: logits and gradients). */
  read?: { logits?: boolean; grads?: boolean };
}

export interface GpuRunResult {
  loss: number;
  /** Absent when not asked for (read.logits = false). */
  logits?: FloatTensor;
  /** Gradient of every trainable parameter the loss depends on, by path (empty when not read). */
  grads: Map<string, FloatTensor>;
}

export interface GpuStepOptions {
  /** Dropout active (default true). */
  training?: boolean;
  /** The step dropout's mask uses (default: the number of updates done before this one). */
  dropoutStep?: number;
}

export interface GpuStepResult {
  loss: number;
  /** The global gradient norm before clipping (not finite: the update was skipped). */
  gradNorm: number;
}

/** What an executor runs: the training plan and, exactly when its dropout draws masks, the evaluation plan. */
export interface ExecutorPlans {
  train: Plan;
  /** The plan with dropout as the identity; without it, evaluation runs the training plan. */
  eval?: Plan;
}

export interface GpuExecutorOptions {
  /** Parameters to upload (else the arenas start at zero; call upload() later). */
  store?: ParamStore;
  /** The Training IR the plans were made from: needed only for graph inputs the batch may leave out (filledInput). */
  graph?: TrainingGraph;
  /**
   * Use this executor's parameter arenas (frozen and trainable buffers) instead of allocating
   * copies: plans of one model for other shapes then read the same, current parameters.
   */
  params?: GpuExecutor;
  /** Use this executor's key/value cache buffers (decoding plans of one decoder share one cache). */
  cache?: GpuExecutor;
}

/** A plan made ready on the device: its pipelines and buffers. */
interface Prepared {
  plan: Plan;
  buffers: GPUBuffer[];
  kernels: Kernel[];
  /** The steps' open sizes (a uniform each binds after its storage bindings). */
  sizes: StepSizes;
}

/** Buffers whose contents persist between runs: shared by every plan of one executor. */
const PERSISTENT = new Set(['frozen', 'trainable', 'grads', 'optim-state', 'optim-scratch', 'globals', 'input', 'kv-cache']);
/** The parameter arenas, which executors of one model for several shapes may share (GpuExecutorOptions.params). */
const PARAMS = new Set(['frozen', 'trainable']);
/** A decoder's key/value cache (GpuExecutorOptions.cache). */
const CACHE = new Set(['kv-cache']);

export class GpuExecutor {
  /** Updates done by step() (Adam's t). */
  updates = 0;
  /** Buffers by label, shared by the training and the evaluation plan. */
  private readonly shared = new Map<string, GPUBuffer>();
  private readonly prepared = new Map<'train' | 'eval', Prepared>();
  private train!: Prepared;
  /** Buffers another executor owns (its parameter arenas): never destroyed by this one. */
  private readonly borrowed = new Set<GPUBuffer>();

  private constructor(
    readonly gpu: Gpu,
    private readonly plans: ExecutorPlans,
    /** The Training IR of the plans, where given (GpuExecutorOptions.graph). */
    private readonly graph: TrainingGraph | undefined,
  ) {}

  /** The batch shape the plans were made for. */
  get dims(): { B: number; T: number } {
    return this.plans.train.dims;
  }

  /**
   * An executor of `plans` (the caller made them: runtime/webgpu/plans.ts, or `peftc build` ahead
   * of time, so code that only calls this needs none of the compiler): compiles the training
   * plan's pipelines (a failure throws GpuError) and allocates its buffers; the evaluation plan's
   * on first use. Plans with inputs the batch may leave out, besides tokens, targets and those
   * with a fill, need their graph (opts.graph).
   */
  static async fromPlan(gpu: Gpu, plans: ExecutorPlans, opts: GpuExecutorOptions = {}): Promise<GpuExecutor> {
    const extra = Object.entries(plans.train.io.extra ?? {}).filter(([, r]) => r.fill === undefined).map(([n]) => n);
    if (extra.length && !opts.graph) throw new GpuError('validation', `the plan has graph inputs besides tokens and targets (${extra.join(', ')}); run it with its training graph (createExecutor)`);
    if (opts.graph) checkSequenceFits(opts.graph.graph, plans.train.dims.T);
    const ex = new GpuExecutor(gpu, plans, opts.graph);
    if (opts.params) ex.borrow(opts.params, PARAMS);
    if (opts.cache) ex.borrow(opts.cache, CACHE);
    ex.train = await ex.prepare('train');
    if (opts.store) ex.upload(opts.store);
    return ex;
  }

  /** Takes `owner`'s buffers of these kinds as this executor's (same labels; sizes checked in prepare). */
  private borrow(owner: GpuExecutor, kinds: ReadonlySet<string>): void {
    if (kinds === PARAMS && !sameLayout(owner.plan, this.plans.train)) throw new GpuError('validation', 'internal: these plans lay out the parameter arenas differently; they cannot share parameter buffers');
    for (const b of owner.plan.buffers) {
      if (!kinds.has(b.kind)) continue;
      const buf = owner.shared.get(b.label)!;
      this.shared.set(b.label, buf);
      this.borrowed.add(buf);
    }
  }

  /** The training plan (dropout active). */
  get plan(): Plan {
    return this.train.plan;
  }

  private async prepare(dropout: 'train' | 'eval'): Promise<Prepared> {
    const have = this.prepared.get(dropout);
    if (have) return have;
    // Without a dropout that draws a mask, evaluation and training are the same plan.
    if (dropout === 'eval' && !this.plans.eval) return this.train;
    const plan = dropout === 'eval' ? this.plans.eval! : this.plans.train;
    const kernels = await Promise.all(plan.shaders.map((s) => this.gpu.pipeline(s.wgsl, { label: s.label })));
    const buffers = plan.buffers.map((b) => {
      const old = this.shared.get(b.label);
      if (old && this.borrowed.has(old) && old.size < b.bytes) throw new GpuError('validation', `internal: the shared parameter buffer ${b.label} has ${old.size} bytes; this plan needs ${b.bytes}`);
      if (old && (PERSISTENT.has(b.kind) || old.size >= b.bytes)) return old;
      const created = this.gpu.buffer(b.bytes, { label: b.label });
      this.shared.set(b.label, created);
      if (b.kind === 'optim-scratch' && b.id === plan.ids.decay) this.gpu.write(created, decayMask(plan.trainable));
      return created;
    });
    const ready = { plan, buffers, kernels, sizes: StepSizes.of(this.gpu, plan) };
    this.prepared.set(dropout, ready);
    return ready;
  }

  private buf(id: number | undefined): GPUBuffer {
    if (id === undefined) throw new GpuError('validation', 'internal: the plan has no such buffer');
    return this.train.buffers[id]!;
  }

  /**
   * Writes both parameter arenas (and, if given, the optimizer state and its step) to the GPU.
   * `quantized`: codes and scales of the plan's quantized frozen slots, uploaded as they are (a
   * built trainer ships them so); the store then need not hold those weights.
   */
  upload(store: ParamStore, state?: OptimizerState, quantized?: ReadonlyMap<string, QuantizedWeight>): void {
    const p = this.plan;
    const frozen = packFlat(store.frozen, p.frozen, store.frozen.data, quantized);
    if (!p.ids.frozenParts) this.gpu.write(this.buf(p.ids.frozen), frozen);
    else for (const part of p.ids.frozenParts) this.gpu.write(this.buf(part.buffer), frozen.subarray(part.start / 4, (part.start + part.bytes) / 4));
    this.gpu.write(this.buf(p.ids.trainable), packArena(store.trainable, p.trainable));
    if (state) {
      if (p.ids.m !== undefined) this.gpu.write(this.buf(p.ids.m), packFlat(store.trainable, p.trainable, state.m));
      if (p.ids.v !== undefined) this.gpu.write(this.buf(p.ids.v), packFlat(store.trainable, p.trainable, state.v));
      this.updates = state.step;
    }
  }

  /** Reads the trainable arena into `store.trainable` (and the optimizer state into `state`). */
  async download(store: ParamStore, state?: OptimizerState): Promise<void> {
    const p = this.plan;
    const read = (id: number) => this.gpu.read(this.buf(id), Float32Array, p.trainable.bytes);
    unpackArena(await read(p.ids.trainable), p.trainable, store.trainable, store.trainable.data);
    if (state) {
      if (p.ids.m !== undefined) unpackArena(await read(p.ids.m), p.trainable, store.trainable, state.m);
      if (p.ids.v !== undefined) unpackArena(await read(p.ids.v), p.trainable, store.trainable, state.v);
      state.step = this.updates;
    }
  }

  /** Forward (and backward) of one batch; reads back the loss and what `opts.read` asks for. */
  async run(batch: Batch, opts: GpuRunOptions): Promise<GpuRunResult> {
    const backward = opts.backward !== false;
    const ready = await this.prepare(opts.training ? 'train' : 'eval');
    const plan = ready.plan;
    if (backward && !plan.training) throw new GpuError('validation', 'this executor was planned without a backward pass');
    // A plan with the loss over chunks of rows holds no whole logits: read only when it has them.
    const logits = opts.read?.logits === true ? logitsOf(plan) : opts.read?.logits === undefined ? plan.io.logits : undefined;
    this.writeInputs(batch, opts.step, opts.training);
    const end = backward ? plan.backwardEnd : plan.forwardEnd;
    await this.encode(ready, end, backward ? 'forward and backward' : 'forward').submit();
    const loss = (await this.readRegion(ready, plan.io.loss))[0]!;
    const result: GpuRunResult = { loss, grads: new Map() };
    if (logits) result.logits = { shape: [...logits.shape], data: await this.readRegion(ready, logits) };
    if (backward && opts.read?.grads !== false && plan.grads.length > 0) {
      const arena = await this.gpu.read(this.buf(plan.ids.grads), Float32Array, plan.trainable.bytes);
      for (const g of plan.grads) {
        const slot = plan.trainable.slots.find((s) => s.path === g.path)!;
        result.grads.set(g.path, { shape: [...slot.shape], data: arena.slice(g.region.offset / 4, (g.region.offset + g.region.bytes) / 4) });
      }
    }
    return result;
  }

  /**
   * The forward pass of one batch, reading back the logits only (a decoding plan, which has no
   * loss, or any forward-only use).
   */
  async logits(batch: Batch): Promise<FloatTensor> {
    const ready = await this.prepare('eval');
    this.writeInputs(batch, 0, false);
    await this.encode(ready, ready.plan.forwardEnd, 'forward').submit();
    const r = logitsOf(ready.plan);
    return { shape: [...r.shape], data: await this.readRegion(ready, r) };
  }

  /**
   * One training step on the GPU: forward, backward, global-norm clipping and the optimizer
   * update, in one submission. Reads back 16 bytes: the loss and the gradient norm. A non-finite
   * norm skips the update (as runtime/optim.ts does) and does not count as a step.
   */
  async step(batch: Batch, lr = this.plan.optimizer.lr, opts: GpuStepOptions = {}): Promise<GpuStepResult> {
    const training = opts.training ?? true;
    const ready = await this.prepare(training ? 'train' : 'eval');
    const plan = ready.plan;
    if (!plan.training) throw new GpuError('validation', 'this executor was planned without a backward pass');
    const cfg = plan.optimizer;
    const t = this.updates + 1;
    if (plan.ids.clip === undefined) {
      // Nothing trainable: forward and backward only.
      return { loss: (await this.run(batch, { training, step: opts.dropoutStep ?? this.updates, read: { logits: false, grads: false } })).loss, gradNorm: 0 };
    }
    const hyper = new Float32Array(HYPER.floats);
    hyper[HYPER.lr] = lr;
    hyper[HYPER.bc1] = 1 - Math.pow(cfg.beta1, t);
    hyper[HYPER.bc2] = 1 - Math.pow(cfg.beta2, t);
    this.gpu.write(this.buf(plan.ids.hyper), hyper);
    this.writeInputs(batch, opts.dropoutStep ?? this.updates, training);
    await this.encode(ready, plan.steps.length, `training step ${t}`).submit();
    const clip = await this.gpu.read(this.buf(plan.ids.clip), Float32Array, 4 * CLIP.floats);
    if (clip[CLIP.skip] === 0) this.updates = t;
    return { loss: clip[CLIP.loss]!, gradNorm: clip[CLIP.norm]! };
  }

  /**
   * Times every step of the training plan on its own (one submit and queue wait each, after a
   * full warm-up step): where a step's time goes. Parameters are updated once per call.
   */
  async profile(batch: Batch, lr = this.plan.optimizer.lr): Promise<{ label: string; kernel: string; ms: number }[]> {
    await this.step(batch, lr);
    const { plan, buffers, kernels } = this.train;
    const out: { label: string; kernel: string; ms: number }[] = [];
    for (const [i, s] of plan.steps.entries()) {
      const b = this.gpu.commands(s.label);
      if (s.kind === 'copy') b.copy(buffers[s.src.buffer]!, buffers[s.dst.buffer]!, s.src.bytes, s.src.offset, s.dst.offset);
      else b.dispatch(kernels[s.shader]!, bindingsOf(this.train, i), s.workgroups);
      const t0 = performance.now();
      await b.submit();
      await this.gpu.sync();
      out.push({ label: s.label, kernel: s.kind === 'copy' ? 'copy' : plan.shaders[s.shader]!.label, ms: performance.now() - t0 });
    }
    return out;
  }

  /**
   * The gradients the last run or step left in the gradient arena, by path (what a host-side
   * update such as AdaLoRA's importance scores reads after step()).
   */
  async readGradients(): Promise<Map<string, FloatTensor>> {
    const plan = this.plan;
    const out = new Map<string, FloatTensor>();
    if (!plan.training || plan.grads.length === 0) return out;
    const arena = await this.gpu.read(this.buf(plan.ids.grads), Float32Array, plan.trainable.bytes);
    for (const g of plan.grads) {
      const slot = plan.trainable.slots.find((s) => s.path === g.path)!;
      out.set(g.path, { shape: [...slot.shape], data: arena.slice(g.region.offset / 4, (g.region.offset + g.region.bytes) / 4) });
    }
    return out;
  }

  /** Frees every GPU buffer of this executor. */
  destroy(): void {
    for (const p of this.prepared.values()) p.sizes.destroy();
    for (const b of new Set([...this.shared.values()])) if (!this.borrowed.has(b)) b.destroy();
  }

  // ------------------------------------------------------------------ internals

  private writeInputs(batch: Batch, step: number, training: boolean): void {
    const { tokens, targets } = this.plan.io;
    checkInput('tokens', batch.tokens, tokens.shape);
    if (!Number.isInteger(step) || step < 0) throw new GpuError('validation', `step must be a non-negative integer, got ${step}`);
    this.gpu.write(this.buf(tokens.buffer), batch.tokens.data as Int32Array);
    // A decoding plan has no targets (and ignores the batch's).
    if (targets) {
      checkInput('targets', batch.targets, targets.shape);
      this.gpu.write(this.buf(targets.buffer), batch.targets.data as Int32Array);
    }
    for (const [name, region] of Object.entries(this.plan.io.extra ?? {})) {
      // An input with a `fill` (a LoRA rank mask, f32; `lengths`, i32: the plan's) may be left out of the batch.
      if (region.fill !== undefined) {
        const t = batch.extra?.[name] ?? { shape: [...region.shape], data: new Int32Array(region.shape.reduce((a, b) => a * b, 1)).fill(region.fill) };
        checkInput(name, t, region.shape, 'i32');
        this.gpu.write(this.buf(region.buffer), t.data as Int32Array);
        continue;
      }
      const g = this.graph!.graph; // fromPlan required it for such inputs
      const node = g.nodes[g.inputs[name]!]!;
      const t = batch.extra?.[name] ?? filledInput(node);
      if (!t) throw new GpuError('validation', `the graph has an input \`${name}\` that the batch does not give`);
      checkInput(name, t, region.shape, node.dtype);
      this.gpu.write(this.buf(region.buffer), t.data as Int32Array | Float32Array);
    }
    this.gpu.write(this.buf(this.plan.ids.globals), Uint32Array.of(step >>> 0, training ? 1 : 0, 0, 0));
  }

  private encode(ready: Prepared, to: number, label: string): CommandBatch {
    const batch = this.gpu.commands(label);
    const { plan, buffers, kernels } = ready;
    for (const [i, s] of plan.steps.slice(0, to).entries()) {
      if (s.kind === 'copy') batch.copy(buffers[s.src.buffer]!, buffers[s.dst.buffer]!, s.src.bytes, s.src.offset, s.dst.offset);
      else batch.dispatch(kernels[s.shader]!, bindingsOf(ready, i), s.workgroups);
    }
    return batch;
  }

  private readRegion(ready: Prepared, r: Region): Promise<Float32Array> {
    return this.gpu.read(ready.buffers[r.buffer]!, Float32Array, r.bytes, r.offset);
  }
}

/** What dispatch step `index` of a prepared plan binds: its regions, then its open sizes (if any). */
function bindingsOf(ready: Prepared, index: number): BufferRange[] {
  const s = ready.plan.steps[index]!;
  if (s.kind !== 'dispatch') return [];
  const regions = s.bindings.map((r: Region) => ({ buffer: ready.buffers[r.buffer]!, offset: r.offset, size: alignUp(r.bytes, 4) }));
  return [...regions, ...ready.sizes.binding(index)];
}

/** Whether two plans put every parameter at the same place with the same dtype (so they may share the arenas). */
function sameLayout(a: Plan, b: Plan): boolean {
  const key = (l: Plan['frozen']) => JSON.stringify(l.slots.map((s) => [s.path, s.offset, s.dtype]));
  return key(a.frozen) === key(b.frozen) && key(a.trainable) === key(b.trainable);
}

function checkInput(name: string, t: Batch['tokens'], shape: number[], dtype: 'i32' | 'f32' = 'i32'): void {
  if (dtype === 'f32' ? !(t.data instanceof Float32Array) : !(t.data instanceof Int32Array)) {
    throw new GpuError('validation', `${name} must be ${dtype === 'f32' ? 'a Float32Array' : 'an Int32Array'} tensor`);
  }
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new GpuError('validation', `${name} has shape [${t.shape.join(', ')}]; this executor was planned for [${shape.join(', ')}]`);
  }
}

/** The arena's values laid out in the plan's 256-aligned slots (f64 stores are rounded to f32). */
function packArena(arena: Arena, layout: Plan['trainable']): Float32Array {
  return packFlat(arena, layout, arena.data);
}

/**
 * Values in the CPU arena's layout (contiguous slots) → the plan's aligned layout (f16 slots
 * rounded to nearest even; quantized slots as codes and scales, quantized here as the CPU does).
 */
function packFlat(arena: Arena, layout: Plan['trainable'], flat: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, quantized?: ReadonlyMap<string, QuantizedWeight>): Float32Array {
  const out = new Float32Array(layout.bytes / 4);
  const halves = new Uint16Array(out.buffer);
  const words = new Uint32Array(out.buffer);
  for (const s of layout.slots) {
    const q = quantized?.get(s.path);
    if (q) {
      if (q.dtype !== s.dtype || q.layout !== s.layout) throw new GpuError('validation', `${s.path} is given as ${q.dtype} (${q.layout}); the plan stores it as ${s.dtype}${s.layout ? ` (${s.layout})` : ''}`);
      words.set(packQuantized(q), s.offset / 4);
      continue;
    }
    const src = arena.slot(s.path);
    const values = flat.subarray(src.offset, src.offset + src.size);
    if (s.dtype === 'f16') halves.set(float32ToHalf(Float32Array.from(values), 'F16'), s.offset / 2);
    else if (isQuantDtype(s.dtype)) words.set(packQuantized(quantizeWeight(values, s.shape, s.layout!, s.dtype)), s.offset / 4);
    else out.set(values, s.offset / 4);
  }
  return out;
}

/** The plan's aligned layout → values in the CPU arena's layout, written into `out`. */
function unpackArena(data: Float32Array, layout: Plan['trainable'], arena: Arena, out: { set(a: ArrayLike<number>, offset: number): void }): void {
  for (const s of layout.slots) {
    const dst = arena.slot(s.path);
    out.set(data.subarray(s.offset / 4, s.offset / 4 + dst.size), dst.offset);
  }
}

/** The plan's logits region; a plan that computes the loss over chunks of rows has none to read. */
function logitsOf(plan: Plan): Region & { shape: number[] } {
  if (!plan.io.logits) throw new GpuError('validation', 'this plan computes the loss over chunks of rows (lossChunkBytes): it holds no whole logits to read back; plan it without lossChunkBytes to read them');
  return plan.io.logits;
}
