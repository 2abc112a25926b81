// linear and its weight gradient, on one packed-panel matrix multiply.
//
// gemm packs a 4-row panel of A and a block of 4-column panels of B into Float64Arrays
// (converting f32 inputs once), then runs a 4×4 register-tile micro-kernel whose inner loop
// reads both panels contiguously. Strided views of A and B make the transposed products
// (x·wᵀ, xᵀ·dy, dyᵀ·x) the same routine. Accumulation is in f64; outputs are rounded once.
// Where the engine has WebAssembly SIMD the panels are packed into its memory and the tiles run
// there (gemm.wat: the same sums in the same order, so the same bits, a few times faster).
import { wasmPanels } from './gemm-wasm.ts';
import { floatIn, floatOut, optFloatIn, rowsOf, type FloatArray, type KernelContext, type KernelOf } from './common.ts';

/** Columns of B packed per block: K·NB f64 values (1.5 MB for K = 768). */
const NB = 256;
/**
 * At most this many bytes of packed B per block: fewer columns for long K (GPT-2's head
 * gradient has K = 50,257: 20 columns, not 256), so a product never holds more than this.
 */
const PANEL_BYTES = 8 * 1024 * 1024;

/** Columns of B per block: NB, fewer for a narrow B or a long K; a multiple of 4, at least 4. */
function blockColumns(K: number, N: number): number {
  return Math.max(4, Math.min(NB, roundUp4(N), Math.floor(PANEL_BYTES / (8 * K)) & ~3));
}

/**
 * C[M,N] = A[M,K] · B[K,N] (+ bias[N]), with A(m,k) = a[m·sAm + k·sAk] and
 * B(k,n) = b[k·sBk + n·sBn]; C is row-major and fully overwritten.
 */
