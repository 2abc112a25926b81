// Shared helpers of the CPU reference tests: running kernels (with an optional record of which
// ops ran), central finite differences in float64, and error measures.
import type { Attrs } from '../../compiler/ir/types.ts';
import { kernel } from '../../runtime/cpu/kernels/checked.ts';
import type { KernelContext } from '../../runtime/cpu/kernels/index.ts';
import type { Tensor } from '../../runtime/cpu/tensor.ts';

export const F64: KernelContext = { precision: 'f64', step: 3, training: true };
export const F32: KernelContext = { precision: 'f32', step: 3, training: true };

let recorder: Set<string> | null = null;

/**
 * Runs op `op` of the catalog through the kernel registry (recording its name when asked), its
 * operands and attributes checked against the catalog first as the verifier checks a graph's.
 */
export function run(op: string, inputs: Tensor[], attrs: Attrs = {}, ctx: KernelContext = F64): Tensor {
  const k = kernel(op);
  recorder?.add(op);
  return k(inputs, attrs, ctx);
}

/** Runs `fn`, returning the set of ops it ran through `run`. */
export function recordOps(fn: () => void): Set<string> {
  const saved = recorder;
  const set = new Set<string>();
  recorder = set;
  try {
    fn();
  } finally {
    recorder = saved;
  }
  return set;
}

export function dot(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) throw new Error('dot of different sizes');
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * b.data[i]!;
  return s;
}

/** The finite-difference step and the accepted error (see fdCheck). */
export const FD_STEP = 1e-6;
export const FD_TOL = 1e-6;

export interface FdResult {
  /** Largest |analytic − fd| / max(1, |fd|) over every element of every checked input. */
  maxErr: number;
  /** Where it occurred (input index, element). */
  worst: [number, number];
  checked: number;
}

/**
 * Central finite differences of L(x) = ⟨f(x), g⟩: for each element e of each input in `wrt`,
 * fd = (L(x + h·e) − L(x − h·e)) / (2h), compared with the analytic gradient grads[w][e].
 */
export function fdCheck(
  xs: Tensor[], wrt: number[], f: (xs: Tensor[]) => Tensor, g: Tensor, grads: Tensor[], h = FD_STEP,
): FdResult {
  let maxErr = 0;
  let worst: [number, number] = [-1, -1];
  let checked = 0;
  wrt.forEach((w, gi) => {
    const x = xs[w]!;
    const grad = grads[gi]!;
    if (!(x.data instanceof Float64Array)) throw new Error(`input ${w} must be Float64Array for finite differences`);
    if (grad.data.length !== x.data.length) throw new Error(`gradient ${gi} has ${grad.data.length} values, input has ${x.data.length}`);
    for (let e = 0; e < x.data.length; e++) {
      const save = x.data[e]!;
      x.data[e] = save + h;
      const lp = dot(f(xs), g);
      x.data[e] = save - h;
      const lm = dot(f(xs), g);
      x.data[e] = save;
      const fd = (lp - lm) / (2 * h);
      const err = Math.abs(grad.data[e]! - fd) / Math.max(1, Math.abs(fd));
      if (!(err <= maxErr)) {
        maxErr = Number.isNaN(err) ? Infinity : err;
        worst = [w, e];
      }
      checked++;
    }
  });
  return { maxErr, worst, checked };
}

/** max |a − b| / max(1, max |b|): the error relative to the reference's scale. */
export function scaledErr(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) throw new Error('size mismatch');
  let scale = 1;
  let m = 0;
  for (let i = 0; i < b.data.length; i++) scale = Math.max(scale, Math.abs(b.data[i]!));
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m / scale;
}
