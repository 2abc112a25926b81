// Splitting a matmul into pieces whose bindings fit a limit (compiler/lower/split.ts), checked
// without a GPU: each piece is evaluated in float64 exactly as the kernel indexes its windows
// (row stride, first column, accumulate, bias only in the first K piece, the activation in the
// last), and the pieces together must give the whole product. Tolerance 1e-12 relative (float64
// sums in another order).
import { describe, expect, it } from 'vitest';
import { ROW_QUANTUM, SplitError, chunks, rowsPerWindow, splitMatmul } from '../../compiler/lower/split.ts';
import { type MatmulSpec, bindingElements, stridesOf } from '../../compiler/lower/matmul-spec.ts';
import { activationCpu, matmulCpu, randomArray } from '../webgpu/reference.ts';

/** Runs the pieces over Float64 copies of the whole operands, each piece seeing only its windows. */
function runPieces(spec: MatmulSpec, limit: number, a: Float32Array, b: Float32Array, bias?: Float32Array, kSlice?: number): Float64Array {
  const pieces = splitMatmul(spec, limit, kSlice)!;
  const c = new Float64Array(spec.M * spec.N);
  for (const p of pieces) {
    const s = p.spec;
    const st = stridesOf(s);
    const span = bindingElements(s);
    const aw = a.subarray(p.a.offset / 4, (p.a.offset + p.a.bytes) / 4);
    const bw = b.subarray(p.b.offset / 4, (p.b.offset + p.b.bytes) / 4);
    const cw = c.subarray(p.c.offset / 4, (p.c.offset + p.c.bytes) / 4);
    const biasw = p.bias ? bias!.subarray(p.bias.offset / 4, (p.bias.offset + p.bias.bytes) / 4) : undefined;
    // The kernel may address only inside its windows.
    expect(span.a).toBeLessThanOrEqual(aw.length);
    expect(span.b).toBeLessThanOrEqual(bw.length);
    expect(span.c).toBeLessThanOrEqual(cw.length);
    for (let m = 0; m < s.M; m++) {
      for (let n = 0; n < s.N; n++) {
        let sum = 0;
        for (let k = 0; k < s.K; k++) {
          const av = s.transA ? aw[k * st.lda + st.aCol + m]! : aw[m * st.lda + st.aCol + k]!;
          const bv = s.transB ? bw[n * st.ldb + st.bCol + k]! : bw[k * st.ldb + st.bCol + n]!;
          sum += av * bv;
        }
        const i = m * st.ldc + st.cCol + n;
        const v = (s.alpha ?? 1) * sum + (biasw ? biasw[n]! : 0);
        cw[i] = s.accumulate ? (s.activation ? activationCpu(s.activation, cw[i]! + v) : cw[i]! + v) : activationCpu(s.activation, v);
      }
    }
  }
  return c;
}

// Each has an operand of more than 128 rows of the longest row length, so both limits split it.
const CASES: MatmulSpec[] = [
  { M: 300, N: 130, K: 270 },
  { M: 300, N: 130, K: 270, transA: true },
  { M: 150, N: 300, K: 290, transB: true, bias: true }, // N split by B's rows
  { M: 330, N: 200, K: 260, transA: true, transB: true, alpha: 0.5 },
  { M: 90, N: 400, K: 400, bias: true, activation: 'gelu' }, // K split: bias first, gelu last
  { M: 70, N: 300, K: 270, transB: true, activation: 'relu', alpha: 2 },
];

