// The wasm backend's f32 gemm (runtime/wasm/gemm.ts, gemm.wat) against float64 sums of the same
// f32 operands: every stride pattern the kernels use (x·w, x·wᵀ, xᵀ·dy, dyᵀ·x), edge sizes that
// leave partial 6-row and 8-column panels, K over a packing chunk (256) and over the whole-A limit
// (4096), with and without bias, on 1, 2 and 3 threads, with relaxed SIMD and the plain copy,
// operands staged and operands already in the backend's memory; up to 4 rows (a decoding step's
// products, which gemm.wat runs without packing) with both weight layouts and strided rows.
// Tolerance: |Δ| ≤ 4e-7·max(1, √K/8)·Σ_k|a·b| per element (f32 rounding of the K partial sums; products
// of at least 2^21 multiply-adds are the ones split between threads).
import { afterAll, describe, expect, it } from 'vitest';
import { assemble, bytesModule, WASM_GEMM } from '../../scripts/build-wasm.ts';
import { readFileSync } from 'node:fs';
import { gemmF32, gemmInfo, setGemmThreads, split } from '../../runtime/wasm/gemm.ts';
import { wasmHeap } from '../../runtime/wasm/heap.ts';
import { Random } from '../../runtime/cpu/random.ts';

function rnd(n: number, rng: Random): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() * 2 - 1;
  return a;
}

/** The worst |c − Σ a·b| over the bound of the tolerance above (≤ 1 passes). */
function worst(M: number, N: number, K: number, a: Float32Array, sAm: number, sAk: number, b: Float32Array, sBk: number, sBn: number, c: Float32Array, bias: Float32Array | null): number {
  let w = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n]! : 0;
      let mag = Math.abs(s);
      for (let k = 0; k < K; k++) {
        const p = a[m * sAm + k * sAk]! * b[k * sBk + n * sBn]!;
        s += p;
        mag += Math.abs(p);
      }
      w = Math.max(w, Math.abs(c[m * N + n]! - s) / (4e-7 * mag * Math.max(1, Math.sqrt(K) / 8) + 1e-30));
    }
  }
  return w;
}

const SHAPES: [number, number, number][] = [[1, 1, 1], [6, 8, 1], [7, 9, 5], [13, 17, 300], [64, 130, 257], [5, 700, 33], [130, 520, 40], [530, 20, 70], [200, 24, 4100]];

afterAll(() => setGemmThreads(2));

