// A built trainer at run time: executes the plans `peftc build` made, with no compiler.
// Isomorphic (principle 6): the Node entry (node-main.ts) and the page (page.ts) hand it the
// folder's files and a `Gpu`, and it does the rest as `peftc train` does — the same dataset
// rows, batches, learning-rate schedule, validation and checkpoint format — so the same data and
// seed give the same losses, and `peftc eval/generate --adapter` read what it saves.
import type { ParamStore } from '../arena.ts';
import { Arena } from '../arena.ts';
import { CHECKPOINT_FORMAT, packCheckpoint, readCheckpoint, restoreCheckpoint, type CheckpointState } from '../checkpoint.ts';
import type { Batch } from '../cpu/executor.ts';
import { Batcher } from '../data/batches.ts';
import { buildDataset, type Dataset, type DataSource } from '../data/dataset.ts';
import { tokenizerByName, type Tokenizer } from '../data/tokenizer.ts';
import { getFloat32, type SafetensorsFile, type WriteTensor } from '../io/safetensors.ts';
import type { OptimizerState } from '../optim.ts';
import type { ScheduleKind } from '../schedule.ts';
import { train, validate, type Divergence, type StepBackend, type StepInfo, type TrainEnd } from '../trainer.ts';
import { GpuExecutor } from '../webgpu/executor.ts';
import type { Gpu } from '../webgpu/gpu.ts';
import { checkTarget, plansFor, type KernelKind, type PlanSet, type TrainerManifest } from './manifest.ts';
import { TrainerError } from './trainer-error.ts';
import { checkQuantized, readTrainerWeights, type TrainerWeights } from './weights.ts';

/** A built trainer's files, read (Node: from its folder; browser: fetched beside the page). */
export interface TrainerFiles {
  manifest: TrainerManifest;
  /** plan.json. */
  plans: PlanSet;
  /** weights.safetensors: every parameter's initial value, by path. */
  weights: Uint8Array;
}

/** A checkpoint as `peftc train --out` writes it: checkpoint.safetensors and adapter.safetensors. */
export interface CheckpointFiles {
  checkpoint: { tensors: Record<string, WriteTensor>; metadata: Record<string, string> };
  adapter: Record<string, WriteTensor>;
}

export class BuiltTrainer implements StepBackend {
  readonly tokenizer: Tokenizer;
  readonly optimizer: OptimizerState;
  /** The GPU holds newer parameters than `store` until sync(). */
  private dirty = false;

  private constructor(
    readonly manifest: TrainerManifest,
    readonly gpu: Gpu,
    /** The kernels of the plans this device runs. */
    readonly kernels: KernelKind,
    readonly store: ParamStore,
    private readonly weights: TrainerWeights,
    private readonly exec: GpuExecutor,
  ) {
    this.tokenizer = tokenizerByName(manifest.tokenizer);
    const n = store.trainable.size;
    this.optimizer = { step: 0, m: new Float32Array(n), v: new Float32Array(n) };
  }

  /**
   * Checks the device against the plans' limits, picks the plans whose kernels suit it (software
   * kernels on a CPU adapter), compiles their shaders and uploads the weights.
   */
  static async open(gpu: Gpu, files: TrainerFiles): Promise<BuiltTrainer> {
    const m = files.manifest;
    checkTarget(m.target, gpu.info);
    const weights = readTrainerWeights(files.weights, m);
    const { kind, plans } = plansFor(files.plans, gpu.info);
    for (const plan of [plans.train, plans.eval]) if (plan) checkQuantized(weights, plan.frozen, `plan.json (${kind})`);
    // Quantized frozen matrices stay codes and scales: the host keeps no f32 copy of them.
    const store: ParamStore = {
      frozen: new Arena(m.params.filter((p) => p.partition === 'frozen' && !weights.quantized.has(p.path)), 'f32'),
      trainable: new Arena(m.params.filter((p) => p.partition === 'trainable'), 'f32'),
    };
    fillStore(store, weights.file);
    const exec = await GpuExecutor.fromPlan(gpu, plans);
    exec.upload(store, undefined, weights.quantized);
    return new BuiltTrainer(m, gpu, kind, store, weights, exec);
  }

  /** `webgpu (swiftshader: …)`, as `peftc train` names its backend. */
  get name(): string {
    const i = this.gpu.info;
    return `webgpu (${i.gpuClass}: ${i.description || i.device || i.vendor || 'unknown'}; ${this.kernels} kernels)`;
  }

