// Rank selection at run time: the per-step rank masks of `lora(rank = auto(…))` (AdaLoRA) and
// `lora(rank = dynamic(…))` (DyLoRA), fed to the graph as its `rank_mask.<module>` inputs
// (compiler/peft/ranked-lora.ts builds the graph side). Isomorphic.
//
// AdaLoRA (Zhang et al. 2023; Hugging Face PEFT's RankAllocator). After the optimizer update of
// step t (t = 1 … T, the updates done so far):
//   - importance of every entry of A, E and B from its value and gradient, I = |p · ∂L/∂p|,
//     smoothed Ī ← β1·Ī + (1−β1)·I and its uncertainty Ū ← β2·Ū + (1−β2)·|I − Ī|; s = Ī·Ū;
//     for t < T − tfinal, and at t = T − tfinal too with `form = paper` (its Algorithm 1 scores
//     every step; PEFT's update_and_allocate does not at the final masking);
//   - the score of singular triplet i: s(E_i) + mean_j s(A_ij) + mean_j s(B_ji);
//   - the budget b(t): b0 (= Σ init ranks) while t ≤ tinit; bT (= Σ target ranks) from
//     t = T − tfinal on; in between b(t) = ⌊bT + (b0 − bT)·(1 − (t − tinit)/(T − tinit − tfinal))³⌋;
//   - every ΔT steps in between, and once at t = T − tfinal, all triplets are ranked and those
//     outside the best b(t) are masked: E_i is set to zero. As in PEFT and the paper, a masked
//     triplet keeps training (E_i gets its gradient again), so it may come back at the next
//     masking; from T − tfinal on the pattern is fixed and E_i is zeroed after every update.
//     The rank-mask input stays all ones: masking is on E, as PEFT's.
// DyLoRA (Valipour et al. 2023): each training step draws b uniformly from min … max (one draw
// per step for every module, from the smallest min to the largest max, clamped to a module's own;
// from the run's seed and the step, so a resumed run draws the same); module m's mask is alpha/b
// on its first b entries, 0 after. With `update = sampled` only the b-th row of A and column of B
// learn: their gradients are masked in the graph (compiler/peft/sampled-rank.ts) and the other
// rows and columns keep their values and optimizer moments through the update.
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
  /** AdaLoRA's form (default peft): whether the final masking takes that step's scores. */
  form?: 'peft' | 'paper';
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
  if (t === end) return { budget: s.bT, mask: true, update: s.form === 'paper' };
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
 * Ranks every triplet, masked or not, and keeps the `budget` best (mask 1), masking the rest
 * (PEFT's mask_to_budget); ties go to the earlier module, then the earlier index. Returns how
 * many it masked.
 */
export function maskToBudget(masks: Uint8Array[], scores: Float64Array[], budget: number): number {
  const all: { m: number; i: number; s: number }[] = [];
  masks.forEach((mask, m) => mask.forEach((_, i) => all.push({ m, i, s: scores[m]![i]! })));
  all.sort((a, b) => a.s - b.s || a.m - b.m || a.i - b.i);
  const drop = Math.max(0, all.length - budget);
  all.forEach((x, k) => (masks[x.m]![x.i] = k < drop ? 0 : 1));
  return drop;
}

// ------------------------------------------------------------------ DyLoRA's draw

/** The rank of training step `step` (0-based) for ranks `min` … `max` (min 1 by default), from the seed. */
export function dynamicRank(seed: number, step: number, max: number, min = 1): number {
  return min + (pcg((pcg(seed >>> 0) + pcg(step >>> 0)) >>> 0) % (max - min + 1));
}

/** `update = sampled`: 1 at rank b (entry b − 1), 0 elsewhere. */
export function sampledUpdate(r: number, b: number): Float32Array {
  const u = new Float32Array(r);
  u[b - 1] = 1;
  return u;
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
        form: this.auto[0]!.m.form ?? 'peft',
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

  /** DyLoRA's rank of training step `step` for module `m` (its own min … max). */
  dynamicRankOf(step: number, m: RankedModule): number {
    const dyn = this.modules.filter((x) => x.mode === 'dynamic');
    const max = Math.max(...dyn.map((x) => x.rank));
    const min = Math.min(...dyn.map((x) => x.min ?? 1));
    const b = dynamicRank(this.opts.seed ?? 0, step, max, min);
    return Math.max(m.min ?? 1, Math.min(b, m.rank));
  }

  /** The inputs of training step `step` (0-based: the updates done before it). */
  trainInputs(step: number): Record<string, Tensor> {
    const out = this.inputs((m) => dynamicMask(m.rank, this.dynamicRankOf(step, m), m.alpha));
    for (const m of this.sampled()) out[m.update!] = { shape: [m.rank], data: sampledUpdate(m.rank, this.dynamicRankOf(step, m)) };
    return out;
  }

  /** The mask inputs for evaluation: AdaLoRA's (all ones), DyLoRA at the evaluation rank. */
  evalInputs(): Record<string, Tensor> {
    return this.inputs((m) => dynamicMask(m.rank, Math.min(this.evalRank ?? m.rank, m.rank), m.alpha));
  }

  /** The DyLoRA modules with `update = sampled`. */
  sampled(): RankedModule[] {
    return this.modules.filter((m) => m.update !== undefined);
  }

  private inputs(dynamic: (m: RankedModule) => Float32Array): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const m of this.modules) {
      // AdaLoRA masks E itself (zeroMasked), as PEFT: its mask input stays all ones.
      const data = m.mode === 'dynamic' ? dynamic(m) : new Float32Array(m.rank).fill(1);
      out[m.input] = { shape: [m.rank], data };
    }
    return out;
  }

  /**
   * After update t (1-based), with the parameters after the update and this step's gradients:
   * importance, budget and masking. Returns the budget, how many triplets are masked, and whether
   * E changed in `store` (the device needs it back).
   */
  afterStep(t: number, store: ParamStore, grads: Map<string, FloatTensor>): { budget: number; masked: number; changed: boolean } {
    this.t = t;
    if (!this.auto.length) return { budget: 0, masked: 0, changed: false };
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
    // E is zeroed when masking and, the pattern fixed, after every update of the final phase;
    // in between a masked triplet trains and may come back.
    const changed = step.mask || t > this.schedule.total - this.schedule.tfinal ? this.zeroMasked(store) : false;
    return { budget: step.budget, masked, changed };
  }

  /** E_i = 0 for every masked triplet (PEFT's masked_fill_; its optimizer moments are left). Returns whether any changed. */
  zeroMasked(store: ParamStore): boolean {
    let changed = false;
    for (const a of this.auto) {
      const slot = store.trainable.slot(a.m.E!);
      a.mask.forEach((on, i) => {
        if (on || store.trainable.data[slot.offset + i] === 0) return;
        store.trainable.data[slot.offset + i] = 0;
        changed = true;
      });
    }
    return changed;
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

/** Values of a sampled DyLoRA update's frozen ranks: arena offsets, parameters and AdamW moments. */
interface Frozen {
  idx: number[];
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
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
    const inputs = this.ctl.trainInputs(this.updates);
    const frozen = await this.freezeOthers(inputs);
    const res = await this.inner.step(withInputs(batch, inputs), lr);
    if (frozen) await this.thaw(frozen);
    if (!Number.isFinite(res.loss) || !Number.isFinite(res.gradNorm)) return res;
    this.updates++;
    if (this.ctl.hasAuto) {
      if (!this.inner.gradients) throw new RankError(`the ${this.inner.name} backend cannot give its gradients back, which rank = auto(…) needs`);
      const grads = await this.inner.gradients();
      await this.inner.sync();
      if (this.ctl.afterStep(this.updates, this.store, grads).changed) this.toDevice();
    }
    return res;
  }

  /**
   * DyLoRA's `update = sampled`: a copy of every rank's row of A and column of B, with their
   * optimizer moments, but the one this step trains, to put back after the update (AdamW would
   * move them on their moments and weight decay even with a zero gradient).
   */
  private async freezeOthers(inputs: Record<string, Tensor>): Promise<Frozen[] | undefined> {
    const mods = this.ctl.sampled();
    if (!mods.length) return undefined;
    await this.inner.sync();
    const opt = this.inner.optimizer;
    const out: Frozen[] = [];
    for (const m of mods) {
      const b = (inputs[m.update!]!.data as Float32Array).indexOf(1);
      for (const [path, axis] of [[m.A, 0], [m.B, 1]] as const) {
        const slot = this.store.trainable.slot(path);
        const [rows, cols] = slot.param.shape as [number, number];
        const idx: number[] = [];
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) if ((axis === 0 ? i : j) !== b) idx.push(slot.offset + i * cols + j);
        const at = (a: ArrayLike<number>) => Float64Array.from(idx, (k) => a[k]!);
        out.push({ idx, p: at(this.store.trainable.data), m: at(opt.m), v: at(opt.v) });
      }
    }
    return out;
  }

  private async thaw(frozen: Frozen[]): Promise<void> {
    await this.inner.sync();
    const opt = this.inner.optimizer;
    for (const f of frozen) {
      f.idx.forEach((k, n) => {
        this.store.trainable.data[k] = f.p[n]!;
        opt.m[k] = f.m[n]!;
        opt.v[k] = f.v[n]!;
      });
    }
    this.toDevice();
  }

  /** Host-side edits of the parameters or moments back to the device (a no-op copy on the CPU). */
  private toDevice(): void {
    this.inner.restoreOptimizer(this.inner.optimizer);
  }

  evaluate(batch: Batch) {
    return this.inner.evaluate(withInputs(batch, this.ctl.evalInputs()));
  }

  sync(): Promise<void> {
    return this.inner.sync();
  }

  gradients(): Promise<Map<string, FloatTensor>> {
    return this.inner.gradients ? this.inner.gradients() : Promise.resolve(new Map());
  }
}
