// CPU references and comparisons for the WebGPU kernel tests (float64 accumulation).

import type { Activation, MatmulSpec } from '../../runtime/webgpu/kernels/matmul.ts';

/** Deterministic uniform values in [-1, 1) (mulberry32). */
export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function activationCpu(act: Activation | undefined, x: number): number {
  switch (act) {
    case undefined:
      return x;
    case 'relu':
      return Math.max(x, 0);
    case 'silu':
      return x / (1 + Math.exp(-x));
    case 'gelu':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  }
}

/**
 * C = act(alpha·op(A)·op(B) + bias) (+ cIn when accumulating), in float64.
 * Also returns, per element, Σ|op(A)[m,k]·op(B)[k,n]|: the magnitude the rounding error scales with.
 */
export function matmulCpu(
  spec: MatmulSpec,
  a: Float32Array,
  b: Float32Array,
  bias?: Float32Array,
  cIn?: Float32Array,
): { c: Float64Array; magnitude: Float64Array } {
  const { M, N, K } = spec;
  const c = new Float64Array(M * N);
  const magnitude = new Float64Array(M * N);
  const alpha = spec.alpha ?? 1;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        const av = spec.transA ? a[k * M + m]! : a[m * K + k]!;
        const bv = spec.transB ? b[n * K + k]! : b[k * N + n]!;
        s += av * bv;
        mag += Math.abs(av * bv);
      }
      let v = alpha * s + (bias ? bias[n]! : 0);
      v = activationCpu(spec.activation, v);
      if (spec.accumulate && cIn) v += cIn[m * N + n]!;
      c[m * N + n] = v;
      magnitude[m * N + n] = Math.abs(alpha) * mag + (bias ? Math.abs(bias[n]!) : 0) + 1;
    }
  }
  return { c, magnitude };
}

/** Largest |got − want| / magnitude over all elements (NaN counts as infinitely wrong). */
export function maxScaledError(got: Float32Array, want: Float64Array, magnitude: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / magnitude[i]!;
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}