  /** Back to the initial weights and a fresh optimizer (a new run in the same page). */
  reset(): void {
    fillStore(this.store, this.weights.file);
    this.optimizer.step = 0;
    this.optimizer.m.fill(0);
    this.optimizer.v.fill(0);
    this.exec.upload(this.store, this.optimizer, this.weights.quantized);
    this.dirty = false;
  }

  /** Continues from a checkpoint.safetensors (bytes); returns its training state. */
  resume(bytes: Uint8Array, where: string): CheckpointState {
    const ck = readCheckpoint(bytes, where);
    restoreCheckpoint(ck, this.store, this.optimizer, where);
    this.exec.upload(this.store, this.optimizer, this.weights.quantized);
    this.dirty = false;
    return ck.state;
  }

  async step(batch: Batch, lr: number): Promise<{ loss: number; gradNorm: number }> {
    this.dirty = true;
    return this.exec.step(batch, lr);
  }

  async evaluate(batch: Batch): Promise<{ loss: number }> {
    const r = await this.exec.run(batch, { training: false, step: 0, backward: false, read: { logits: false, grads: false } });
    return { loss: r.loss };
  }

  /** Copies the trained parameters and the optimizer state back from the GPU. */
  async sync(): Promise<void> {
    if (!this.dirty) return;
    await this.exec.download(this.store, this.optimizer);
    this.dirty = false;
  }

  /** Rows and splits as `peftc train` makes them from the same sources. */
  dataset(train: DataSource, valid?: DataSource): Dataset {
    const m = this.manifest.model;
    return buildDataset(train, {
      task: m.task,
      tokenizer: this.tokenizer,
      seqLen: this.manifest.dims.T,
      validFraction: this.manifest.settings.validFraction,
      ...(m.vocab !== undefined ? { modelVocab: m.vocab } : {}),
      ...(m.numLabels !== undefined ? { numLabels: m.numLabels } : {}),
    }, valid);
  }

  /** The checkpoint of the parameters as they are after sync(). */
  checkpoint(state: CheckpointState): CheckpointFiles {
    const adapter: Record<string, WriteTensor> = {};
    for (const s of this.store.trainable.slots) {
      if (s.param.transient) continue;
      adapter[s.param.path] = { dtype: 'F32', shape: s.param.shape, data: Float32Array.from(this.store.trainable.data.subarray(s.offset, s.offset + s.size)) };
    }
    return { checkpoint: packCheckpoint(this.store, this.optimizer, state), adapter };
  }

  destroy(): void {
    this.exec.destroy();
  }
}

/** Every parameter from the weights file; a missing or misshapen one is an error. */
function fillStore(store: ParamStore, weights: SafetensorsFile): void {
  for (const arena of [store.frozen, store.trainable]) {
    for (const s of arena.slots) {
      if (!weights.tensors.has(s.param.path)) throw new TrainerError(`weights.safetensors has no value for ${s.param.path}; rebuild the trainer`);
      arena.data.set(getFloat32(weights, s.param.path, s.param.shape), s.offset);
    }
  }
}

/** A run's choices; each defaults to the manifest's settings. */
export interface RunOptions {
  data: DataSource;
  valid?: DataSource;
  steps?: number;
  lr?: number;
  schedule?: ScheduleKind;
  warmup?: number;
  evalEvery?: number;
  evalRows?: number;
  seed?: number;
  /** A checkpoint.safetensors to continue from. */
  resume?: { bytes: Uint8Array; where: string };
}

export interface RunHooks {
  note?(text: string): void;
  onStep?(info: StepInfo): void;
  onEval?(step: number, valLoss: number): void;
  /** Saves a checkpoint (Node: files, atomically; browser: keeps it for a download). */
  checkpoint?(files: CheckpointFiles, step: number): Promise<void>;
  shouldStop?(): boolean;
  now?(): number;
}

export interface RunResult {
  end: TrainEnd;
  step: number;
  /** The validation loss before the first step, and after the last. */
  before: number;
  valLoss: number | null;
  losses: number[];
  gradNorms: number[];
  /** For a diverged run: the step that went wrong, and what was not finite. */
  diverged?: Divergence;
}

