// The wasm backend's matrix multiply: f32 sums in WebAssembly SIMD on every core.
// (Being written: for now the reference gemm, so the kernels built on it can be tested.)
import { gemm } from '../cpu/kernels/linear.ts';
import type { FloatArray } from '../cpu/tensor.ts';

/**
 * C[M,N] = A[M,K] · B[K,N] (+ bias[N]), with A(m,k) = a[m·sAm + k·sAk] and
 * B(k,n) = b[k·sBk + n·sBn]; C is row-major and fully overwritten. f32 sums: results differ
 * from the reference's in-order f64 sums by rounding (relative ~1e-6 · √K).
 */
export function gemmF32(
  M: number, N: number, K: number,
  a: FloatArray, sAm: number, sAk: number,
  b: FloatArray, sBk: number, sBn: number,
  c: FloatArray, bias: FloatArray | null = null,
): void {
  gemm(M, N, K, a, sAm, sAk, b, sBk, sBn, c, bias);
}
