// A training backend: forward, backward and the optimizer update over one Training IR,
// on the CPU reference or on WebGPU. The trainer and the CLI talk only to this interface.
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { ParamStore } from './arena.ts';
import { CpuExecutor, type Batch } from './cpu/executor.ts';
import type { Kernel } from './cpu/kernels/common.ts';
import type { FloatTensor } from './cpu/tensor.ts';
import type { HostDecoding } from './decode/host-decoding.ts';
import { Optimizer, type OptimizerState } from './optim.ts';

export interface StepResult {
  loss: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
}

export interface Backend {
  readonly name: string;
  readonly training: TrainingGraph;
  /** Forward, backward and one update at learning rate `lr`. */
  step(batch: Batch, lr: number): Promise<StepResult>;
  /** Loss (and logits) without dropout or gradients. */
  evaluate(batch: Batch): Promise<{ loss: number; logits: FloatTensor }>;
  /** Copies parameters and optimizer state back into the host store (a no-op on the CPU). */
  sync(): Promise<void>;
  readonly optimizer: OptimizerState;
  /** Replaces the optimizer state (resuming from a checkpoint). */
  restoreOptimizer(state: OptimizerState): void;
  /**
   * The gradients of the last step, by path, for host-side updates that read them (AdaLoRA's
   * importance scores, runtime/rank-controller.ts). The CPU backend keeps them when `keepGradients` is set.
   */
  gradients?(): Promise<Map<string, FloatTensor>>;
}

export class CpuBackend implements Backend {
  readonly name: string = 'cpu';
  /** What this backend lends its decoder (none: the reference decoder). */
  readonly decoding?: HostDecoding;
  private readonly exec: CpuExecutor;
  private readonly opt: Optimizer;
  private readonly evalExec: CpuExecutor;

  /**
   * `store` is the host's store; `runStore` (default: `store`) is the one the executor reads (the wasm
   * backend's copy of the frozen partition in WebAssembly memory beside the host's trainable
   * arena), and `kernels` its kernel table (default: the reference's).
   */
  constructor(
    readonly training: TrainingGraph,
    readonly store: ParamStore,
    kernels?: Readonly<Record<string, Kernel>>,
    readonly runStore: ParamStore = store,
  ) {
    this.exec = new CpuExecutor(training, kernels);
    this.evalExec = this.exec;
    this.opt = new Optimizer(training.optimizer, store.trainable);
  }

  get optimizer(): OptimizerState {
    return this.opt.state;
  }

  restoreOptimizer(state: OptimizerState): void {
    this.opt.state.step = state.step;
    this.opt.state.m.set(state.m);
    this.opt.state.v.set(state.v);
  }

  /** Keep each step's gradients for gradients() (AdaLoRA); off by default. */
  keepGradients = false;
  private lastGradients = new Map<string, FloatTensor>();

  async gradients(): Promise<Map<string, FloatTensor>> {
    return this.lastGradients;
  }

  async step(batch: Batch, lr: number): Promise<StepResult> {
    const res = this.exec.run(this.runStore, batch, { precision: 'f32', training: true, step: this.opt.state.step });
    if (this.keepGradients) this.lastGradients = res.grads;
    if (!Number.isFinite(res.loss)) return { loss: res.loss, gradNorm: NaN };
    const gradNorm = this.opt.step(res.grads, lr);
    return { loss: res.loss, gradNorm };
  }

  /** Loss, logits and the trainable gradients without dropout or an update (`peftc grad`). */
  gradientsOf(batch: Batch) {
    return this.exec.run(this.runStore, batch, { precision: 'f32', training: false, step: 0 });
  }

  async evaluate(batch: Batch) {
    const res = this.evalExec.run(this.runStore, batch, { precision: 'f32', training: false, step: 0, backward: false });
    return { loss: res.loss, logits: res.logits };
  }

  async sync(): Promise<void> {}
}
