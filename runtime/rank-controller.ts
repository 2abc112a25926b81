// Rank selection at run time: the per-step rank masks of `lora(rank = auto(…))` (AdaLoRA) and
// `lora(rank = dynamic(…))` (DyLoRA), fed to the graph as its `rank_mask.<module>` inputs
// (compiler/peft/ranked-lora.ts builds the graph side). Isomorphic.
//
// AdaLoRA (Zhang et al. 2023; Hugging Face PEFT's RankAllocator). After the optimizer update of
// step t (t = 1 … T, the updates done so far):
//   - importance of every entry of A, E and B from its value and gradient, I = |p · ∂L/∂p|,
//     smoothed Ī ← β1·Ī + (1−β1)·I and its uncertainty Ū ← β2·Ū + (1−β2)·|I − Ī|; s = Ī·Ū;
//   - the score of singular triplet i: s(E_i) + mean_j s(A_ij) + mean_j s(B_ji);
//   - the budget b(t): b0 (= Σ init ranks) while t ≤ tinit; bT (= Σ target ranks) from
//     t = T − tfinal on; in between b(t) = ⌊bT + (b0 − bT)·(1 − (t − tinit)/(T − tinit − tfinal))³⌋;
//   - every ΔT steps in between, and once at t = T − tfinal, the active triplets with the
//     lowest scores are masked until b(t) remain. A masked triplet stays masked (its E_i is set to
//     zero and kept zero), so from T − tfinal on the ranks sum to bT exactly; importance is no
//     longer updated then.
// DyLoRA (Valipour et al. 2023): each training step draws b uniformly from 1 … max (one draw per
// step for every module, b clamped to a module's own max) from the run's seed and the step, so
// a resumed run draws the same ranks; module m's mask is alpha/b on its first b entries, 0 after.
// Evaluation uses a chosen rank (default max) for every module.
import { rankedModules, type RankedModule } from '../compiler/peft/ranked-modules.ts';
import type { Graph } from '../compiler/ir/types.ts';
import type { ParamStore } from './arena.ts';
import type { Backend, StepResult } from './backend.ts';
import type { Batch } from './cpu/executor.ts';
import { pcg } from './cpu/rng.ts';
import type { FloatTensor, Tensor } from './cpu/tensor.ts';
import { getFloat32, type SafetensorsFile, type WriteTensor } from './io/safetensors.ts';
import type { OptimizerState } from './optim.ts';

export class RankError extends Error {
  override name = 'RankError';
}

// ------------------------------------------------------------------ the budget schedule

export interface BudgetSchedule {
  /** Σ of the initial ranks. */
  b0: number;
  /** Σ of the target ranks. */
  bT: number;
  /** T, the run's optimizer steps. */
  total: number;
  tinit: number;
  tfinal: number;
  deltaT: number;
}

export interface BudgetStep {
  budget: number;
  /** Whether triplets are masked (down to the budget) after this step. */
  mask: boolean;
  /** Whether the importance scores take this step's gradients. */
  update: boolean;
}

/** The budget after update t (1 … T) and whether to mask then. */
export function budgetAt(t: number, s: BudgetSchedule): BudgetStep {
  const end = s.total - s.tfinal;
  if (t <= s.tinit) return { budget: s.b0, mask: false, update: true };
  if (t > end) return { budget: s.bT, mask: false, update: false };
  if (t === end) return { budget: s.bT, mask: true, update: true };
  const f = 1 - (t - s.tinit) / (end - s.tinit);
  // The small epsilon keeps a budget that is whole in exact arithmetic from rounding down.
  return { budget: Math.floor(s.bT + (s.b0 - s.bT) * f * f * f + 1e-9), mask: t % s.deltaT === 0, update: true };
}

export function checkSchedule(s: BudgetSchedule): void {
  if (s.total - s.tinit - s.tfinal < 1) {
    throw new RankError(
      `rank = auto(…) needs a budgeting phase: the run has ${s.total} steps, tinit is ${s.tinit} and tfinal ${s.tfinal}; ` +
        'give more --steps or a smaller tinit/tfinal',
    );
  }
}

// ------------------------------------------------------------------ importance scores

/** Exponential moving averages of one tensor's sensitivity |p·g| and its uncertainty. */
export class Importance {
  readonly ipt: Float64Array;
  readonly unc: Float64Array;

