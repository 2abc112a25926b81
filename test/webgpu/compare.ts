// The comparisons of whole-model WebGPU runs with the CPU reference, shared by the plan suite and
// the suites built on it (recompute, chunked loss, split-K, quantized bases). TOL is the plan
// suite's tolerance table; plan-suite.ts's header says what each bound is and what was measured.
import { expect } from 'vitest';
import type { FloatTensor } from '../../runtime/cpu/tensor.ts';

export const TOL = { loss: 1e-5, logits: 1e-5, grad: 5e-5, gradFloor: 1e-6, curve: 1e-5, norm: 1e-4, params: 5e-3, moments: 1e-3 };

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** The largest |a − b| (Infinity where either is NaN); the lengths must agree. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

/**
 * The same gradients by name, each within TOL.grad of its tensor's scale plus a floor from the
 * model's largest gradient (a tensor whose exact gradient is zero holds only rounding noise).
 */
export function expectGrads(got: Map<string, FloatTensor>, want: Map<string, FloatTensor>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  const G = Math.max(...[...want.values()].map((g) => maxAbs(g.data)));
  for (const [path, g] of want) {
    expect(maxDiff(got.get(path)!.data, g.data), path).toBeLessThanOrEqual(TOL.grad * maxAbs(g.data) + TOL.gradFloor * G);
  }
}
