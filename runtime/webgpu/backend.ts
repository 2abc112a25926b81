// The WebGPU training backend: a GpuExecutor of the plans made for the training batches' shape
// (B × T; runtime/webgpu/plans.ts). Steps run entirely on the GPU and read back 16 bytes (loss, gradient norm).
// Evaluation runs on the GPU for every shape: a batch of the training shape on the training
// plan, others on forward-only plans made per batch size and length bucket (length-buckets.ts:
// powers of two, padded on the right where that is harmless) and kept, all reading the same
// parameter buffers. Nothing runs on the CPU.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import type { QuantDtype } from '../../compiler/quant/weight.ts';
import type { ParamStore } from '../arena.ts';
import { CpuBackend, type Backend, type StepResult } from '../backend.ts';
import type { Batch } from '../cpu/executor.ts';
import type { FloatTensor } from '../cpu/tensor.ts';
import type { OptimizerState } from '../optim.ts';
import { float32ToHalf, halfToFloat32 } from '../io/half.ts';
import type { Plan } from '../../compiler/lower/plan.ts';
import { GpuExecutor } from './executor.ts';
import type { Gpu } from './gpu.ts';
import { lengthBucket, padBatch, padsSafely, trimLogits } from './length-buckets.ts';
import { createEvalExecutor, createExecutor } from './plans.ts';
import { DEFAULT_LOSS_CHUNK_BYTES } from '../../compiler/lower/plan.ts';

/** How the GPU stores the frozen weight matrices (the planner's options of the same names). */
export interface WebGpuBackendOptions {
  /** In f16 (PlanOptions.frozenF16): the host store is rounded to the same values. */
  frozenF16?: boolean;
  /**
   * Quantized (PlanOptions.frozenQuant): codes and scales on the GPU, quantized at upload from the
   * store, which already holds the values they stand for (runtime/quantize-store.ts).
   */
  frozenQuant?: QuantDtype;
}

export class WebGpuBackend implements Backend {
  readonly name: string;
  private exec?: GpuExecutor;
  /** Forward-only executors by `B×T` (T a length bucket where padding is safe). */
  private readonly evals = new Map<string, GpuExecutor>();
  /** The executor that owns the parameter buffers (the first one made); the others borrow them. */
  private owner?: GpuExecutor;
  private paddable?: boolean;
  private readonly cpu: CpuBackend;
  /** The GPU holds the newer parameters until sync(). */
  private dirty = false;

  constructor(
    readonly gpu: Gpu,
    readonly training: TrainingGraph,
    readonly store: ParamStore,
    private readonly opts: WebGpuBackendOptions = {},
  ) {
    this.name = `webgpu (${gpu.info.gpuClass}: ${gpu.info.description || gpu.info.device || gpu.info.vendor})`;
    this.cpu = new CpuBackend(training, store);
  }

  /** The B×T shapes of the forward-only plans made so far, in order (one per batch size and length bucket). */
  get evalShapes(): string[] {
    return [...this.evals.keys()];
  }

  /** The optimizer state on the host (current after sync()). */
  get optimizer(): OptimizerState {
    return this.cpu.optimizer;
  }

  restoreOptimizer(state: OptimizerState): void {
    this.cpu.restoreOptimizer(state);
    if (this.exec) {
      this.exec.upload(this.store, this.cpu.optimizer);
      this.exec.updates = state.step;
    } else this.owner?.upload(this.store);
  }

  /** The training executor for `batch`'s shape: made on the first step; undefined for another shape. */
  private async executor(batch: Batch): Promise<GpuExecutor | undefined> {
    const [B, T] = batch.tokens.shape as [number, number];
    if (this.exec) return this.exec.dims.B === B && this.exec.dims.T === T ? this.exec : undefined;
    // Training reads back the loss only: its loss is computed over chunks of rows, so the whole
    // logits never exist (evaluate() plans a forward pass of its own for them).
    const plan = { ...this.planOptions(), lossChunkBytes: DEFAULT_LOSS_CHUNK_BYTES };
    const exec = await createExecutor(this.gpu, this.training, { B, T }, { plan, ...(this.owner ? { params: this.owner } : {}) });
    this.exec = this.adopt(exec);
    exec.upload(this.store, this.cpu.optimizer);
    exec.updates = this.cpu.optimizer.step;
    return exec;
  }

