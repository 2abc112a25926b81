// `linear` for the few rows of a decoding step (one per sequence): a matrix-vector product per
// row, reading each weight once. In f32 with WebAssembly SIMD (matvec-wasm.ts) where the engine
// has it; else with the loop shapes that run fastest in V8 — eight input features per pass over
// an [in, out] weight, four partial sums per row of an [out, in] weight — accumulating in f64 as
// the reference gemm (runtime/cpu/kernels/linear.ts), which takes over from four rows on (its
// packed tiles reuse each weight across rows).
import { KERNELS, type Kernel } from '../cpu/kernels/index.ts';
import { floatIn, floatOut, optFloatIn } from '../cpu/kernels/common.ts';
import type { FloatArray } from '../cpu/tensor.ts';
import type { WasmMatvec } from './matvec-wasm.ts';

const FEW = 4;

/** The decoding `linear`: WebAssembly SIMD products where `wasm` is given (matvec-wasm.ts), else the loops below. */
export function linearFewRows(wasm?: WasmMatvec): Kernel {
  return (inputs, attrs, ctx) => {
    const x = floatIn('linear', inputs, 0, 'x');
    const w = floatIn('linear', inputs, 1, 'w');
    const b = optFloatIn('linear', inputs, 2, 'b');
    const K = x.shape[x.shape.length - 1]!;
    const rows = x.data.length / K;
    const inOut = attrs.layout === 'in_out';
    const N = inOut ? w.shape[1]! : w.shape[0]!;
    if (rows >= FEW || w.shape.length !== 2 || (inOut ? w.shape[0] : w.shape[1]) !== K) return KERNELS.linear!(inputs, attrs, ctx);
    const y = floatOut([...x.shape.slice(0, -1), N], ctx);
    for (let r = 0; r < rows; r++) {
      const xr = x.data.subarray(r * K, (r + 1) * K);
      const yr = y.data.subarray(r * N, (r + 1) * N);
      if (ctx.precision === 'f32' && wasm?.product(inOut, xr, w.data, K, N, yr)) {
        if (b) for (let n = 0; n < N; n++) yr[n] = yr[n]! + b.data[n]!;
      } else if (inOut) inOutRow(K, N, xr, w.data, yr, b?.data);
      else outInRow(K, N, xr, w.data, yr, b?.data);
    }
    return y;
  };
}

/** y = x·w (+ bias), w [K, N] row-major. */
function inOutRow(K: number, N: number, x: FloatArray, w: FloatArray, y: FloatArray, bias?: FloatArray): void {
  const acc = new Float64Array(N);
  let k = 0;
  for (; k + 7 < K; k += 8) {
    const x0 = x[k]!, x1 = x[k + 1]!, x2 = x[k + 2]!, x3 = x[k + 3]!, x4 = x[k + 4]!, x5 = x[k + 5]!, x6 = x[k + 6]!, x7 = x[k + 7]!;
    const o0 = k * N, o1 = o0 + N, o2 = o1 + N, o3 = o2 + N, o4 = o3 + N, o5 = o4 + N, o6 = o5 + N, o7 = o6 + N;
    for (let n = 0; n < N; n++) {
      acc[n] += x0 * w[o0 + n]! + x1 * w[o1 + n]! + x2 * w[o2 + n]! + x3 * w[o3 + n]! + x4 * w[o4 + n]! + x5 * w[o5 + n]! + x6 * w[o6 + n]! + x7 * w[o7 + n]!;
    }
  }
  for (; k < K; k++) {
    const xk = x[k]!, o = k * N;
    for (let n = 0; n < N; n++) acc[n] += xk * w[o + n]!;
  }
  for (let n = 0; n < N; n++) y[n] = acc[n]! + (bias ? bias[n]! : 0);
}

/** y = x·wᵀ (+ bias), w [N, K] row-major. */
function outInRow(K: number, N: number, x: FloatArray, w: FloatArray, y: FloatArray, bias?: FloatArray): void {
  const xd = Float64Array.from(x);
  for (let n = 0; n < N; n++) {
    const o = n * K;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let k = 0;
    for (; k + 3 < K; k += 4) {
      s0 += xd[k]! * w[o + k]!;
      s1 += xd[k + 1]! * w[o + k + 1]!;
      s2 += xd[k + 2]! * w[o + k + 2]!;
      s3 += xd[k + 3]! * w[o + k + 3]!;
    }
    for (; k < K; k++) s0 += xd[k]! * w[o + k]!;
    y[n] = s0 + s1 + s2 + s3 + (bias ? bias[n]! : 0);
  }
}