/** Trains as `peftc train` does: validation first, then the loop with checkpoints. */
export async function runTraining(trainer: BuiltTrainer, opts: RunOptions, hooks: RunHooks = {}): Promise<RunResult> {
  const m = trainer.manifest;
  const s = m.settings;
  const resumed = opts.resume ? trainer.resume(opts.resume.bytes, opts.resume.where) : undefined;
  const note = resumed && frozenDtypeNote(resumed, m, opts.resume!.where);
  if (note) hooks.note?.(note);
  const seed = opts.seed ?? resumed?.seed ?? s.seed;
  const data = trainer.dataset(opts.data, opts.valid);
  const batcher = new Batcher(data, { batchSize: m.dims.B, promptLength: m.model.promptLength, seed, validRows: opts.evalRows ?? s.evalRows });
  const steps = opts.steps ?? (s.steps > 0 ? s.steps : batcher.stepsFor(1));
  const lr = opts.lr ?? s.lr;
  const schedule = opts.schedule ?? s.schedule;
  const warmup = opts.warmup ?? s.warmup;
  const evalEvery = opts.evalEvery ?? s.evalEvery ?? Math.max(1, Math.round(steps / 5));
  const start = resumed?.step ?? 0;
  hooks.note?.(`data: ${data.train.length} training rows, ${data.valid.length} validation rows of ≤ ${m.dims.T} tokens (${m.tokenizer} tokenizer)`);
  hooks.note?.(`${steps} steps of ${m.dims.B}×${m.dims.T} tokens on ${trainer.name}${resumed ? `, resuming at step ${start}` : ''}`);
  const before = await validate(trainer, batcher.validationBatches());
  hooks.onEval?.(start, before);

  const state = (step: number, valLoss: number | null): CheckpointState => ({
    format: CHECKPOINT_FORMAT,
    step,
    seed,
    settings: {
      eval_rows: opts.evalRows ?? s.evalRows, data: opts.data.name, valid: opts.valid?.name ?? null, steps, batch: m.dims.B, seq: m.dims.T,
      lr, schedule, warmup, optimizer: m.optimizer.kind, weight_decay: m.optimizer.weightDecay, clip: m.optimizer.clipNorm,
      backend: `${trainer.name}, built trainer`, tokenizer: m.tokenizer, full: m.model.full,
      // How the step was planned (trainers built before these were recorded say nothing).
      ...(m.model.frozenDtype ? { frozen_dtype: m.model.frozenDtype } : {}), ...(m.model.recompute ? { recompute: m.model.recompute } : {}),
    },
    source: { entry: m.model.entry, files: m.model.sources },
    set: m.model.set,
    base: m.model.base,
    valLoss,
  });
  const gradNorms: number[] = [];
  let next = start;
  const res = await train(trainer, { next: () => batcher.batch(next++), validation: () => batcher.validationBatches(), tokensPerBatch: batcher.tokensPerStep }, {
    steps,
    schedule: { kind: schedule, lr, warmup, total: steps },
    evalEvery,
  }, {
    onStep: (i) => {
      gradNorms.push(i.gradNorm);
      hooks.onStep?.(i);
    },
    onEval: (st, v) => hooks.onEval?.(st, v),
    // As `peftc train`: a parameter gone NaN or infinite is never saved over the last good checkpoint.
    finite: async () => {
      await trainer.sync();
      return trainer.store.trainable.data.every(Number.isFinite);
    },
    checkpoint: async (st, valLoss) => {
      await trainer.sync();
      await hooks.checkpoint?.(trainer.checkpoint(state(st, valLoss)), st);
    },
    ...(hooks.shouldStop ? { shouldStop: hooks.shouldStop } : {}),
    now: hooks.now ?? (() => performance.now()),
  }, start);
  return { end: res.end, step: res.step, before, valLoss: res.valLoss, losses: res.losses, gradNorms, ...(res.diverged ? { diverged: res.diverged } : {}) };
}

/** A checkpoint trained on another frozen dtype than this trainer's plans store: the run goes on, its numbers differ. */
function frozenDtypeNote(state: CheckpointState, m: TrainerManifest, where: string): string | undefined {
  const was = state.settings.frozen_dtype;
  const is = m.model.frozenDtype;
  if (typeof was !== 'string' || is === undefined || was === is) return undefined;
  return `note: ${where} was trained with the frozen base in ${was}; this trainer's plans store it in ${is}, so the run continues on other numbers (rebuild with \`peftc build --frozen-dtype ${was}\` to continue it exactly)`;
}
