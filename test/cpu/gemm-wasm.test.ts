// The CPU backend's gemm (runtime/cpu/kernels/linear.ts) with its WebAssembly SIMD tiles
// (gemm.wat, gemm-wasm.ts): the embedded bytes are the .wat assembled now, Node's engine runs
// the WebAssembly path, and every product is bit-identical to the plain f64 loop that sums
// k = 0 … K−1 in order, adds the bias and rounds once (the reference's definition of a product).
import { describe, expect, it } from 'vitest';
import { GEMM_WASM_BASE64 } from '../../runtime/cpu/kernels/gemm-wasm-bytes.ts';
import { wasmPanels } from '../../runtime/cpu/kernels/gemm-wasm.ts';
import { gemm } from '../../runtime/cpu/kernels/linear.ts';
import { assemble, GEMM } from '../../scripts/build-wasm.ts';
import { mulberry32 } from '../prng.ts';

function random(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

/** C = A·B + bias by the definition, with A(m,k) = a[m·sAm + k·sAk] and B(k,n) = b[k·sBk + n·sBn]. */
function naive(M: number, N: number, K: number, a: Float32Array, sAm: number, sAk: number, b: Float32Array, sBk: number, sBn: number, bias: Float32Array | null): Float32Array {
  const c = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * sAm + k * sAk]! * b[k * sBk + n * sBn]!;
      c[m * N + n] = s + (bias ? bias[n]! : 0);
    }
  }
  return c;
}

describe('the CPU gemm in WebAssembly SIMD', () => {
  it('embeds the bytes of runtime/cpu/kernels/gemm.wat as assembled now (npm run build:wasm)', async () => {
    expect(Buffer.from(await assemble(GEMM)).toString('base64')).toBe(GEMM_WASM_BASE64);
  });

  it('runs in WebAssembly on this engine (not the scalar fallback)', () => {
    expect(wasmPanels(16, 4)).not.toBeNull();
  });

  // Odd sizes leave partial tiles on both sides; K = 70,000 packs 12 columns per block (the
  // 8 MiB bound), so N = 29 takes three blocks; the transposed strides are x·wᵀ and xᵀ·dy.
  const CASES: [string, number, number, number, boolean][] = [
    ['one element', 1, 1, 1, false],
    ['few rows (the direct path)', 3, 7, 5, true],
    ['partial tiles', 5, 6, 7, true],
    ['aligned', 8, 16, 12, false],
    ['wider than a block', 9, 300, 33, true],
    ['long K, several blocks', 6, 29, 70_000, false],
  ];
  for (const [name, M, N, K, withBias] of CASES) {
    it(`is bit-identical to the in-order f64 sum: ${name} (${M}×${K}·${K}×${N})`, () => {
      const a = random(M * K, M + 10 * N + K);
      const b = random(K * N, 7 * M + N + K);
      const bias = withBias ? random(N, 99) : null;
      for (const [label, sAm, sAk, sBk, sBn] of [['A·B', K, 1, N, 1], ['Aᵀ·Bᵀ', 1, M, 1, K]] as const) {
        const c = new Float32Array(M * N).fill(Number.NaN);
        gemm(M, N, K, a, sAm, sAk, b, sBk, sBn, c, bias);
        const ref = naive(M, N, K, a, sAm, sAk, b, sBk, sBn, bias);
        const differing = c.findIndex((v, i) => !Object.is(v, ref[i]));
        expect(differing, `${label}: first differing element`).toBe(-1);
      }
    });
  }

  it('keeps f64 outputs in f64', () => {
    const a = Float64Array.from(random(4 * 6, 1)), b = Float64Array.from(random(6 * 5, 2));
    const c = new Float64Array(20);
    gemm(4, 5, 6, a, 6, 1, b, 5, 1, c);
    for (let m = 0; m < 4; m++) for (let n = 0; n < 5; n++) {
      let s = 0;
      for (let k = 0; k < 6; k++) s += a[m * 6 + k]! * b[k * 5 + n]!;
      expect(c[m * 5 + n]).toBe(s + 0);
    }
  });
});