describe('gemmF32', () => {
  for (const threads of [1, 2, 3]) {
    for (const relaxed of threads === 2 ? [true, false] : [true]) {
      it(`matches f64 sums on ${threads} thread(s)${relaxed ? '' : ', plain SIMD'}: every stride pattern, edge sizes, bias`, () => {
        setGemmThreads(threads, relaxed);
        expect(gemmInfo().threads).toBe(threads);
        if (!relaxed) expect(gemmInfo().relaxed).toBe(false);
        const rng = new Random(threads * 10 + (relaxed ? 1 : 0));
        for (const [M, N, K] of SHAPES) {
          for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
            const a = rnd(M * K, rng);
            const b = rnd(K * N, rng);
            const bias = (M + N + K) % 2 ? rnd(N, rng) : null;
            const [sAm, sAk] = tA ? [1, M] : [K, 1];
            const [sBk, sBn] = tB ? [1, K] : [N, 1];
            const c = new Float32Array(M * N).fill(NaN);
            gemmF32(M, N, K, a, sAm, sAk, b, sBk, sBn, c, bias);
            expect(worst(M, N, K, a, sAm, sAk, b, sBk, sBn, c, bias), `${M}×${N}×${K} tA=${tA} tB=${tB}`).toBeLessThanOrEqual(1);
          }
        }
      });
    }
  }

  for (const [threads, relaxed] of [[1, true], [2, true], [3, true], [2, false]] as const) {
    it(`multiplies up to 4 rows without packing (decoding), on ${threads} thread(s)${relaxed ? '' : ', plain SIMD'}: both weight layouts, strided rows, edge sizes, bias`, () => {
      setGemmThreads(threads, relaxed);
      const rng = new Random(100 + threads);
      for (const M of [1, 2, 3, 4]) {
        for (const [N, K] of [[1, 1], [3, 7], [5, 4], [37, 64], [300, 3], [1030, 769], [2304, 30]] as const) {
          for (const outIn of [false, true]) {
            // A's rows and B's rows are rows of wider matrices (a view of every other head, a column slice)
            const sAm = K + 3;
            const [sBk, sBn] = outIn ? [1, K + 5] : [N + 5, 1];
            const a = rnd(M * sAm, rng);
            const b = rnd(outIn ? N * sBn : K * sBk, rng);
            const bias = (N + K) % 2 ? rnd(N, rng) : null;
            const c = new Float32Array(M * N).fill(NaN);
            gemmF32(M, N, K, a, sAm, 1, b, sBk, sBn, c, bias);
            expect(worst(M, N, K, a, sAm, 1, b, sBk, sBn, c, bias), `${M}×${N}×${K} ${outIn ? 'out_in' : 'in_out'}`).toBeLessThanOrEqual(1);
          }
        }
      }
    });
  }

  it('gives the same bits for few rows on 1 and 3 threads, and reads a weight in its memory in place', () => {
    const rng = new Random(21);
    const heap = wasmHeap();
    const [M, N, K] = [3, 1001, 257];
    const at = heap.reserve(K * N * 4, 'test weight');
    const w = new Float32Array(heap.memory.buffer, at, K * N);
    w.set(rnd(K * N, rng));
    const a = rnd(M * K, rng);
    for (const [sBk, sBn] of [[N, 1], [1, K]]) {
      const out = [1, 3].map((threads) => {
        setGemmThreads(threads);
        const c = new Float32Array(M * N);
        gemmF32(M, N, K, a, K, 1, w, sBk, sBn, c);
        return c;
      });
      expect(worst(M, N, K, a, K, 1, w, sBk, sBn, out[0]!, null)).toBeLessThanOrEqual(1);
      expect(Buffer.from(out[0]!.buffer).equals(Buffer.from(out[1]!.buffer))).toBe(true);
    }
  });

  it('uses fused multiply-adds by default where Node has relaxed SIMD', () => {
    setGemmThreads(2);
    expect(gemmInfo().relaxed).toBe(true);
  });

  it('reads operands in its memory in place and writes C there (the frozen weights, staged rows)', () => {
    setGemmThreads(2);
    const heap = wasmHeap();
    const rng = new Random(7);
    const [M, N, K] = [40, 300, 96];
    const at = heap.reserve((K * N + M * N) * 4, 'test operands');
    const b = new Float32Array(heap.memory.buffer, at, K * N);
    b.set(rnd(K * N, rng));
    const c = new Float32Array(heap.memory.buffer, at + K * N * 4, M * N);
    expect(heap.owns(b) && heap.owns(c)).toBe(true);
    const a = rnd(M * K, rng);
    gemmF32(M, N, K, a, K, 1, b, N, 1, c);
    expect(worst(M, N, K, a, K, 1, b, N, 1, c, null)).toBeLessThanOrEqual(1);
  });

  it('packs A once per column block where a block of its rows over all of K passes 32 MiB (520 × 17,000)', () => {
    setGemmThreads(2);
    const rng = new Random(13);
    const [M, N, K] = [520, 300, 17000];
    const a = rnd(M * K, rng);
    const b = rnd(K * N, rng);
    const c = new Float32Array(M * N);
    gemmF32(M, N, K, a, K, 1, b, 1, K, c);
    // every 37th row against f64 sums (the whole check would take seconds)
    const rows = Array.from({ length: Math.ceil(M / 37) }, (_, i) => i * 37);
    for (const m of rows) {
      expect(worst(1, N, K, a.subarray(m * K), K, 1, b, 1, K, c.subarray(m * N), null), `row ${m}`).toBeLessThanOrEqual(1);
    }
  });

  it('gives the same bits on 1 and 3 threads (each element is summed by one thread, in the same order)', () => {
    const rng = new Random(9);
    const [M, N, K] = [130, 700, 300];
    const a = rnd(M * K, rng);
    const b = rnd(K * N, rng);
    const out = [1, 3].map((threads) => {
      setGemmThreads(threads);
      const c = new Float32Array(M * N);
      gemmF32(M, N, K, a, K, 1, b, 1, K, c);
      return c;
    });
    expect(Buffer.from(out[0]!.buffer).equals(Buffer.from(out[1]!.buffer))).toBe(true);
  });

  it('starts new threads over memory that earlier products staged operands in (their control words start zeroed)', () => {
    setGemmThreads(2);
    const rng = new Random(17);
    // 42 MiB staged (A and B), past where the next engine's scratch (34 MiB a thread) and control words land
    const big = rnd(700 * 8000, rng);
    gemmF32(700, 700, 8000, big, 8000, 1, big, 1, 8000, new Float32Array(700 * 700));
    for (const threads of [1, 3]) {
      setGemmThreads(threads);
      const [M, N, K] = [130, 700, 30];
      const a = rnd(M * K, rng);
      const b = rnd(K * N, rng);
      const c = new Float32Array(M * N);
      gemmF32(M, N, K, a, K, 1, b, N, 1, c);
      expect(worst(M, N, K, a, K, 1, b, N, 1, c, null), `${threads} threads`).toBeLessThanOrEqual(1);
    }
  });

  it('refuses a thread count it cannot start, in one line (a WasmError: the CLI prints it as the user\'s)', () => {
    for (const bad of [0, -1, 2.5, 65]) {
      expect(() => setGemmThreads(bad)).toThrow(expect.objectContaining({ name: 'WasmError', message: `--threads must be an integer from 1 to 64, not ${bad}` }));
    }
  });

  it('refuses to grow its memory past 4 GiB, in one line naming what needed it', () => {
    expect(() => wasmHeap().ensure(5 * 2 ** 30, 'the frozen weights (5.00 GiB in f32)')).toThrow(
      /the wasm backend keeps its data in one WebAssembly memory of at most 4 GiB; the frozen weights \(5\.00 GiB in f32\) would need 5\.00 GiB: use --backend cpu or webgpu/,
    );
  });

  it('leaves K = 0 as the bias and M = 0 or N = 0 untouched', () => {
    const c = new Float32Array(6).fill(7);
    gemmF32(2, 3, 0, new Float32Array(0), 0, 1, new Float32Array(0), 3, 1, c, Float32Array.of(1, 2, 3));
    expect([...c]).toEqual([1, 2, 3, 1, 2, 3]);
    gemmF32(0, 3, 4, new Float32Array(0), 4, 1, new Float32Array(12), 3, 1, c);
    expect([...c]).toEqual([1, 2, 3, 1, 2, 3]);
  });

  it('splits columns in multiples of 8, or rows in multiples of 6 where C is narrow, covering C once', () => {
    expect(split(128, 2304, 2)).toEqual([[0, 128, 0, 1152], [0, 128, 1152, 2304]]);
    expect(split(128, 769, 3)).toEqual([[0, 128, 0, 264], [0, 128, 264, 528], [0, 128, 528, 769]]);
    expect(split(768, 8, 2)).toEqual([[0, 384, 0, 8], [384, 768, 0, 8]]);
    expect(split(5, 8, 2)).toEqual([[0, 5, 0, 8], [5, 5, 0, 8]]);
  });

  it('embeds the bytes of runtime/wasm/gemm.wat as assembled now, with and without relaxed SIMD (npm run build:wasm)', async () => {
    const text = bytesModule(await assemble(WASM_GEMM), WASM_GEMM, await assemble(WASM_GEMM, true));
    expect(readFileSync(WASM_GEMM.out, 'utf8')).toBe(text);
  });
});
