// `peftc doctor`'s check of the wasm backend: how many threads its products use, whether they
// have fused multiply-adds (relaxed SIMD), and one product split between the threads against
// float64 sums of the same operands.
import { Random } from '../cpu/random.ts';
import { gemmF32, gemmInfo } from './gemm.ts';

export interface WasmCheck {
  threads: number;
  relaxed: boolean;
  ok: boolean;
  /** What was computed and how far from the bound. */
  detail: string;
  ms: number;
}

/** A 96 × 130 × 3000 product (enough to be split) within 4e-7·√K/8·Σ|a·b| of its f64 sums, per element. */
export function wasmSelfTest(): WasmCheck {
  const [M, N, K] = [96, 130, 3000];
  const rng = new Random(1);
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
      const err = Math.abs(c[m * N + n]! - s) / (4e-7 * mag * (Math.sqrt(K) / 8));
      worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
    }
  }
  const { threads, relaxed } = gemmInfo();
  return { threads, relaxed, ok: worst <= 1, detail: `gemm ${M}×${N}×${K} against f64 sums: worst ${worst.toFixed(2)} of the f32 bound`, ms };
}

/** The doctor's lines for it. */
export function formatWasmCheck(c: WasmCheck): string {
  return [
    `wasm backend (--backend wasm): ${c.threads} thread${c.threads === 1 ? '' : 's'}, fused multiply-add (relaxed SIMD): ${c.relaxed ? 'yes' : 'no'}`,
    `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.detail} [${c.ms.toFixed(0)} ms]`,
  ].join('\n');
}