  constructor(size: number) {
    this.ipt = new Float64Array(size);
    this.unc = new Float64Array(size);
  }

  /** Ī ← β1·Ī + (1−β1)·|p·g|; Ū ← β2·Ū + (1−β2)·|I − Ī| (with the new Ī, as PEFT). */
  update(p: ArrayLike<number>, g: ArrayLike<number>, beta1: number, beta2: number): void {
    for (let i = 0; i < this.ipt.length; i++) {
      const I = Math.abs(p[i]! * g[i]!);
      const avg = (this.ipt[i] = beta1 * this.ipt[i]! + (1 - beta1) * I);
      this.unc[i] = beta2 * this.unc[i]! + (1 - beta2) * Math.abs(I - avg);
    }
  }

  score(i: number): number {
    return this.ipt[i]! * this.unc[i]!;
  }
}

/** Triplet scores of one module: s(E_i) + mean_j s(A_ij) + mean_j s(B_ji); A [r, in], B [out, r]. */
export function tripletScores(r: number, A: Importance, E: Importance, B: Importance): Float64Array {
  const fin = A.ipt.length / r;
  const fout = B.ipt.length / r;
  const out = new Float64Array(r);
  for (let i = 0; i < r; i++) {
    let a = 0;
    for (let j = 0; j < fin; j++) a += A.score(i * fin + j);
    let b = 0;
    for (let j = 0; j < fout; j++) b += B.score(j * r + i);
    out[i] = E.score(i) + a / fin + b / fout;
  }
  return out;
}

/**
 * Masks the active triplets (mask 1) with the lowest scores until at most `budget` remain;
 * ties go to the earlier module, then the earlier index. Returns how many it masked.
 */
export function maskToBudget(masks: Uint8Array[], scores: Float64Array[], budget: number): number {
  const active: { m: number; i: number; s: number }[] = [];
  masks.forEach((mask, m) => mask.forEach((on, i) => on && active.push({ m, i, s: scores[m]![i]! })));
  const drop = active.length - budget;
  if (drop <= 0) return 0;
  active.sort((a, b) => a.s - b.s || a.m - b.m || a.i - b.i);
  for (const x of active.slice(0, drop)) masks[x.m]![x.i] = 0;
  return drop;
}

// ------------------------------------------------------------------ DyLoRA's draw

/** The rank of training step `step` (0-based) for a largest rank `max`: 1 … max, from the seed. */
export function dynamicRank(seed: number, step: number, max: number): number {
  return 1 + (pcg((pcg(seed >>> 0) + pcg(step >>> 0)) >>> 0) % max);
}

/** A DyLoRA mask: alpha/b on the first b of r entries, 0 after. */
export function dynamicMask(r: number, b: number, alpha: number): Float32Array {
  const m = new Float32Array(r);
  m.fill(alpha / b, 0, Math.min(b, r));
  return m;
}

// ------------------------------------------------------------------ the controller

export interface RankOptions {
  /** T: the run's optimizer steps (AdaLoRA's schedule). */
  totalSteps?: number;
  /** DyLoRA's draws. */
  seed?: number;
  /** Evaluation rank of DyLoRA modules (default: each module's max). */
  evalRank?: number;
}

interface AutoModule {
  m: RankedModule;
  mask: Uint8Array;
  A: Importance;
  E: Importance;
  B: Importance;
}

/** Masks, importance scores and the schedule of one run. */
export class RankController {
  readonly modules: RankedModule[];
  private readonly auto: AutoModule[];
  readonly schedule?: BudgetSchedule;
  private readonly beta1: number;
  private readonly beta2: number;
  /** Updates done, as the last afterStep saw them. */
  t = 0;

  constructor(
    readonly graph: Graph,
    private readonly opts: RankOptions = {},
  ) {
    this.modules = rankedModules(graph);
    const size = (path: string) => graph.params.find((p) => p.path === path)!.shape.reduce((a, b) => a * b, 1);
    this.auto = this.modules
      .filter((m) => m.mode === 'auto')
      .map((m) => ({ m, mask: new Uint8Array(m.rank).fill(1), A: new Importance(size(m.A)), E: new Importance(m.rank), B: new Importance(size(m.B)) }));
    const first = this.auto[0]?.m.settings;
    this.beta1 = (first?.beta1 as number) ?? 0.85;
    this.beta2 = (first?.beta2 as number) ?? 0.85;
    if (first && opts.totalSteps !== undefined) {
      this.schedule = {
        b0: this.auto.reduce((a, x) => a + x.m.rank, 0),
        bT: this.auto.reduce((a, x) => a + (x.m.settings.target as number), 0),
        total: opts.totalSteps,
        tinit: first.tinit as number,
        tfinal: first.tfinal as number,
        deltaT: first.delta_t as number,
      };
      checkSchedule(this.schedule);
    }
    if (opts.evalRank !== undefined) this.evalRank = opts.evalRank;
  }

