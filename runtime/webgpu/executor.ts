// The WebGPU executor: runs a plan (compiler/lower/plan.ts) of a Training IR on one device.
// Same contract as the CPU executor (runtime/cpu/executor.ts) — run(batch) gives the loss,
// logits and the trainable gradients — plus step(), a whole training step on the GPU
// (forward, backward, clipping, AdamW/SGD update) that reads back only the loss.
// Parameters stay on the GPU between steps; upload() and download() move the arenas.
// Every pipeline and submit is error-scoped (gpu.ts): a failure throws GpuError, never zeros.
// Isomorphic: no Node APIs.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { alignUp, decayMask } from '../../compiler/lower/memory.ts';
import { HYPER, CLIP } from '../../compiler/lower/optimizer.ts';
import { type Plan, type PlanOptions, type Region, buildPlan } from '../../compiler/lower/plan.ts';
import type { ParamStore, Arena } from '../arena.ts';
import type { Batch } from '../cpu/executor.ts';
import type { FloatTensor } from '../cpu/tensor.ts';
import type { OptimizerState } from '../optim.ts';
import { GpuError } from './errors.ts';
import type { Batch as GpuBatch, Gpu, Kernel } from './gpu.ts';
import { opKernel } from './kernels/index.ts';

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

export interface GpuExecutorOptions {
  /** Parameters to upload (else the arenas start at zero; call upload() later). */
  store?: ParamStore;
  /** Planner options (fusions, reuse); the op kernels default to the registry. */
  plan?: Partial<PlanOptions>;
}

export class GpuExecutor {
  /** Updates done by step() (Adam's t). */
  updates = 0;

  private constructor(
    readonly gpu: Gpu,
    readonly t: TrainingGraph,
    readonly plan: Plan,
    private readonly buffers: GPUBuffer[],
    private readonly kernels: Kernel[],
  ) {}

  /** Plans `t` for batches of dims.B × dims.T, compiles every pipeline and allocates the buffers. */
  static async create(gpu: Gpu, t: TrainingGraph, dims: { B: number; T: number }, opts: GpuExecutorOptions = {}): Promise<GpuExecutor> {
    const plan = buildPlan(t, dims, gpu.info, { kernels: opKernel, ...opts.plan });
    const kernels = await Promise.all(plan.shaders.map((s) => gpu.pipeline(s.wgsl, { label: s.label })));
    const buffers = plan.buffers.map((b) => gpu.buffer(b.bytes, { label: b.label }));
    const ex = new GpuExecutor(gpu, t, plan, buffers, kernels);
    if (plan.ids.decay !== undefined) gpu.write(buffers[plan.ids.decay]!, decayMask(plan.trainable));
    if (opts.store) ex.upload(opts.store);
    return ex;
  }

  /** Writes both parameter arenas (and, if given, the optimizer state and its step) to the GPU. */
  upload(store: ParamStore, state?: OptimizerState): void {
    const p = this.plan;
    this.gpu.write(this.buffers[p.ids.frozen]!, packArena(store.frozen, p.frozen));
    this.gpu.write(this.buffers[p.ids.trainable]!, packArena(store.trainable, p.trainable));
    if (state) {
      if (p.ids.m !== undefined) this.gpu.write(this.buffers[p.ids.m]!, packFlat(store.trainable, p.trainable, state.m));
      if (p.ids.v !== undefined) this.gpu.write(this.buffers[p.ids.v]!, packFlat(store.trainable, p.trainable, state.v));
      this.updates = state.step;
    }
  }

  /** Reads the trainable arena into `store.trainable` (and the optimizer state into `state`). */
  async download(store: ParamStore, state?: OptimizerState): Promise<void> {
    const p = this.plan;
    const read = (id: number) => this.gpu.read(this.buffers[id]!, Float32Array, p.trainable.bytes);
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
    if (backward && !this.plan.training) throw new GpuError('validation', 'this executor was planned without a backward pass');
    this.writeInputs(batch, opts.step, opts.training);
    const end = backward ? this.plan.backwardEnd : this.plan.forwardEnd;
    await this.encode(0, end, backward ? 'forward and backward' : 'forward').submit();
    const loss = await this.readLoss();
    const result: GpuRunResult = { loss, grads: new Map() };
    if (opts.read?.logits !== false) {
      const r = this.plan.io.logits;
      result.logits = { shape: [...r.shape], data: await this.readRegion(r) };
    }
    if (backward && opts.read?.grads !== false && this.plan.grads.length > 0) {
      const arena = await this.gpu.read(this.buffers[this.plan.ids.grads]!, Float32Array, this.plan.trainable.bytes);
      for (const g of this.plan.grads) {
        const slot = this.plan.trainable.slots.find((s) => s.path === g.path)!;
        result.grads.set(g.path, { shape: [...slot.shape], data: arena.slice(g.region.offset / 4, (g.region.offset + g.region.bytes) / 4) });
      }
    }
    return result;
  }

