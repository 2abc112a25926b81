// The rows of a block of scores: softmax (forward) and the score gradients (backward), each
// row's masked keys set to 0 so that the block's products may span all of its keys. The exps are
// the backend's fastExp (ops/exp.ts: 1e-13 relative, ~1.7× faster than Math.exp here), one per
// visible score.
import { fastExp } from '../ops/exp.ts';
/**
 * Row t of P [len × keys] holds the raw dot products q_t·k_j; becomes softmax_j(scale · q_t·k_j)
 * over its n(t) visible keys (one exp per score), 0 beyond. lse[lo + t] = log Σ_j e^(s_j).
 */
export function softmaxRows(P: Float32Array, len: number, keys: number, visible: (t: number) => number, scale: number, lse: Float64Array, lo: number): void {
  for (let t = 0; t < len; t++) {
    const n = visible(t), o = t * keys;
    let max = -Infinity;
    for (let j = o; j < o + n; j++) if (P[j]! > max) max = P[j]!;
    const shift = max * scale;
    let sum = 0;
    for (let j = o; j < o + n; j++) {
      const e = fastExp(P[j]! * scale - shift);
      P[j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = o; j < o + n; j++) P[j]! *= inv;
    P.fill(0, o + n, o + keys);
    lse[lo + t] = shift + Math.log(sum);
  }
}

/**
 * Row t of P [len × keys] holds the raw dot products q_t·k_j; becomes p_j = e^(scale · q_t·k_j − lse_t)
 * with the forward's lse (f64, from the same f32 scores: the rows sum to 1 as the forward's did),
 * 0 beyond its n(t) visible keys: one exp per score, no max or sum pass.
 */
export function probabilityRows(P: Float32Array, len: number, keys: number, visible: (t: number) => number, scale: number, lse: Float64Array, lo: number): void {
  for (let t = 0; t < len; t++) {
    const n = visible(t), o = t * keys, m = lse[lo + t]!;
    for (let j = o; j < o + n; j++) P[j] = fastExp(P[j]! * scale - m);
    P.fill(0, o + n, o + keys);
  }
}

/**
 * The score gradients of a block: D's row t holds dy_t·v_j and becomes
 * dS_j = p_j · (dy_t·v_j − Σ_l p_l · dy_t·v_l) · scale (P's row t holds p, 0 beyond the visible keys).
 */
export function scoreGradRows(P: Float32Array, D: Float32Array, len: number, keys: number, scale: number): void {
  for (let t = 0; t < len; t++) {
    const o = t * keys;
    let dot = 0;
    for (let j = o; j < o + keys; j++) dot += P[j]! * D[j]!;
    for (let j = o; j < o + keys; j++) D[j] = P[j]! * (D[j]! - dot) * scale;
  }
}