  /** The rank DyLoRA modules are evaluated at (undefined: each module's max). */
  get evalRank(): number | undefined {
    return this.opts.evalRank;
  }

  set evalRank(n: number | undefined) {
    if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new RankError(`--rank must be an integer ≥ 1, not ${n}`);
    this.opts.evalRank = n;
  }

  get hasAuto(): boolean {
    return this.auto.length > 0;
  }

  /** The mask inputs of training step `step` (0-based: the updates done before it). */
  trainInputs(step: number): Record<string, Tensor> {
    const maxAll = Math.max(0, ...this.modules.filter((m) => m.mode === 'dynamic').map((m) => m.rank));
    const b = maxAll ? dynamicRank(this.opts.seed ?? 0, step, maxAll) : 0;
    return this.inputs((m) => dynamicMask(m.rank, Math.min(b, m.rank), m.alpha));
  }

  /** The mask inputs for evaluation: AdaLoRA's current masks, DyLoRA at the evaluation rank. */
  evalInputs(): Record<string, Tensor> {
    return this.inputs((m) => dynamicMask(m.rank, Math.min(this.evalRank ?? m.rank, m.rank), m.alpha));
  }

  private inputs(dynamic: (m: RankedModule) => Float32Array): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const m of this.modules) {
      const data = m.mode === 'dynamic' ? dynamic(m) : Float32Array.from(this.auto.find((a) => a.m === m)!.mask);
      out[m.input] = { shape: [m.rank], data };
    }
    return out;
  }

  /**
   * After update t (1-based), with the parameters after the update and this step's gradients:
   * importance, budget and masking. Returns the budget and how many triplets were masked.
   */
  afterStep(t: number, store: ParamStore, grads: Map<string, FloatTensor>): { budget: number; masked: number } {
    this.t = t;
    if (!this.auto.length) return { budget: 0, masked: 0 };
    if (!this.schedule) throw new RankError('internal: rank = auto(…) needs the run\'s total steps');
    const step = budgetAt(t, this.schedule);
    if (step.update) {
      for (const a of this.auto) {
        for (const [path, imp] of [[a.m.A, a.A], [a.m.E!, a.E], [a.m.B, a.B]] as const) {
          const g = grads.get(path);
          if (g) imp.update(store.trainable.view(path), g.data, this.beta1, this.beta2);
        }
      }
    }
    let masked = 0;
    if (step.mask) {
      masked = maskToBudget(
        this.auto.map((a) => a.mask),
        this.auto.map((a) => tripletScores(a.m.rank, a.A, a.E, a.B)),
        step.budget,
      );
    }
    this.zeroMasked(store);
    return { budget: step.budget, masked };
  }

  /** E_i = 0 for every masked triplet (and its optimizer moments, when given): kept zero. */
  zeroMasked(store: ParamStore, opt?: OptimizerState): void {
    for (const a of this.auto) {
      const slot = store.trainable.slot(a.m.E!);
      a.mask.forEach((on, i) => {
        if (on) return;
        store.trainable.data[slot.offset + i] = 0;
        if (opt) opt.m[slot.offset + i] = opt.v[slot.offset + i] = 0;
      });
    }
  }

  /** The current rank of every AdaLoRA module (its active triplets). */
  ranks(): Map<string, number> {
    return new Map(this.auto.map((a) => [a.m.module, a.mask.reduce((s, x) => s + x, 0)]));
  }

  /** State for a checkpoint: `rank.mask.<module>`, `rank.ipt.<path>`, `rank.unc.<path>`. */
  tensors(): Record<string, WriteTensor> {
    const out: Record<string, WriteTensor> = {};
    for (const a of this.auto) {
      out[`rank.mask.${a.m.module}`] = { dtype: 'F32', shape: [a.m.rank], data: Float32Array.from(a.mask) };
      for (const [path, imp] of [[a.m.A, a.A], [a.m.E!, a.E], [a.m.B, a.B]] as const) {
        out[`rank.ipt.${path}`] = { dtype: 'F32', shape: [imp.ipt.length], data: Float32Array.from(imp.ipt) };
        out[`rank.unc.${path}`] = { dtype: 'F32', shape: [imp.unc.length], data: Float32Array.from(imp.unc) };
      }
    }
    return out;
  }

  /** Restores the masks and scores of a checkpoint (a checkpoint without them starts afresh). */
  restore(file: SafetensorsFile): void {
    for (const a of this.auto) {
      const mask = `rank.mask.${a.m.module}`;
      if (!file.tensors.has(mask)) continue;
      getFloat32(file, mask, [a.m.rank]).forEach((v, i) => (a.mask[i] = v ? 1 : 0));
      for (const [path, imp] of [[a.m.A, a.A], [a.m.E!, a.E], [a.m.B, a.B]] as const) {
        if (file.tensors.has(`rank.ipt.${path}`)) imp.ipt.set(getFloat32(file, `rank.ipt.${path}`));
        if (file.tensors.has(`rank.unc.${path}`)) imp.unc.set(getFloat32(file, `rank.unc.${path}`));
      }
    }
  }
}