describe('splitMatmul', () => {
  it('returns null when every operand fits', () => {
    expect(splitMatmul({ M: 10, N: 10, K: 10 }, 400)).toBeNull();
  });

  for (const spec of CASES) {
    // Limits of 64 and 128 rows of the longest row: the smallest that can split, and a looser one.
    for (const rows of [64, 128]) {
      const limit = 4 * rows * Math.max(spec.M, spec.N, spec.K);
      it(`${JSON.stringify(spec)} under ${limit} bytes: windows fit, offsets bind, the sum is the product`, () => {
        const a = randomArray(spec.M * spec.K, 1);
        const b = randomArray(spec.K * spec.N, 2);
        const bias = spec.bias ? randomArray(spec.N, 3) : undefined;
        const pieces = splitMatmul(spec, limit);
        expect(pieces).not.toBeNull();
        expect(pieces!.length).toBeGreaterThan(1);
        for (const p of pieces!) {
          for (const w of [p.a, p.b, p.c, ...(p.bias ? [p.bias] : [])]) {
            expect(w.bytes).toBeLessThanOrEqual(limit);
            expect(w.offset % 256).toBe(0);
          }
          expect(!!p.spec.bias).toBe(!!spec.bias && (p.spec.accumulate !== true));
        }
        const got = runPieces(spec, limit, a, b, bias);
        const want = matmulCpu(spec, a, b, bias).c;
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want[i]!)) * spec.K);
      });
    }
  }

  it('splits K (accumulating, the activation last) and N (column ranges of C) where the rows demand it', () => {
    const k = splitMatmul(CASES[4]!, 4 * 64 * 400)!;
    expect(k.filter((p) => p.spec.accumulate).length).toBeGreaterThan(0);
    // gelu exactly in the pieces whose window of B reaches its last row (the last K piece)
    expect(k.every((p) => !!p.spec.activation === (p.b.offset + p.b.bytes === 400 * 400 * 4))).toBe(true);
    const n = splitMatmul(CASES[2]!, 4 * 64 * 300)!;
    expect(new Set(n.map((p) => p.spec.cCol)).size).toBeGreaterThan(1);
    expect(n.filter((p) => p.bias).map((p) => p.bias!.offset)).toEqual(n.filter((p) => p.bias).map((p) => 4 * p.spec.cCol!));
  });

  // Split-K (the kSlice argument): slices of K dispatched in turn, each adding into C, even
  // where every operand fits one binding.
  const LONG: MatmulSpec[] = [
    { M: 70, N: 36, K: 1000, bias: true, activation: 'gelu', alpha: 0.5 },
    { M: 33, N: 17, K: 777, transA: true },
    { M: 9, N: 50, K: 641, transB: true, bias: true },
    { M: 130, N: 12, K: 900, accumulate: true },
  ];
  for (const spec of LONG) {
    it(`split-K ${JSON.stringify(spec)} in slices of 256: the slices' sum is the product, full slices share one kernel`, () => {
      const a = randomArray(spec.M * spec.K, 4);
      const b = randomArray(spec.K * spec.N, 5);
      const bias = spec.bias ? randomArray(spec.N, 6) : undefined;
      const limit = 2 ** 27;
      const pieces = splitMatmul(spec, limit, 256)!;
      expect(pieces.map((p) => p.spec.K)).toEqual(chunks(spec.K, 256).map((c) => c.count));
      for (const p of pieces) for (const w of [p.a, p.b, p.c]) expect(w.offset % 256).toBe(0);
      // the first slice writes (unless the product accumulates) with the bias, the others add; the activation comes last
      expect(pieces.map((p) => !!p.spec.accumulate)).toEqual(pieces.map((_, i) => i > 0 || !!spec.accumulate));
      expect(pieces.map((p) => !!p.spec.bias)).toEqual(pieces.map((_, i) => i === 0 && !!spec.bias));
      expect(pieces.map((p) => p.spec.activation)).toEqual(pieces.map((_, i) => (i === pieces.length - 1 ? spec.activation : undefined)));
      // the middle slices' specs are equal (one shader); only their windows move along K
      const middle = pieces.slice(1, -1).map((p) => JSON.stringify(p.spec));
      expect(new Set(middle).size).toBe(1);
      const got = runPieces({ ...spec, accumulate: false }, limit, a, b, bias, 256);
      const want = matmulCpu({ ...spec, accumulate: false }, a, b, bias).c;
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want[i]!)) * spec.K);
    });
  }

  it('split-K: no split when K is within the slice, slices rounded down to 64 rows, together with a binding split', () => {
    expect(splitMatmul({ M: 10, N: 10, K: 256 }, 2 ** 20, 256)).toBeNull();
    expect(splitMatmul({ M: 10, N: 10, K: 300 }, 2 ** 20, 100)!.map((p) => p.spec.K)).toEqual([64, 64, 64, 64, 44]);
    // B of 1000 × 300 f32 under a limit of 256 rows of it: the binding allows 256 rows, the slice 128
    const both = splitMatmul({ M: 20, N: 300, K: 1000 }, 4 * 300 * 256, 128)!;
    expect(both.map((p) => p.spec.K)).toEqual(chunks(1000, 128).map((c) => c.count));
  });

  it('windows are whole multiples of 64 rows, except the last', () => {
    expect(rowsPerWindow(1000, 100, 10_000_000, 'x')).toBe(1000);
    expect(rowsPerWindow(1000, 100, 20_000, 'x')).toBe(192);
    expect(chunks(500, 192)).toEqual([
      { start: 0, count: 192 },
      { start: 192, count: 192 },
      { start: 384, count: 116 },
    ]);
    expect(ROW_QUANTUM * 4 % 256).toBe(0);
  });

  it('says so when not even 64 rows fit in one binding', () => {
    expect(() => rowsPerWindow(1000, 1000, 32_000, 'logits [1000, 250]')).toThrow(SplitError);
    expect(() => rowsPerWindow(1000, 1000, 32_000, 'logits [1000, 250]')).toThrow(/logits \[1000, 250\]: one window of 64 rows takes 64000 bytes, more than the binding limit \(32000\)/);
    expect(() => splitMatmul({ M: 1000, N: 1000, K: 8 }, 32_000)).toThrow(SplitError);
  });
});
