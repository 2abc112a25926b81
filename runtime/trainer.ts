// The training loop, independent of backend and of Node: steps with a learning-rate
// schedule, periodic validation, checkpoints through a hook, and the two ways a run
// ends early: an interrupt (the caller's `shouldStop`) and a non-finite loss, which stops
// before the bad update is kept, so the last checkpoint stays good.
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
  /** Saves a checkpoint after `step` optimizer steps. */
  checkpoint?(step: number, valLoss: number | null): Promise<void>;
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
  step: number;
  losses: number[];
  valLoss: number | null;
}

/** Mean loss over the validation batches, weighted by how many targets each counts. */
export async function validate(backend: Pick<StepBackend, 'evaluate'>, batches: Batch[]): Promise<number> {
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
  return count ? sum / count : NaN;
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
    valLoss = await validate(backend, data.validation());
    hooks.onEval?.(step, valLoss);
  };
  while (step < opts.steps) {
    const lr = learningRate(opts.schedule, step);
    const t0 = now();
    const res = await backend.step(data.next(), lr);
    busy += now() - t0;
    if (!Number.isFinite(res.loss) || !Number.isFinite(res.gradNorm)) {
      return { end: 'diverged', step, losses, valLoss };
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
      await hooks.checkpoint?.(step, valLoss);
    }
    if (interrupted) {
      await hooks.checkpoint?.(step, valLoss);
      return { end: 'interrupted', step, losses, valLoss };
    }
  }
  await evaluate();
  await hooks.checkpoint?.(step, valLoss);
  return { end: 'done', step, losses, valLoss };
}

/** Resolves on the next macrotask, so that signal handlers and UI events get to run. */
function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  return new Promise((resolve) => (g.setImmediate ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}