/**
 * The final rank of each AdaLoRA module of a checkpoint: its saved masks (`rank.mask.<module>`),
 * else the non-zero singular values of its adapter. Modules of other kinds are absent.
 */
export function checkpointRanks(g: Graph, checkpoint: SafetensorsFile | undefined, adapter: Map<string, ArrayLike<number>> | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of rankedModules(g)) {
    if (m.mode !== 'auto') continue;
    const mask = `rank.mask.${m.module}`;
    if (checkpoint?.tensors.has(mask)) out.set(m.module, getFloat32(checkpoint, mask).reduce((s, v) => s + (v ? 1 : 0), 0));
    else if (adapter?.has(m.E!)) out.set(m.module, Array.from(adapter.get(m.E!)!).filter((v) => v !== 0).length);
  }
  return out;
}

/** Adds `inputs` to a batch (the batch's own extra inputs win). */
export function withInputs(batch: Batch, inputs: Record<string, Tensor>): Batch {
  return { ...batch, extra: { ...inputs, ...batch.extra } };
}

/**
 * A backend whose steps feed the rank masks and, for AdaLoRA, update importance and masks after
 * each update (host-side: on WebGPU it reads the gradients and the parameters back every step).
 */
export class RankedBackend implements Backend {
  private updates: number | undefined;

  constructor(
    readonly inner: Backend,
    readonly store: ParamStore,
    readonly ctl: RankController,
  ) {
    const cpu = inner as { keepGradients?: boolean };
    if (ctl.hasAuto && 'keepGradients' in cpu) cpu.keepGradients = true;
  }

  get name(): string {
    return this.inner.name;
  }

  get training() {
    return this.inner.training;
  }

  get optimizer(): OptimizerState {
    return this.inner.optimizer;
  }

  restoreOptimizer(state: OptimizerState): void {
    this.inner.restoreOptimizer(state);
    this.updates = state.step;
  }

  async step(batch: Batch, lr: number): Promise<StepResult> {
    this.updates ??= this.inner.optimizer.step;
    const res = await this.inner.step(withInputs(batch, this.ctl.trainInputs(this.updates)), lr);
    if (!Number.isFinite(res.loss) || !Number.isFinite(res.gradNorm)) return res;
    this.updates++;
    if (this.ctl.hasAuto) {
      if (!this.inner.gradients) throw new RankError(`the ${this.inner.name} backend cannot give its gradients back, which rank = auto(…) needs`);
      const grads = await this.inner.gradients();
      await this.inner.sync();
      this.ctl.afterStep(this.updates, this.store, grads);
      this.ctl.zeroMasked(this.store, this.inner.optimizer);
    }
    return res;
  }

  evaluate(batch: Batch) {
    return this.inner.evaluate(withInputs(batch, this.ctl.evalInputs()));
  }

  async sync(): Promise<void> {
    await this.inner.sync();
    this.ctl.zeroMasked(this.store);
  }

  gradients(): Promise<Map<string, FloatTensor>> {
    return this.inner.gradients ? this.inner.gradients() : Promise.resolve(new Map());
  }
}
