// QR by Householder reflections, as LAPACK's geqrf/orgqr compute it (and so torch.linalg.qr):
// reflector k maps column k below the diagonal onto β·e_k with β = −sign(a_kk)·‖a_k‖, so R's
// diagonal takes the opposite sign of the column's leading entry. The first k columns of Q and
// rows of R depend on the first k reflectors only, so a rank-r factor costs r passes over the
// matrix, not min(m, n).
import { dense, type Dense } from './dense.ts';

export interface PartialQr {
  /** [m, k]: the first k columns of Q. */
  Q: Dense;
  /** [k, n]: the first k rows of R. */
  R: Dense;
}

/** The first k columns of Q and rows of R of a [m, n] (k ≤ min(m, n)); `a` is left as it was. */
export function householderQr(a: Dense, k: number): PartialQr {
  const { rows: m, cols: n } = a;
  if (!(k >= 0 && k <= Math.min(m, n))) throw new RangeError(`householderQr: k = ${k} for [${m}, ${n}]`);
  const w = Float64Array.from(a.data);
  const vs: Float64Array[] = [];
  const taus: number[] = [];
  const s = new Float64Array(n);
  for (let j = 0; j < k; j++) {
    // v = x − β·e_j scaled so v_j = 1; H = I − τ·v·vᵀ (LAPACK's dlarfg: no reflection, τ = 0,
    // when the column is already zero below the diagonal).
    let below = 0;
    for (let i = j + 1; i < m; i++) below += w[i * n + j]! ** 2;
    const alpha = w[j * n + j]!;
    const v = new Float64Array(m);
    let tau = 0;
    let beta = alpha;
    if (below !== 0) {
      const norm = Math.sqrt(alpha * alpha + below);
      beta = alpha >= 0 ? -norm : norm;
      tau = (beta - alpha) / beta;
      const scale = 1 / (alpha - beta);
      v[j] = 1;
      for (let i = j + 1; i < m; i++) v[i] = w[i * n + j]! * scale;
      // Rows j…m of the columns after j: A ← A − τ·v·(vᵀA).
      s.fill(0, j + 1);
      for (let i = j; i < m; i++) {
        const vi = v[i]!;
        if (vi === 0) continue;
        const at = i * n;
        for (let c = j + 1; c < n; c++) s[c] += vi * w[at + c]!;
      }
      for (let i = j; i < m; i++) {
        const f = tau * v[i]!;
        if (f === 0) continue;
        const at = i * n;
        for (let c = j + 1; c < n; c++) w[at + c] -= f * s[c]!;
      }
    }
    w[j * n + j] = beta;
    for (let i = j + 1; i < m; i++) w[i * n + j] = 0;
    vs.push(v);
    taus.push(tau);
  }
  const R = dense(k, n);
  for (let i = 0; i < k; i++) for (let c = i; c < n; c++) R.data[i * n + c] = w[i * n + c]!;
  return { Q: formQ(vs, taus, m, k), R };
}

/** Q[:, :k] = H_0 ⋯ H_{k−1}·[I_k; 0], applying the reflectors last first (as orgqr). */
function formQ(vs: Float64Array[], taus: number[], m: number, k: number): Dense {
  const Q = dense(m, k);
  for (let i = 0; i < k; i++) Q.data[i * k + i] = 1;
  const s = new Float64Array(k);
  for (let j = k - 1; j >= 0; j--) {
    const v = vs[j]!;
    const tau = taus[j]!;
    if (tau === 0) continue;
    s.fill(0);
    for (let i = j; i < m; i++) {
      const vi = v[i]!;
      if (vi === 0) continue;
      for (let c = j; c < k; c++) s[c] += vi * Q.data[i * k + c]!;
    }
    for (let i = j; i < m; i++) {
      const f = tau * v[i]!;
      if (f === 0) continue;
      for (let c = j; c < k; c++) Q.data[i * k + c] -= f * s[c]!;
    }
  }
  return Q;
}
