// What the wasm attention kernels carry from one op to the next within a run, as the reference
// does (runtime/cpu/kernels/attention.ts): the forward's log-sum-exps, which attention_lse then
// returns, and the three gradients, computed together by whichever gradient op runs first.
// In a training run, while it holds few enough of them (KEEP_VALUES), the forward's
// probabilities and head-major operands too, which the gradients then read instead of computing
// them again; the gradients drop them.
// The executor makes one KernelContext per run and passes it to every kernel, so keying the
// cache by it forgets everything at each run, as clearAttentionCache does for the reference;
// within a run, entries are keyed by the operand arrays themselves.
import type { KernelContext } from '../../cpu/kernels/common.ts';
import type { FloatArray, FloatTensor } from '../../cpu/tensor.ts';

/**
 * The most values a run holds in forwards' kept probabilities and operands at a time (f32: 128 MiB;
 * GPT-2 small at B 1 × 128 holds 5.3M over its 12 layers). A forward past it keeps its lse only.
 */
export const KEEP_VALUES = 1 << 25;

/** The forward's lse rows for one q array, with what else they depend on. */
export interface ForwardRun {
  k: FloatArray;
  lengths: unknown;
  attrs: string;
  lse: Float64Array;
  /** The forward's head-major q, k, v and every block's probabilities, in block order (heads.ts), for v. */
  kept?: { v: FloatArray; qh: Float32Array; kh: Float32Array; vh: Float32Array; P: Float32Array };
}

/** The last gradients computed, keyed by their operand arrays and attributes. */
export interface GradCache {
  key: unknown[];
  attrs: string;
  grads: { q: FloatTensor; k: FloatTensor; v: FloatTensor };
}

export interface RunCache {
  forward: WeakMap<FloatArray, ForwardRun>;
  grads?: GradCache;
  /** Values held in `kept` entries now. */
  held: number;
}

let runs = new WeakMap<KernelContext, RunCache>();

/** The cache of the run `ctx` belongs to. */
export function runCache(ctx: KernelContext): RunCache {
  let c = runs.get(ctx);
  if (!c) runs.set(ctx, (c = { forward: new WeakMap(), held: 0 }));
  return c;
}

/** Whether the run may hold `n` more values (then counted as held). */
export function mayKeep(cache: RunCache, n: number): boolean {
  if (cache.held + n > KEEP_VALUES) return false;
  cache.held += n;
  return true;
}

/** Drops what a forward kept. */
export function dropKept(cache: RunCache, fwd: ForwardRun): void {
  const k = fwd.kept;
  if (!k) return;
  cache.held -= k.qh.length + k.kh.length + k.vh.length + k.P.length;
  fwd.kept = undefined;
}

/** Forgets every run's entries (for callers that change arrays in place under one context). */
export function clearWasmAttentionCache(): void {
  runs = new WeakMap();
}
