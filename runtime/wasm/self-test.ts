// `peftc doctor`'s check of the wasm backend: how many threads its products use, whether they
// have fused multiply-adds (relaxed SIMD), and two products split between the threads against
// float64 sums of the same operands: a training-sized one (packed) and a decoding step's (a row
// by an [in, out] weight, unpacked).
import { Random } from '../cpu/random.ts';
import { gemmF32, gemmInfo } from './gemm.ts';

export interface WasmCheck {
  threads: number;
  relaxed: boolean;
  ok: boolean;
  /** Each product: what was computed, how far from the bound, whether within it, and its time. */
  products: { detail: string; ok: boolean; ms: number }[];
}

/**
 * One M × N × K product (A's rows contiguous, B [K, N]) within 4e-7·max(1, √K/8)·Σ|a·b| of its
 * f64 sums, per element (test/wasm/gemm.test.ts's bound).
 */
function checkProduct(M: number, N: number, K: number, what: string): WasmCheck['products'][number] {
  const rng = new Random(M + N + K);
  const a = Float32Array.from({ length: M * K }, () => rng.uniform() * 2 - 1);
  const b = Float32Array.from({ length: K * N }, () => rng.uniform() * 2 - 1);
  const c = new Float32Array(M * N);
  const t0 = performance.now();
  gemmF32(M, N, K, a, K, 1, b, N, 1, c);
  const ms = performance.now() - t0;
  let worst = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        const p = a[m * K + k]! * b[k * N + n]!;
        s += p;
        mag += Math.abs(p);
      }
      const err = Math.abs(c[m * N + n]! - s) / (4e-7 * mag * Math.max(1, Math.sqrt(K) / 8));
      worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
    }
  }
  return { detail: `${what} ${M}×${N}×${K} against f64 sums: worst ${worst.toFixed(2)} of the f32 bound`, ok: worst <= 1, ms };
}

export function wasmSelfTest(): WasmCheck {
  const products = [checkProduct(96, 130, 3000, 'gemm'), checkProduct(1, 4096, 300, 'decoding step')];
  const { threads, relaxed } = gemmInfo();
  return { threads, relaxed, ok: products.every((p) => p.ok), products };
}

/** The doctor's lines for it. */
export function formatWasmCheck(c: WasmCheck): string {
  return [
    `wasm backend (--backend wasm): ${c.threads} thread${c.threads === 1 ? '' : 's'}, fused multiply-add (relaxed SIMD): ${c.relaxed ? 'yes' : 'no'}`,
    ...c.products.map((p) => `  ${p.ok ? 'ok  ' : 'FAIL'} ${p.detail} [${p.ms.toFixed(0)} ms]`),
  ].join('\n');
}
