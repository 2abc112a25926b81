// linear and its weight gradient, on one blocked, packed-panel matrix multiply.
//
// gemm walks C in blocks of up to MC × NC and K in chunks of up to KC (gemm-block.ts): for each
// chunk it packs 4-row panels of A and 4-column panels of B into Float64Arrays (converting f32
// inputs once), runs a 4×4 register-tile micro-kernel whose inner loop reads both panels
// contiguously, and carries the f64 sums to the next chunk; the block is then biased and rounded
// once. Each input is packed a bounded number of times whatever the shape (GPT-2's head gradient,
// K = 50,257, used to repack all of A for every 20 columns). Strided views of A and B make the
// transposed products (x·wᵀ, xᵀ·dy, dyᵀ·x) the same routine. Where the engine has WebAssembly
// SIMD the panels live in its memory and the tiles run there (gemm.wat: the same sums in the same
// order, so the same bits, a few times faster).
import { jsBlock, KC, MC, NC, QK, type GemmBlock } from './gemm-block.ts';
import { wasmBlock } from './gemm-wasm.ts';
import { floatIn, floatOut, optFloatIn, rowsOf, type FloatArray, type KernelContext, type KernelOf } from './common.ts';

let fallback: GemmBlock | undefined;

/** The WebAssembly block where the engine has SIMD, else the JavaScript one. */
function defaultBlock(): GemmBlock {
  return wasmBlock() ?? (fallback ??= jsBlock());
}

/**
 * C[M,N] = A[M,K] · B[K,N] (+ bias[N]), with A(m,k) = a[m·sAm + k·sAk] and
 * B(k,n) = b[k·sBk + n·sBn]; C is row-major and fully overwritten. `block` picks the
 * implementation (the tests compare both).
 */
export function gemm(
  M: number, N: number, K: number,
  a: FloatArray, sAm: number, sAk: number,
  b: FloatArray, sBk: number, sBn: number,
  c: FloatArray, bias: FloatArray | null = null,
  block: GemmBlock = defaultBlock(),
): void {
  if (M === 0 || N === 0) return;
  if (K === 0) {
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) c[m * N + n] = bias ? bias[n]! : 0;
    return;
  }
  if (M < 4) {
    gemmFewRows(M, N, K, a, sAm, sAk, b, sBk, sBn, c, bias);
    return;
  }
  const f32 = c instanceof Float32Array;
  // Where a block of rows of A fits whole (K ≤ QK), its panels are packed once for every column block.
  const wholeA = K <= QK;
  for (let m0 = 0; m0 < M; m0 += MC) {
    const mb = Math.min(MC, M - m0);
    const mPanels = (mb + 3) >> 2;
    for (let n0 = 0; n0 < N; n0 += NC) {
      const nb = Math.min(NC, N - n0);
      const nPanels = (nb + 3) >> 2;
      for (let j = 0; j < 4 * nPanels; j++) block.bias[j] = bias && j < nb ? bias[n0 + j]! : 0;
      for (let k0 = 0; k0 < K; k0 += KC) {
        const kc = Math.min(KC, K - k0);
        const q0 = wholeA ? 4 * mPanels * k0 : 0;
        packPanels(b, sBn, sBk, n0, nb, k0, kc, block.P, 0);
        if (!wholeA || n0 === 0) packPanels(a, sAm, sAk, m0, mb, k0, kc, block.Q, q0);
        block.tiles(kc, mPanels, nPanels, k0 > 0, q0);
      }
      const rows = f32 ? block.finish32(mPanels, nPanels) : block.finish64(mPanels, nPanels);
      const W = 4 * nPanels;
      for (let i = 0; i < mb; i++) c.set(rows.subarray(i * W, i * W + nb), (m0 + i) * N + n0);
    }
  }
}

/** Few rows (generation, M < 4): packing B would cost more than the product; loop directly. */
function gemmFewRows(
  M: number, N: number, K: number,
  a: FloatArray, sAm: number, sAk: number,
  b: FloatArray, sBk: number, sBn: number,
  c: FloatArray, bias: FloatArray | null,
): void {
  const acc = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    const ao = m * sAm;
    if (sBn === 1) {
      acc.fill(0);
      for (let k = 0; k < K; k++) {
        const x = a[ao + k * sAk]!;
        const bo = k * sBk;
        for (let n = 0; n < N; n++) acc[n] += x * b[bo + n]!;
      }
    } else {
      for (let n = 0; n < N; n++) {
        let s = 0;
        const bo = n * sBn;
        for (let k = 0; k < K; k++) s += a[ao + k * sAk]! * b[bo + k * sBk]!;
        acc[n] = s;
      }
    }
    const co = m * N;
    for (let n = 0; n < N; n++) c[co + n] = acc[n]! + (bias ? bias[n]! : 0);
  }
}