  /**
   * One training step on the GPU: forward, backward, global-norm clipping and the optimizer
   * update, in one submission. Reads back 16 bytes: the loss and the gradient norm. A non-finite
   * norm skips the update (as runtime/optim.ts does) and does not count as a step.
   */
  async step(batch: Batch, lr = this.t.optimizer.lr, opts: GpuStepOptions = {}): Promise<GpuStepResult> {
    if (!this.plan.training) throw new GpuError('validation', 'this executor was planned without a backward pass');
    const cfg = this.t.optimizer;
    const t = this.updates + 1;
    const hyper = new Float32Array(HYPER.floats);
    hyper[HYPER.lr] = lr;
    hyper[HYPER.bc1] = 1 - Math.pow(cfg.beta1, t);
    hyper[HYPER.bc2] = 1 - Math.pow(cfg.beta2, t);
    if (this.plan.ids.hyper !== undefined) this.gpu.write(this.buffers[this.plan.ids.hyper]!, hyper);
    this.writeInputs(batch, opts.dropoutStep ?? this.updates, opts.training ?? true);
    await this.encode(0, this.plan.steps.length, `training step ${t}`).submit();
    if (this.plan.ids.clip === undefined) return { loss: await this.readLoss(), gradNorm: 0 }; // nothing trainable
    const clip = await this.gpu.read(this.buffers[this.plan.ids.clip]!, Float32Array, 4 * CLIP.floats);
    if (clip[CLIP.skip] === 0) this.updates = t;
    return { loss: clip[CLIP.loss]!, gradNorm: clip[CLIP.norm]! };
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }

  // ------------------------------------------------------------------ internals

  private writeInputs(batch: Batch, step: number, training: boolean): void {
    const { tokens, targets } = this.plan.io;
    checkInput('tokens', batch.tokens, tokens.shape);
    checkInput('targets', batch.targets, targets.shape);
    if (!Number.isInteger(step) || step < 0) throw new GpuError('validation', `step must be a non-negative integer, got ${step}`);
    this.gpu.write(this.buffers[tokens.buffer]!, batch.tokens.data as Int32Array);
    this.gpu.write(this.buffers[targets.buffer]!, batch.targets.data as Int32Array);
    this.gpu.write(this.buffers[this.plan.ids.globals]!, Uint32Array.of(step >>> 0, training ? 1 : 0, 0, 0));
  }

  private encode(from: number, to: number, label: string): GpuBatch {
    const batch = this.gpu.batch(label);
    const bind = (r: Region) => ({ buffer: this.buffers[r.buffer]!, offset: r.offset, size: alignUp(r.bytes, 4) });
    for (const s of this.plan.steps.slice(from, to)) {
      if (s.kind === 'copy') batch.copy(this.buffers[s.src.buffer]!, this.buffers[s.dst.buffer]!, s.src.bytes, s.src.offset, s.dst.offset);
      else batch.dispatch(this.kernels[s.shader]!, s.bindings.map(bind), s.workgroups);
    }
    return batch;
  }

  private async readLoss(): Promise<number> {
    return (await this.readRegion(this.plan.io.loss))[0]!;
  }

  private readRegion(r: Region): Promise<Float32Array> {
    return this.gpu.read(this.buffers[r.buffer]!, Float32Array, r.bytes, r.offset);
  }
}

function checkInput(name: string, t: Batch['tokens'], shape: number[]): void {
  if (!(t.data instanceof Int32Array)) throw new GpuError('validation', `${name} must be an Int32Array tensor`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new GpuError('validation', `${name} has shape [${t.shape.join(', ')}]; this executor was planned for [${shape.join(', ')}]`);
  }
}

/** The arena's values laid out in the plan's 256-aligned slots (f64 stores are rounded to f32). */
function packArena(arena: Arena, layout: Plan['trainable']): Float32Array {
  return packFlat(arena, layout, arena.data);
}

/** Values in the CPU arena's layout (contiguous slots) → the plan's aligned layout. */
function packFlat(arena: Arena, layout: Plan['trainable'], flat: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }): Float32Array {
  const out = new Float32Array(layout.bytes / 4);
  for (const s of layout.slots) {
    const src = arena.slot(s.path);
    out.set(flat.subarray(src.offset, src.offset + src.size), s.offset / 4);
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
