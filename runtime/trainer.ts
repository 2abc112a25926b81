// The training loop, independent of backend and of Node: steps with a learning-rate
// schedule, periodic validation, checkpoints through a hook, and the two ways a run
// ends early: an interrupt (the caller's `shouldStop`) and divergence. A run diverges when a
// training loss is not finite (it stops before anything is saved), or when, about to save, the
// validation loss or a parameter is not finite: nothing non-finite is ever checkpointed, so the
// last checkpoint stays good.
import type { StepResult } from './backend.ts';
import type { Batch } from './cpu/executor.ts';
import { learningRate, type Schedule } from './schedule.ts';

export interface BatchSource {
  /** The next training batch (deterministic for a given seed). */
  next(): Batch;
  /** The validation batches, the same every time. */
  validation(): Batch[];
  /** Tokens a training batch feeds the model, for tokens/s. */
  tokensPerBatch: number;
}

/** What the loop needs of a backend (runtime/backend.ts's Backend is one; so is a built trainer's). */
export interface StepBackend {
  /** Forward, backward and one update at learning rate `lr`. */
  step(batch: Batch, lr: number): Promise<StepResult>;
  /** The loss of a batch without dropout or gradients. */
  evaluate(batch: Batch): Promise<{ loss: number }>;
}

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
}

export interface TrainHooks {
  onStep?(info: StepInfo): void;
  onEval?(step: number, valLoss: number): void;
  /** Saves a checkpoint after `step` optimizer steps (never called with non-finite values). */
  checkpoint?(step: number, valLoss: number | null): Promise<void>;
  /** Whether every trainable parameter is finite; asked before each checkpoint. */
  finite?(): Promise<boolean>;
  /** Polled after every step: true ends the run (with a checkpoint). */
  shouldStop?(): boolean;
  /** A clock in milliseconds (performance.now in Node and browsers). */
  now?(): number;
}

export interface TrainOptions {
  /** Total optimizer steps of the run (including those done before a resume). */
  steps: number;
  schedule: Schedule;
  /** Validate (and checkpoint) every this many steps; 0: only at the end. */
  evalEvery: number;
}

export type TrainEnd = 'done' | 'interrupted' | 'diverged';

export interface TrainResult {
  end: TrainEnd;
  /** Steps completed; when the run diverged, the steps before the one that did. */
  step: number;
  losses: number[];
  valLoss: number | null;
  /** For a diverged run: the step whose update went wrong, and what was found. */
  diverged?: Divergence;
}

export interface Divergence {
  step: number;
  /** What was not finite, e.g. "the validation loss is NaN". */
  what: string;
}

/** Mean loss over the validation batches, weighted by how many targets each counts (NaN if none has targets). */
export async function validate(backend: Pick<StepBackend, 'evaluate'>, batches: Batch[]): Promise<number> {
  return (await validationLoss(backend, batches)) ?? NaN;
}

/** validate's mean, or null when no batch has a target (nothing to judge a run by). */
async function validationLoss(backend: Pick<StepBackend, 'evaluate'>, batches: Batch[]): Promise<number | null> {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    let n = 0;
    for (const t of b.targets.data) if (t !== -100) n++;
    if (n === 0) continue;
    const { loss } = await backend.evaluate(b);
    sum += loss * n;
    count += n;
  }
  return count ? sum / count : null;
}

export async function train(backend: StepBackend, data: BatchSource, opts: TrainOptions, hooks: TrainHooks = {}, startStep = 0): Promise<TrainResult> {
  const now = hooks.now ?? (() => Date.now());
  const losses: number[] = [];
  let valLoss: number | null = null;
  // Tokens/s counts training steps only, not validation or checkpoints.
  let busy = 0;
  let tokens = 0;
  let step = startStep;
  const evaluate = async () => {
    const v = await validationLoss(backend, data.validation());
    valLoss = v;
    if (v !== null) hooks.onEval?.(step, v);
  };
  const diverged = (at: number, what: string): TrainResult => ({ end: 'diverged', step: at - 1, losses, valLoss, diverged: { step: at, what } });
  // Checks before saving: null when saved, the result to end with when something is not finite.
  const save = async (): Promise<TrainResult | null> => {
    if (valLoss !== null && !Number.isFinite(valLoss)) return diverged(step, `the validation loss is ${valLoss}`);
    if (hooks.finite && !(await hooks.finite())) return diverged(step, 'a trainable parameter is NaN or infinite');
    await hooks.checkpoint?.(step, valLoss);
    return null;
  };
  while (step < opts.steps) {
    const lr = learningRate(opts.schedule, step);
    const t0 = now();
    const res = await backend.step(data.next(), lr);
    busy += now() - t0;
    if (!Number.isFinite(res.loss) || !Number.isFinite(res.gradNorm)) {
      return diverged(step + 1, `the training loss is ${res.loss}${Number.isFinite(res.gradNorm) ? '' : ` and the gradient norm ${res.gradNorm}`}`);
    }
    step++;
    tokens += data.tokensPerBatch;
    losses.push(res.loss);
    const elapsed = busy / 1000;
    hooks.onStep?.({ step, loss: res.loss, lr, gradNorm: res.gradNorm, tokensPerSecond: tokens / Math.max(elapsed, 1e-9), elapsedSeconds: elapsed });
    // Let pending events (a Ctrl-C, a browser's UI) run between steps: a CPU step never
    // yields on its own.
    await yieldToEventLoop();
    const interrupted = hooks.shouldStop?.() ?? false;
    if (opts.evalEvery > 0 && step % opts.evalEvery === 0 && step < opts.steps && !interrupted) {
      await evaluate();
      const bad = await save();
      if (bad) return bad;
    }
    if (interrupted) {
      const bad = await save();
      return bad ?? { end: 'interrupted', step, losses, valLoss };
    }
  }
  await evaluate();
  const bad = await save();
  return bad ?? { end: 'done', step, losses, valLoss };
}

/** Resolves on the next macrotask, so that signal handlers and UI events get to run. */
function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  return new Promise((resolve) => (g.setImmediate ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}
