// What the wasm attention kernels carry from one op to the next within a run, as the reference
// does (runtime/cpu/kernels/attention.ts): the forward's log-sum-exps, which attention_lse then
// returns, and the three gradients, computed together by whichever gradient op runs first.
// Where they are small enough (KEEP_SCORES), the forward's probabilities and head-major operands
// too, which the gradients then read instead of computing them again; the gradients drop them.
// The executor makes one KernelContext per run and passes it to every kernel, so keying the
// cache by it forgets everything at each run, as clearAttentionCache does for the reference;
// within a run, entries are keyed by the operand arrays themselves.
import type { KernelContext } from '../../cpu/kernels/common.ts';
import type { FloatArray, FloatTensor } from '../../cpu/tensor.ts';

/** Probabilities the forward keeps for its backward, at most (f32 values: 16 MiB). */
export const KEEP_SCORES = 1 << 22;

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
}

let runs = new WeakMap<KernelContext, RunCache>();

/** The cache of the run `ctx` belongs to. */
export function runCache(ctx: KernelContext): RunCache {
  let c = runs.get(ctx);
  if (!c) runs.set(ctx, (c = { forward: new WeakMap() }));
  return c;
}

/** Forgets every run's entries (for callers that change arrays in place under one context). */
export function clearWasmAttentionCache(): void {
  runs = new WeakMap();
}
