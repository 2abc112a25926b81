// Rotary position embedding, Hugging Face LLaMA convention (rotate_half): within each head,
// feature i pairs with feature i + hd/2 (not with its neighbour, as in the GPT-J/Meta layout).
import { floatIn, floatOut, type KernelOf } from './common.ts';

/**
 * rope: x [B,S,heads·hd] → same shape. Position p (offset … offset+S−1 along axis 1), i < hd/2,
 * a = p·theta^(−2i/hd): (x_i, x_{i+hd/2}) ← (x_i·cos a − x_{i+hd/2}·sin a, x_{i+hd/2}·cos a + x_i·sin a).
 * `inverse` rotates by −a; it is the backward (the rotation is orthogonal).
 */
export const rope: KernelOf<'rope'> = (inputs, { heads, theta, inverse, offset = 0 }, ctx) => {
  const x = floatIn('rope', inputs, 0, 'x');
  // x is [B, S, heads·hd] with an even hd (the catalog's rule).
  const [B, S, D] = x.shape as [number, number, number];
  const hd = D / heads;
  const half = hd / 2;
  // cos/sin table [S, half], angles in f64.
  const cos = new Float64Array(S * half);
  const sin = new Float64Array(S * half);
  const sign = inverse ? -1 : 1;
  for (let i = 0; i < half; i++) {
    const invFreq = Math.pow(theta, (-2 * i) / hd);
    for (let p = 0; p < S; p++) {
      const a = (offset + p) * invFreq;
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = sign * Math.sin(a);
    }
  }
  const out = floatOut(x.shape, ctx);
  const xd = x.data, o = out.data;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < S; p++) {
      const row = (b * S + p) * D;
      const t = p * half;
      for (let h = 0; h < heads; h++) {
        const base = row + h * hd;
        for (let i = 0; i < half; i++) {
          const x1 = xd[base + i]!;
          const x2 = xd[base + half + i]!;
          const c = cos[t + i]!;
          const s = sin[t + i]!;
          o[base + i] = x1 * c - x2 * s;
          o[base + half + i] = x2 * c + x1 * s;
        }
      }
    }
  }
  return out;
};
