// The unit of work of the CPU backend's gemm (linear.ts): a block of C, up to MC rows × NC
// columns, summed over K one chunk of up to KC values of k at a time from packed panels of A and
// B, then biased and rounded once. The chunks bound the packed panels (≈ 11 MiB in all, whatever
// K, M and N) and let each panel be packed a bounded number of times; the
// sums are carried in f64 from one chunk to the next, so every C(m, n) is still summed in the
// order k = 0 … K−1 and the result is bit-identical to the in-order loop.
//
// Two implementations, one layout: WebAssembly SIMD (gemm-wasm.ts, gemm.wat) where the engine
// has it, and the scalar JavaScript here where it does not.

/** Values of k per chunk: a packed panel is KC·4 f64 (16 KiB), so an A and a B panel fit in L1. */
export const KC = 512;
/** Rows of C per block (A's panels for a chunk: MC·KC f64, 1 MiB). */
export const MC = 256;
/** Columns of C per block (B's panels for a chunk: NC·KC f64, 1 MiB). */
export const NC = 256;
/**
 * Values of k of A's panels held at once (MC·QK f64, 8 MiB): where K ≤ QK a block of rows of A is
 * packed once for all its chunks and every column block, not once per column block.
 */
export const QK = 4096;

/** Packed panels, carried sums and rounded rows of one block; views stay valid while it is in use. */
export interface GemmBlock {
  /**
   * A's panels: Q[q0 + mp·4kc + k·4 + i] = A(m0 + 4mp + i, k0 + k), zero past the block's rows,
   * with q0 the chunk's offset (0, or 4·mPanels·k0 where the block's whole K is held).
   */
  Q: Float64Array;
  /** B's panels: P[np·4kc + k·4 + j] = B(k0 + k, n0 + 4np + j), zero past its columns. */
  P: Float64Array;
  /** The bias of the block's columns (zero where there is none, or past the columns). */
  bias: Float64Array;
  /** Sums the chunk of kc values of k (A's panels from Q[q0 …]) into the mPanels × nPanels tiles, from 0 or carried on. */
  tiles(kc: number, mPanels: number, nPanels: number, carry: boolean, q0: number): void;
  /** The tiles' sums + bias, rounded to f32, row-major with 4·nPanels values a row. */
  finish32(mPanels: number, nPanels: number): Float32Array;
  /** The same, kept in f64. */
  finish64(mPanels: number, nPanels: number): Float64Array;
}

/** The block in plain JavaScript (engines without WebAssembly SIMD): the same sums in the same order. */
export function jsBlock(): GemmBlock {
  const Q = new Float64Array(MC * QK);
  const P = new Float64Array(NC * KC);
  const bias = new Float64Array(NC);
  const out = new Float64Array(MC * NC);
  const rows32 = new Float32Array(MC * NC);
  const rows64 = new Float64Array(MC * NC);
  const finish = <T extends Float32Array | Float64Array>(rows: T, mPanels: number, nPanels: number): T => {
    const W = 4 * nPanels;
    for (let r = 0; r < 4 * mPanels; r++) {
      for (let n = 0; n < W; n++) rows[r * W + n] = out[((r >> 2) * nPanels + (n >> 2)) * 16 + (r & 3) * 4 + (n & 3)]! + bias[n]!;
    }
    return rows;
  };
  return {
    Q, P, bias,
    tiles(kc, mPanels, nPanels, carry, q0) {
      for (let mp = 0; mp < mPanels; mp++) {
        for (let np = 0; np < nPanels; np++) tile(Q, q0 + mp * 4 * kc, P, np * 4 * kc, kc, out, (mp * nPanels + np) * 16, carry);
      }
    },
    finish32: (mPanels, nPanels) => finish(rows32, mPanels, nPanels),
    finish64: (mPanels, nPanels) => finish(rows64, mPanels, nPanels),
  };
}

/** One 4×4 tile: out[o + i·4 + j] (+)= Σ_k Q[qo + k·4 + i] · P[po + k·4 + j], k in order. */
function tile(Q: Float64Array, qo: number, P: Float64Array, po: number, kc: number, out: Float64Array, o: number, carry: boolean): void {
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
  let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
  if (carry) {
    s00 = out[o]!; s01 = out[o + 1]!; s02 = out[o + 2]!; s03 = out[o + 3]!;
    s10 = out[o + 4]!; s11 = out[o + 5]!; s12 = out[o + 6]!; s13 = out[o + 7]!;
    s20 = out[o + 8]!; s21 = out[o + 9]!; s22 = out[o + 10]!; s23 = out[o + 11]!;
    s30 = out[o + 12]!; s31 = out[o + 13]!; s32 = out[o + 14]!; s33 = out[o + 15]!;
  }
  for (let k = 0; k < kc; k++, qo += 4, po += 4) {
    const b0 = P[po]!, b1 = P[po + 1]!, b2 = P[po + 2]!, b3 = P[po + 3]!;
    const x0 = Q[qo]!, x1 = Q[qo + 1]!, x2 = Q[qo + 2]!, x3 = Q[qo + 3]!;
    s00 += x0 * b0; s01 += x0 * b1; s02 += x0 * b2; s03 += x0 * b3;
    s10 += x1 * b0; s11 += x1 * b1; s12 += x1 * b2; s13 += x1 * b3;
    s20 += x2 * b0; s21 += x2 * b1; s22 += x2 * b2; s23 += x2 * b3;
    s30 += x3 * b0; s31 += x3 * b1; s32 += x3 * b2; s33 += x3 * b3;
  }
  out[o] = s00; out[o + 1] = s01; out[o + 2] = s02; out[o + 3] = s03;
  out[o + 4] = s10; out[o + 5] = s11; out[o + 6] = s12; out[o + 7] = s13;
  out[o + 8] = s20; out[o + 9] = s21; out[o + 10] = s22; out[o + 11] = s23;
  out[o + 12] = s30; out[o + 13] = s31; out[o + 14] = s32; out[o + 15] = s33;
}