  /** The forward-only executor of B × T batches, made (and kept) on first use. */
  private async evalExecutor(B: number, T: number): Promise<GpuExecutor> {
    const key = `${B}x${T}`;
    const have = this.evals.get(key);
    if (have) return have;
    const exec = await createEvalExecutor(this.gpu, this.training, { B, T }, { plan: this.planOptions(), ...(this.owner ? { params: this.owner } : {}) });
    if (!this.owner) exec.upload(this.store);
    this.evals.set(key, this.adopt(exec));
    return exec;
  }

  /** The planner options of every plan on this backend's parameter buffers. */
  planOptions() {
    return { frozenF16: this.opts.frozenF16 ?? false, ...(this.opts.frozenQuant ? { frozenQuant: this.opts.frozenQuant } : {}) };
  }

  /**
   * An executor of a decoding plan (runtime/webgpu/decoder.ts) on this backend's parameter
   * buffers (the first executor made owns them and uploads the store); `cache`: the executor whose
   * key/value cache it shares.
   */
  async decodeExecutor(plan: Plan, graph: TrainingGraph, cache?: GpuExecutor): Promise<GpuExecutor> {
    await this.sync();
    const exec = await GpuExecutor.fromPlan(this.gpu, { train: plan }, { graph, ...(this.owner ? { params: this.owner } : { store: this.store }), ...(cache ? { cache } : {}) });
    return this.adopt(exec);
  }

  /** Whether `exec` holds the parameter buffers the backend's other executors read (never destroyed). */
  ownsParameters(exec: GpuExecutor): boolean {
    return exec === this.owner;
  }

  /** Makes the first executor the parameters' owner (a later one borrows its buffers). */
  private adopt(exec: GpuExecutor): GpuExecutor {
    if (this.owner) return exec;
    this.owner = exec;
    // The weights the GPU holds in f16 are the model's weights now: host-side readers of the
    // store compute with the same rounded values.
    roundToHalf(this.store, exec.plan.frozen.slots.filter((s) => s.dtype === 'f16').map((s) => s.path));
    return exec;
  }

  async step(batch: Batch, lr: number): Promise<StepResult> {
    const exec = await this.executor(batch);
    if (!exec) throw new Error(`the WebGPU plan is compiled for ${this.exec!.dims.B}×${this.exec!.dims.T} batches; this one is ${batch.tokens.shape.join('×')}`);
    this.dirty = true;
    return exec.step(batch, lr);
  }

  async evaluate(batch: Batch): Promise<{ loss: number; logits: FloatTensor }> {
    const read = { training: false, step: 0, backward: false, read: { logits: true, grads: false } };
    const [B, T] = batch.tokens.shape as [number, number];
    if (this.exec && this.exec.dims.B === B && this.exec.dims.T === T && this.exec.plan.io.logits) {
      const r = await this.exec.run(batch, read);
      return { loss: r.loss, logits: r.logits! };
    }
    const g = this.training.graph;
    const P = g.promptLength;
    this.paddable ??= padsSafely(g);
    const pad = this.paddable && batch.targets.shape.length === 2 && batch.targets.shape[1] === P + T;
    const bucket = pad ? lengthBucket(g, T) : T;
    const exec = await this.evalExecutor(B, bucket);
    const r = await exec.run(padBatch(batch, bucket, P), read);
    return { loss: r.loss, logits: bucket === T ? r.logits! : trimLogits(r.logits!, P + T) };
  }

  /** The last step's gradients, read back from the GPU's gradient arena. */
  async gradients(): Promise<Map<string, FloatTensor>> {
    return this.exec ? this.exec.readGradients() : new Map();
  }

  async sync(): Promise<void> {
    if (!this.exec || !this.dirty) return;
    await this.exec.download(this.store, this.cpu.optimizer);
    this.cpu.optimizer.step = this.exec.updates;
    this.dirty = false;
  }
}

/** Rounds the named frozen parameters of `store` to the nearest f16 value, in place. */
function roundToHalf(store: ParamStore, paths: readonly string[]): void {
  for (const path of paths) {
    const v = store.frozen.view(path);
    v.set(halfToFloat32(float32ToHalf(Float32Array.from(v), 'F16'), 'F16'));
  }
}
