// LoRA's PiSSA and OLoRA initialisations (Hugging Face PEFT's init_lora_weights "pissa" and
// "olora", tuners/lora/layer.py): A and B start from a decomposition of the frozen weight W
// (taken as [out, in], whatever its layout), and W is replaced by its residual W − s·B·A, so the
// model still starts exactly at the base.
//
//   pissa   W = V·S·Uᵀ (SVD);  A = diag(√(S_r/s))·U_rᵀ  [r, in],  B = V_r·diag(√(S_r/s))  [out, r]
//   olora   W = Q·R (QR);      A = R[:r]  [r, in],                 B = Q[:, :r]  [out, r]
//
// Singular vectors are defined up to sign; each pair (u_k, v_k) is oriented so that the entry of
// u_k of largest magnitude is positive (the residual and B·A do not depend on it). QR keeps
// Householder's signs, as LAPACK's (and so PyTorch's) do. Computed in float64 with ml-matrix on
// the host, so every backend starts from the same values.
import { Matrix, QrDecomposition, SingularValueDecomposition } from 'ml-matrix';

export type DecompositionKind = 'pissa' | 'olora';

export interface LoraFactors {
  /** [r, in], row-major. */
  A: Float64Array;
  /** [out, r], row-major. */
  B: Float64Array;
}

/** W [out, in] (row-major, from a Linear's `out_in` or a Conv1D's `in_out` storage). */
export function weightOutIn(data: ArrayLike<number>, fout: number, fin: number, layout: 'in_out' | 'out_in'): Matrix {
  const W = new Matrix(fout, fin);
  for (let o = 0; o < fout; o++) for (let i = 0; i < fin; i++) W.set(o, i, layout === 'out_in' ? data[o * fin + i]! : data[i * fout + o]!);
  return W;
}

/** The initial factors of rank r of W [out, in] at scale s. */
export function loraFactors(kind: DecompositionKind, W: Matrix, r: number, s: number): LoraFactors {
  if (r > Math.min(W.rows, W.columns)) throw new RangeError(`rank ${r} exceeds min(${W.rows}, ${W.columns})`);
  return kind === 'pissa' ? pissa(W, r, s) : olora(W, r);
}

function pissa(W: Matrix, r: number, s: number): LoraFactors {
  const svd = new SingularValueDecomposition(W, { autoTranspose: true });
  const left = svd.leftSingularVectors; // V [out, k]
  const right = svd.rightSingularVectors; // U [in, k]
  const S = svd.diagonal;
  const [fout, fin] = [W.rows, W.columns];
  const A = new Float64Array(r * fin);
  const B = new Float64Array(fout * r);
  for (let k = 0; k < r; k++) {
    const root = Math.sqrt(S[k]! / s);
    let big = 0;
    for (let i = 0; i < fin; i++) if (Math.abs(right.get(i, k)) > Math.abs(big)) big = right.get(i, k);
    const sign = big < 0 ? -1 : 1;
    for (let i = 0; i < fin; i++) A[k * fin + i] = sign * root * right.get(i, k);
    for (let o = 0; o < fout; o++) B[o * r + k] = sign * root * left.get(o, k);
  }
  return { A, B };
}

function olora(W: Matrix, r: number): LoraFactors {
  const [fout, fin] = [W.rows, W.columns];
  // The reduced QR of a wide W: Householder on its first `out` columns, R = Qᵀ·W (as LAPACK).
  const square = fout < fin ? W.subMatrix(0, fout - 1, 0, fout - 1) : W;
  const Q = new QrDecomposition(square).orthogonalMatrix; // [out, min(out, in)]
  const R = Q.transpose().mmul(W); // [min(out, in), in]
  const A = new Float64Array(r * fin);
  const B = new Float64Array(fout * r);
  for (let k = 0; k < r; k++) {
    for (let i = 0; i < fin; i++) A[k * fin + i] = R.get(k, i);
    for (let o = 0; o < fout; o++) B[o * r + k] = Q.get(o, k);
  }
  return { A, B };
}

/** W − s·B·A written back in W's layout (`out` receives it; it may be W's own storage). */
export function subtractFactors(out: { [i: number]: number; length: number }, W: Matrix, f: LoraFactors, r: number, s: number, layout: 'in_out' | 'out_in'): void {
  const [fout, fin] = [W.rows, W.columns];
  for (let o = 0; o < fout; o++) {
    for (let i = 0; i < fin; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += f.B[o * r + k]! * f.A[k * fin + i]!;
      out[layout === 'out_in' ? o * fin + i : i * fout + o] = W.get(o, i) - s * d;
    }
  }
}
