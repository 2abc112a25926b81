// CPU references and comparisons for the WebGPU kernel tests (float64 accumulation).

import { geluDerivative, sigmoid } from '../../runtime/cpu/kernels/elementwise.ts';
import erf from '@stdlib/math-base-special-erf';
import { dropoutKeep, dropoutKey, dropoutThreshold } from '../../runtime/cpu/rng.ts';
import type { Activation, GradActivation, MatmulSpec } from '../../compiler/lower/matmul-spec.ts';

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
    case 'gelu_erf':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
  }
}

/** act'(x), in float64. */
export function activationDerivativeCpu(act: GradActivation, x: number): number {
  switch (act) {
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'silu': {
      const s = sigmoid(x);
      return s + x * s * (1 - s);
    }
    case 'gelu':
      return geluDerivative(x);
    case 'gelu_erf':
      return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
    case 'tanh':
      return 1 - Math.tanh(x) ** 2;
  }
}

/** The epilogues' operands (MatmulSpec.activationGrad, residual, dropout), dense [M, N] like C. */
export interface EpilogueInputs {
  pre?: Float32Array;
  res?: Float32Array;
  /** The training step dropout's mask is drawn for. */
  step?: number;
}

/**
 * C = act(alpha·op(A)·op(B) + bias) (+ cIn when accumulating) and the epilogues of MatmulSpec in
 * its order (the accumulated sum · act'(pre), act, the second output, dropout, + res), in float64.
 * Also returns, per element, Σ|op(A)[m,k]·op(B)[k,n]| (+ |bias| + |cIn| + 1, times what the
 * epilogue multiplies by, + |res|): the magnitude the rounding error scales with.
 */
export function matmulCpu(
  spec: MatmulSpec,
  a: Float32Array,
  b: Float32Array,
  bias?: Float32Array,
  cIn?: Float32Array,
  ep: EpilogueInputs = {},
): { c: Float64Array; magnitude: Float64Array; activated?: Float64Array } {
  const { M, N, K } = spec;
  const c = new Float64Array(M * N);
  const magnitude = new Float64Array(M * N);
  const activated = spec.activationOut ? new Float64Array(M * N) : undefined;
  const alpha = spec.alpha ?? 1;
  const drop = spec.dropout;
  const key = drop ? dropoutKey(drop.seed, ep.step ?? 0) : 0;
  const threshold = drop ? dropoutThreshold(drop.p) : 0;
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
      const i = m * N + n;
      let v = alpha * s + (bias ? bias[n]! : 0);
      let scale = Math.abs(alpha) * mag + (bias ? Math.abs(bias[n]!) : 0) + 1;
      if (spec.accumulate && cIn) {
        v += cIn[i]!;
        scale += Math.abs(cIn[i]!);
      }
      if (spec.activationGrad) {
        const d = activationDerivativeCpu(spec.activationGrad, ep.pre![i]!);
        v *= d;
        scale *= Math.max(1, Math.abs(d));
      }
      v = activationCpu(spec.activation, v);
      if (activated) activated[i] = activationCpu(spec.activationOut, v);
      if (drop) {
        const factor = Math.fround(1 / (1 - drop.p));
        v = dropoutKeep((drop.index0 ?? 0) + i, key, threshold) ? v * factor : 0;
        scale *= factor;
      }
      if (spec.residual) {
        v += ep.res![i]!;
        scale += Math.abs(ep.res![i]!);
      }
      c[i] = v;
      magnitude[i] = scale;
    }
  }
  return { c, magnitude, ...(activated ? { activated } : {}) };
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
