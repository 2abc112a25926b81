// The top singular triplets of a dense matrix W [m, n] = U·diag(S)·Vᵀ, exactly (from the
// eigen-decomposition of the smaller Gram matrix) or randomised (Halko, Martinsson and Tropp,
// 2009, Algorithm 4.4 then 5.1, as torch.svd_lowrank: what PEFT's init_lora_weights
// "pissa_niter_K" calls).
//
// Exact: with n ≤ m, WᵀW = V·S²·Vᵀ, and U = W·V·S⁻¹ (W·Wᵀ and the roles swapped when m < n).
// The Gram matrix squares W's condition number, which costs accuracy only in the small singular
// values: the top r triplets that PiSSA keeps come out as accurate as LAPACK's (test/core/
// lora-inits.test.ts: 1e-12 against torch.linalg.svd), and a 2304×768 weight takes seconds
// where a full Golub–Kahan SVD of it in JS took minutes.
import { dense, gram, matmul, matmulTA, transpose, type Dense } from './dense.ts';
import { householderQr } from './householder-qr.ts';
import { symmetricEigen } from './symmetric-eigen.ts';

export interface TopSvd {
  /** [m, r] left singular vectors. */
  U: Dense;
  /** r singular values, descending. */
  S: Float64Array;
  /** [n, r] right singular vectors. */
  V: Dense;
}

/** The r largest singular values of W and their vectors. */
export function topSvd(W: Dense, r: number): TopSvd {
  const { rows: m, cols: n } = W;
  if (!(Number.isInteger(r) && r >= 0 && r <= Math.min(m, n))) throw new RangeError(`topSvd: rank ${r} for [${m}, ${n}]`);
  // Eigenvectors of the smaller Gram matrix are one side's singular vectors.
  const side = n <= m ? 'cols' : 'rows';
  const k = side === 'cols' ? n : m;
  const { values, vectors } = symmetricEigen(gram(W, side).data, k);
  const S = new Float64Array(r);
  const known = dense(k, r);
  for (let j = 0; j < r; j++) {
    const col = k - 1 - j; // ascending: the largest last
    S[j] = Math.sqrt(Math.max(values[col]!, 0));
    for (let i = 0; i < k; i++) known.data[i * r + j] = vectors[col * k + i]!;
  }
  // The other side: W·v / σ (or Wᵀ·u / σ); a zero singular value's vector is left at zero.
  const other = side === 'cols' ? matmul(W, known) : matmulTA(W, known);
  for (let j = 0; j < r; j++) {
    const inv = S[j]! > 0 ? 1 / S[j]! : 0;
    for (let i = 0; i < other.rows; i++) other.data[i * r + j] *= inv;
  }
  return side === 'cols' ? { U: other, S, V: known } : { U: known, S, V: other };
}

/**
 * torch.svd_lowrank(W, q, niter) with its Gaussian test matrix given: `gauss` is [min(m, n), q]
 * (torch.randn(n, q) after W is turned tall). Q spans W·G, refined by niter power iterations
 * with a QR after each product; then the SVD of the small Qᵀ·W.
 */
export function lowRankSvd(W: Dense, q: number, niter: number, gauss: Dense): TopSvd {
  const wide = W.rows < W.cols;
  const A = wide ? transpose(W) : W;
  if (gauss.rows !== A.cols || gauss.cols !== q) throw new RangeError(`lowRankSvd: test matrix [${gauss.rows}, ${gauss.cols}], need [${A.cols}, ${q}]`);
  let Q = householderQr(matmul(A, gauss), q).Q;
  for (let i = 0; i < niter; i++) {
    Q = householderQr(matmulTA(A, Q), q).Q;
    Q = householderQr(matmul(A, Q), q).Q;
  }
  const small = topSvd(matmulTA(Q, A), q); // [q, n]
  const U = matmul(Q, small.U);
  return wide ? { U: small.V, S: small.S, V: U } : { U, S: small.S, V: small.V };
}