export function gemm(
  M: number, N: number, K: number,
  a: FloatArray, sAm: number, sAk: number,
  b: FloatArray, sBk: number, sBn: number,
  c: FloatArray, bias: FloatArray | null = null,
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
  const nbMax = blockColumns(K, N);
  const wasm = wasmPanels(K, nbMax / 4);
  const P = wasm?.P ?? new Float64Array(K * nbMax);
  const Q = wasm?.Q ?? new Float64Array(K * 4);
  for (let n0 = 0; n0 < N; n0 += nbMax) {
    const nb = Math.min(nbMax, N - n0);
    packB(b, sBk, sBn, K, n0, nb, P);
    for (let m0 = 0; m0 < M; m0 += 4) {
      const mb = Math.min(4, M - m0);
      packA(a, sAm, sAk, K, m0, mb, Q);
      if (wasm) {
        wasm.tiles((nb + 3) >> 2);
        for (let j0 = 0; j0 < nb; j0 += 4) storeTile(wasm.out, j0 * 4, c, m0, mb, n0 + j0, Math.min(4, nb - j0), N, bias);
      } else {
        for (let j0 = 0; j0 < nb; j0 += 4) tile(Q, P, j0 * K, K, c, m0, mb, n0 + j0, Math.min(4, nb - j0), N, bias);
      }
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

function roundUp4(n: number): number {
  return (n + 3) & ~3;
}

/** Q[k·4 + i] = A(m0 + i, k), zero for rows past M. */
function packA(a: FloatArray, sAm: number, sAk: number, K: number, m0: number, mb: number, Q: Float64Array): void {
  for (let i = 0; i < 4; i++) {
    if (i >= mb) {
      for (let k = 0; k < K; k++) Q[k * 4 + i] = 0;
      continue;
    }
    let src = (m0 + i) * sAm;
    for (let k = 0; k < K; k++, src += sAk) Q[k * 4 + i] = a[src]!;
  }
}

/** Panel p (columns n0 + 4p … n0 + 4p + 3) at P[p·4K + k·4 + j] = B(k, n0 + 4p + j), zero past N. */
function packB(b: FloatArray, sBk: number, sBn: number, K: number, n0: number, nb: number, P: Float64Array): void {
  for (let j0 = 0; j0 < nb; j0 += 4) {
    const base = j0 * K;
    for (let j = 0; j < 4; j++) {
      if (j0 + j >= nb) {
        for (let k = 0; k < K; k++) P[base + k * 4 + j] = 0;
        continue;
      }
      let src = (n0 + j0 + j) * sBn;
      for (let k = 0; k < K; k++, src += sBk) P[base + k * 4 + j] = b[src]!;
    }
  }
}

const TILE = new Float64Array(16);

/** One 4×4 tile of C from the packed A panel Q and the B panel at P[po …]. */
function tile(
  Q: Float64Array, P: Float64Array, po: number, K: number,
  c: FloatArray, m0: number, mb: number, n0: number, nb: number, N: number, bias: FloatArray | null,
): void {
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
  let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
  for (let k = 0, qo = 0; k < K; k++, qo += 4, po += 4) {
    const b0 = P[po]!, b1 = P[po + 1]!, b2 = P[po + 2]!, b3 = P[po + 3]!;
    const x0 = Q[qo]!, x1 = Q[qo + 1]!, x2 = Q[qo + 2]!, x3 = Q[qo + 3]!;
    s00 += x0 * b0; s01 += x0 * b1; s02 += x0 * b2; s03 += x0 * b3;
    s10 += x1 * b0; s11 += x1 * b1; s12 += x1 * b2; s13 += x1 * b3;
    s20 += x2 * b0; s21 += x2 * b1; s22 += x2 * b2; s23 += x2 * b3;
    s30 += x3 * b0; s31 += x3 * b1; s32 += x3 * b2; s33 += x3 * b3;
  }
  const t = TILE;
  t[0] = s00; t[1] = s01; t[2] = s02; t[3] = s03; t[4] = s10; t[5] = s11; t[6] = s12; t[7] = s13;
  t[8] = s20; t[9] = s21; t[10] = s22; t[11] = s23; t[12] = s30; t[13] = s31; t[14] = s32; t[15] = s33;
  storeTile(t, 0, c, m0, mb, n0, nb, N, bias);
}

/** The mb×nb corner of the 4×4 sums at t[to …] (row-major) into C, plus the bias. */
function storeTile(
  t: Float64Array, to: number,
  c: FloatArray, m0: number, mb: number, n0: number, nb: number, N: number, bias: FloatArray | null,
): void {
  for (let i = 0; i < mb; i++) {
    const co = (m0 + i) * N + n0;
    for (let j = 0; j < nb; j++) c[co + j] = t[to + i * 4 + j]! + (bias ? bias[n0 + j]! : 0);
  }
}

/**
 * linear: x [..., in], w [in,out] (in_out) or [out,in] (out_in), b? [out] → [..., out]. The
 * catalog's rule checked that w is 2-D and matches x's features, and b w's outputs.
 */
export const linear: KernelOf<'linear'> = (inputs, { layout }, ctx) => {
  const op = 'linear';
  const x = floatIn(op, inputs, 0, 'x');
  const w = floatIn(op, inputs, 1, 'w');
  const b = optFloatIn(op, inputs, 2, 'b');
  const [rows, nIn] = rowsOf(op, x.shape);
  const wo = layout === 'in_out' ? w.shape[1]! : w.shape[0]!;
  const y = floatOut([...x.shape.slice(0, -1), wo], ctx);
  // in_out: B(k,n) = w[k·out + n]; out_in: B(k,n) = w[n·in + k].
  if (layout === 'in_out') gemm(rows, wo, nIn, x.data, nIn, 1, w.data, wo, 1, y.data, b?.data ?? null);
  else gemm(rows, wo, nIn, x.data, nIn, 1, w.data, 1, nIn, y.data, b?.data ?? null);
  return y;
};

/**
 * linear_grad_weight: x [..., in], dy [..., out] → in_out: xᵀ·dy [in,out]; out_in: dyᵀ·x [out,in]
 * (summed over all rows; the catalog's rule checked that x and dy have the same rows).
 */
export const linearGradWeight: KernelOf<'linear_grad_weight'> = (inputs, { layout }, ctx: KernelContext) => {
  const op = 'linear_grad_weight';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const [rows, nIn] = rowsOf(op, x.shape);
  const nOut = dy.shape[dy.shape.length - 1]!;
  if (layout === 'in_out') {
    const g = floatOut([nIn, nOut], ctx);
    // A = xᵀ: A(i, r) = x[r·in + i]; B = dy [rows, out].
    gemm(nIn, nOut, rows, x.data, 1, nIn, dy.data, nOut, 1, g.data);
    return g;
  }
  const g = floatOut([nOut, nIn], ctx);
  gemm(nOut, nIn, rows, dy.data, 1, nOut, x.data, nIn, 1, g.data);
  return g;
};
