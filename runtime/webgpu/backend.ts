// The WebGPU training backend: a GpuExecutor of the plans made for the training batches' shape
// (B × T; runtime/webgpu/plans.ts). Steps run entirely on the GPU and read back 16 bytes (loss, gradient norm).
// Evaluation of a batch of that shape runs on the GPU too; other shapes (generation, one
// growing sequence) run on the CPU reference over parameters synced from the GPU.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import type { ParamStore } from '../arena.ts';
import { CpuBackend, type Backend, type StepResult } from '../backend.ts';
import type { Batch } from '../cpu/executor.ts';
import type { FloatTensor } from '../cpu/tensor.ts';
import type { OptimizerState } from '../optim.ts';
import { float32ToHalf, halfToFloat32 } from '../io/half.ts';
import type { GpuExecutor } from './executor.ts';
import type { Gpu } from './gpu.ts';
import { createExecutor } from './plans.ts';

export class WebGpuBackend implements Backend {
  readonly name: string;
  private exec?: GpuExecutor;
  private readonly cpu: CpuBackend;
  /** The GPU holds the newer parameters until sync(). */
  private dirty = false;

  constructor(
    readonly gpu: Gpu,
    readonly training: TrainingGraph,
    readonly store: ParamStore,
    /** frozenF16: frozen weight matrices in f16 on the GPU (PlanOptions.frozenF16). */
    private readonly opts: { frozenF16?: boolean } = {},
  ) {
    this.name = `webgpu (${gpu.info.adapterClass}: ${gpu.info.description || gpu.info.device || gpu.info.vendor})`;
    this.cpu = new CpuBackend(training, store);
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
    }
  }

  private async executor(batch: Batch): Promise<GpuExecutor | undefined> {
    const [B, T] = batch.tokens.shape as [number, number];
    if (this.exec) return this.exec.dims.B === B && this.exec.dims.T === T ? this.exec : undefined;
    const exec = await createExecutor(this.gpu, this.training, { B, T }, { store: this.store, plan: { frozenF16: this.opts.frozenF16 ?? false } });
    this.exec = exec;
    // The weights the GPU holds in f16 are the model's weights now: the CPU paths (generation,
    // other shapes) compute with the same rounded values.
    roundToHalf(this.store, exec.plan.frozen.slots.filter((s) => s.dtype === 'f16').map((s) => s.path));
    exec.upload(this.store, this.cpu.optimizer);
    exec.updates = this.cpu.optimizer.step;
    return exec;
  }

  async step(batch: Batch, lr: number): Promise<StepResult> {
    const exec = await this.executor(batch);
    if (!exec) throw new Error(`the WebGPU plan is compiled for ${this.exec!.dims.B}×${this.exec!.dims.T} batches; this one is ${batch.tokens.shape.join('×')}`);
    this.dirty = true;
    return exec.step(batch, lr);
  }

  async evaluate(batch: Batch): Promise<{ loss: number; logits: FloatTensor }> {
    const exec = await this.executor(batch);
    if (exec) {
      const r = await exec.run(batch, { training: false, step: 0, backward: false, read: { logits: true, grads: false } });
      return { loss: r.loss, logits: r.logits! };
    }
    await this.sync();
    return this.cpu.evaluate(batch);
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