/** Values of k packed per line before moving to the next panel (see packPanels). */
const PACK_K = 16;

/**
 * Packs lines r0 … r0+rb−1 of a matrix (line r, value k at x[r·sR + k·sK]: A's rows or B's
 * columns) over k0 … k0+kc−1 into 4-line panels: out[o0 + p·4kc + k·4 + i] = line r0 + 4p + i at
 * k0 + k, zero for lines past rb (their sums are computed and never stored). PACK_K values of
 * k at a time across all panels: for a row-major B (lines = columns, sK = a row) that reads a
 * few rows' stretch contiguously, instead of walking all kc rows once per panel (rows a multiple
 * of 4 KiB apart land in the same few L1 sets and evict each other between panels).
 */
function packPanels(x: FloatArray, sR: number, sK: number, r0: number, rb: number, k0: number, kc: number, out: Float64Array, o0: number): void {
  for (let kb = 0; kb < kc; kb += PACK_K) {
    const ke = Math.min(kc, kb + PACK_K);
    for (let p = 0; 4 * p < rb; p++) {
      const lines = Math.min(4, rb - 4 * p);
      const src = (r0 + 4 * p) * sR + (k0 + kb) * sK;
      const dst = o0 + p * 4 * kc + kb * 4;
      if (lines === 4) {
        for (let k = kb, o = dst, s = src; k < ke; k++, o += 4, s += sK) {
          out[o] = x[s]!;
          out[o + 1] = x[s + sR]!;
          out[o + 2] = x[s + 2 * sR]!;
          out[o + 3] = x[s + 3 * sR]!;
        }
        continue;
      }
      for (let k = kb, o = dst, s = src; k < ke; k++, o += 4, s += sK) {
        for (let i = 0; i < 4; i++) out[o + i] = i < lines ? x[s + i * sR]! : 0;
      }
    }
  }
}

/** A matrix product with gemm's contract (the reference's, or another backend's: runtime/wasm/gemm.ts). */
export type Gemm = (
  M: number, N: number, K: number,
  a: FloatArray, sAm: number, sAk: number,
  b: FloatArray, sBk: number, sBn: number,
  c: FloatArray, bias?: FloatArray | null,
) => void;

/**
 * linear: x [..., in], w [in,out] (in_out) or [out,in] (out_in), b? [out] → [..., out], on the
 * product `mm`. The catalog's rule checked that w is 2-D and matches x's features, and b w's outputs.
 */
export function linearOn(mm: Gemm): KernelOf<'linear'> {
  return (inputs, { layout }, ctx) => {
    const op = 'linear';
    const x = floatIn(op, inputs, 0, 'x');
    const w = floatIn(op, inputs, 1, 'w');
    const b = optFloatIn(op, inputs, 2, 'b');
    const [rows, nIn] = rowsOf(op, x.shape);
    const wo = layout === 'in_out' ? w.shape[1]! : w.shape[0]!;
    const y = floatOut([...x.shape.slice(0, -1), wo], ctx);
    // in_out: B(k,n) = w[k·out + n]; out_in: B(k,n) = w[n·in + k].
    if (layout === 'in_out') mm(rows, wo, nIn, x.data, nIn, 1, w.data, wo, 1, y.data, b?.data ?? null);
    else mm(rows, wo, nIn, x.data, nIn, 1, w.data, 1, nIn, y.data, b?.data ?? null);
    return y;
  };
}

/**
 * linear_grad_weight: x [..., in], dy [..., out] → in_out: xᵀ·dy [in,out]; out_in: dyᵀ·x [out,in]
 * (summed over all rows; the catalog's rule checked that x and dy have the same rows), on `mm`.
 */
export function linearGradWeightOn(mm: Gemm): KernelOf<'linear_grad_weight'> {
  return (inputs, { layout }, ctx: KernelContext) => {
    const op = 'linear_grad_weight';
    const x = floatIn(op, inputs, 0, 'x');
    const dy = floatIn(op, inputs, 1, 'dy');
    const [rows, nIn] = rowsOf(op, x.shape);
    const nOut = dy.shape[dy.shape.length - 1]!;
    if (layout === 'in_out') {
      const g = floatOut([nIn, nOut], ctx);
      // A = xᵀ: A(i, r) = x[r·in + i]; B = dy [rows, out].
      mm(nIn, nOut, rows, x.data, 1, nIn, dy.data, nOut, 1, g.data);
      return g;
    }
    const g = floatOut([nOut, nIn], ctx);
    mm(nOut, nIn, rows, dy.data, 1, nOut, x.data, nIn, 1, g.data);
    return g;
  };
}

/** The reference's linear and weight gradient: on the in-order f64-sum gemm above. */
export const linear = linearOn(gemm);
export const linearGradWeight = linearGradWeightOn(gemm);
