// LoRA's PiSSA and OLoRA initialisations (Hugging Face PEFT's init_lora_weights "pissa",
// "pissa_niter_K" and "olora", tuners/lora/layer.py): A and B start from a decomposition of the
// frozen weight W (taken as [out, in], whatever its layout), and W is replaced by its residual
// W − s·B·A, so the model still starts exactly at the base.
//
//   pissa   W ≈ U·S·Vᵀ (top r);  A = diag(√(S_r/s))·V_rᵀ  [r, in],  B = U_r·diag(√(S_r/s))  [out, r]
//   olora   W = Q·R (QR);        A = R[:r]  [r, in],                 B = Q[:, :r]  [out, r]
//
// pissa takes the exact top r triplets (linalg/svd.ts: topSvd); with `niter` it takes
// torch.svd_lowrank's randomised ones (q = r, niter power iterations, PEFT's call), its Gaussian
// test matrix drawn from `rng`. Singular vectors are defined up to sign; each pair is oriented so
// that the entry of the right vector (A's row) of largest magnitude is positive (the residual and
// B·A do not depend on it). QR keeps Householder's signs, as LAPACK's (and so PyTorch's) do.
// Computed in float64 on the host, so every backend starts from the same values.
import type { Random } from './cpu/random.ts';
import { dense, type Dense } from './linalg/dense.ts';
import { householderQr } from './linalg/householder-qr.ts';
import { lowRankSvd, topSvd, type TopSvd } from './linalg/svd.ts';

export type DecompositionKind = 'pissa' | 'olora';

/** Which decomposition: an init rule of kind pissa / olora fits. */
export interface Decomposition {
  kind: DecompositionKind;
  /** pissa only: torch.svd_lowrank's power iterations (PEFT's "pissa_niter_K"); exact SVD without. */
  niter?: number;
}

export interface LoraFactors {
  /** [r, in], row-major. */
  A: Float64Array;
  /** [out, r], row-major. */
  B: Float64Array;
}

/** W [out, in] (row-major, from a Linear's `out_in` or a Conv1D's `in_out` storage). */
export function weightOutIn(data: ArrayLike<number>, fout: number, fin: number, layout: 'in_out' | 'out_in'): Dense {
  const W = dense(fout, fin);
  if (layout === 'out_in') for (let i = 0; i < fout * fin; i++) W.data[i] = data[i]!;
  else for (let i = 0; i < fin; i++) for (let o = 0; o < fout; o++) W.data[o * fin + i] = data[i * fout + o]!;
  return W;
}

/** The initial factors of rank r of W [out, in] at scale s; `rng` draws the randomised SVD's test matrix. */
export function loraFactors(d: Decomposition, W: Dense, r: number, s: number, rng?: Random): LoraFactors {
  if (r > Math.min(W.rows, W.cols)) throw new RangeError(`rank ${r} exceeds min(${W.rows}, ${W.cols})`);
  if (d.kind === 'olora') return olora(W, r);
  if (d.niter === undefined) return pissa(topSvd(W, r), r, s);
  if (!rng) throw new Error('loraFactors: init = pissa(niter = …) needs a random stream');
  const gauss = dense(Math.min(W.rows, W.cols), r);
  rng.fillNormal(gauss.data, 1, 0);
  return pissa(lowRankSvd(W, r, d.niter, gauss), r, s);
}

function pissa(svd: TopSvd, r: number, s: number): LoraFactors {
  const { U, S, V } = svd;
  const [fout, fin] = [U.rows, V.rows];
  const A = new Float64Array(r * fin);
  const B = new Float64Array(fout * r);
  const vr = V.cols;
  const ur = U.cols;
  for (let k = 0; k < r; k++) {
    const root = Math.sqrt(S[k]! / s);
    let big = 0;
    for (let i = 0; i < fin; i++) if (Math.abs(V.data[i * vr + k]!) > Math.abs(big)) big = V.data[i * vr + k]!;
    const sign = big < 0 ? -1 : 1;
    for (let i = 0; i < fin; i++) A[k * fin + i] = sign * root * V.data[i * vr + k]!;
    for (let o = 0; o < fout; o++) B[o * r + k] = sign * root * U.data[o * ur + k]!;
  }
  return { A, B };
}

function olora(W: Dense, r: number): LoraFactors {
  // Q[:, :r] and R[:r] need only the first r Householder reflections.
  const { Q, R } = householderQr(W, r);
  return { A: R.data, B: Q.data };
}

/** W − s·B·A written back in W's layout (`out` receives it; it may be W's own storage). */
export function subtractFactors(out: { [i: number]: number; length: number }, W: Dense, f: LoraFactors, r: number, s: number, layout: 'in_out' | 'out_in'): void {
  const { rows: fout, cols: fin } = W;
  const row = new Float64Array(fin);
  for (let o = 0; o < fout; o++) {
    // Row o of B·A, accumulated along A's rows (contiguous).
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const b = f.B[o * r + k]!;
      for (let i = 0; i < fin; i++) row[i] += b * f.A[k * fin + i]!;
    }
    for (let i = 0; i < fin; i++) out[layout === 'out_in' ? o * fin + i : i * fout + o] = W.data[o * fin + i]! - s * row[i]!;
  }
}
