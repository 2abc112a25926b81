// The CPU backend's gemm (runtime/cpu/kernels/linear.ts) with its blocks (gemm-block.ts) in
// WebAssembly SIMD (gemm.wat, gemm-wasm.ts) and in JavaScript: the embedded bytes are the .wat
// assembled now, Node's engine runs the WebAssembly path, and every product, on either block, is
// bit-identical to the plain f64 loop that sums k = 0 … K−1 in order, adds the bias and rounds
// once (the reference's definition of a product), also when K spans several chunks whose sums
// are carried from one to the next, and C several blocks of rows and columns.
import { describe, expect, it } from 'vitest';
import { GEMM_WASM_BASE64 } from '../../runtime/cpu/kernels/gemm-wasm-bytes.ts';
import { jsBlock, KC, MC, NC, QK } from '../../runtime/cpu/kernels/gemm-block.ts';
import { wasmBlock } from '../../runtime/cpu/kernels/gemm-wasm.ts';
import { gemm } from '../../runtime/cpu/kernels/linear.ts';
import { assemble, GEMM } from '../../scripts/build-wasm.ts';
import type { FloatArray } from '../../runtime/cpu/tensor.ts';
import { mulberry32 } from '../prng.ts';

function random(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

/** C = A·B + bias by the definition, with A(m,k) = a[m·sAm + k·sAk] and B(k,n) = b[k·sBk + n·sBn]. */
function naive(M: number, N: number, K: number, a: FloatArray, sAm: number, sAk: number, b: FloatArray, sBk: number, sBn: number, bias: FloatArray | null, c: FloatArray = new Float32Array(M * N)): FloatArray {
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
    expect(wasmBlock()).not.toBeNull();
  });

  // Odd sizes leave partial tiles on both sides; K past KC (512) is summed in chunks whose sums
  // carry over (K = 70,000: 137 chunks, the last one 368 long; K = 1,024: exactly two), M past
  // MC and N past NC take several blocks; A's panels are packed once for all column blocks where
  // K ≤ QK and chunk by chunk past it; the transposed strides are x·wᵀ and xᵀ·dy.
  const CASES: [string, number, number, number, boolean][] = [
    ['one element', 1, 1, 1, false],
    ['few rows (the direct path)', 3, 7, 5, true],
    ['partial tiles', 5, 6, 7, true],
    ['aligned', 8, 16, 12, false],
    ['wider than a column block', 9, 300, 33, true],
    ['K one past a chunk', 7, 10, KC + 1, true],
    ['K two whole chunks', 4, 8, 2 * KC, false],
    ['K three chunks, ragged, with bias', 6, 13, 2 * KC + 77, true],
    ['long K, many chunks', 6, 29, 70_000, false],
    ['more rows than a row block, several chunks', MC + 9, NC + 5, KC + 3, true],
    ['K past what A\'s panels hold whole, several column blocks', 9, NC + 3, QK + 5, true],
  ];
  const blocks = [['WebAssembly', wasmBlock()!], ['JavaScript', jsBlock()]] as const;
  for (const [name, M, N, K, withBias] of CASES) {
    it(`is bit-identical to the in-order f64 sum: ${name} (${M}×${K}·${K}×${N})`, () => {
      const a = random(M * K, M + 10 * N + K);
      const b = random(K * N, 7 * M + N + K);
      const bias = withBias ? random(N, 99) : null;
      for (const [label, sAm, sAk, sBk, sBn] of [['A·B', K, 1, N, 1], ['Aᵀ·Bᵀ', 1, M, 1, K]] as const) {
        const ref = naive(M, N, K, a, sAm, sAk, b, sBk, sBn, bias);
        for (const [engine, block] of blocks) {
          const c = new Float32Array(M * N).fill(Number.NaN);
          gemm(M, N, K, a, sAm, sAk, b, sBk, sBn, c, bias, block);
          const differing = c.findIndex((v, i) => !Object.is(v, ref[i]));
          expect(differing, `${engine}, ${label}: first differing element`).toBe(-1);
        }
      }
    });
  }

  // A chunk's sums carried as they are: an f64 sum that overflows to +∞ in the first chunk meets
  // −∞ in the second (NaN), another stays +∞, and a NaN input in the last chunk gives NaN.
  it('carries infinities and NaN across chunks as the in-order loop does', () => {
    const M = 5, N = 6, K = 2 * KC + 9;
    const a = Float64Array.from(random(M * K, 5)), b = Float64Array.from(random(K * N, 6));
    a[1 * K + 3] = 1e300; b[3 * N + 1] = 1e300; b[3 * N + 2] = 1e300; // row 1: +∞ in chunk 0 (columns 1, 2)
    a[1 * K + KC + 3] = -1e300; b[(KC + 3) * N + 1] = 1e300; // row 1, column 1: −∞ in chunk 1
    a[2 * K + 2 * KC + 2] = Number.NaN; // row 2: NaN in chunk 2
    const bias = Float64Array.from({ length: N }, (_, n) => n / 4);
    for (const withBias of [null, bias]) {
      for (const f64 of [false, true]) {
        const ref = naive(M, N, K, a, K, 1, b, N, 1, withBias, f64 ? new Float64Array(M * N) : new Float32Array(M * N));
        expect([ref[1 * N + 1], ref[1 * N + 2], ref[2 * N]]).toEqual([Number.NaN, Infinity, Number.NaN]);
        for (const [engine, block] of blocks) {
          const out = f64 ? new Float64Array(M * N) : new Float32Array(M * N);
          gemm(M, N, K, a, K, 1, b, N, 1, out, withBias, block);
          const differing = out.findIndex((v, i) => !Object.is(v, ref[i]));
          expect(differing, `${engine}, f64 ${f64}, bias ${withBias !== null}`).toBe(-1);
        }
      }
    }
  });

  it('keeps f64 outputs in f64, over several chunks too', () => {
    for (const K of [6, KC + 70]) {
      const a = Float64Array.from(random(4 * K, 1)), b = Float64Array.from(random(K * 5, 2));
      for (const [engine, block] of blocks) {
        const c = new Float64Array(20);
        gemm(4, 5, K, a, K, 1, b, 5, 1, c, null, block);
        for (let m = 0; m < 4; m++) for (let n = 0; n < 5; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += a[m * K + k]! * b[k * 5 + n]!;
          expect(c[m * 5 + n], `${engine}, K = ${K}, C(${m}, ${n})`).toBe(s + 0);
        }
      }
    }
  });
});
