// Sequence pooling for classification heads, and its backward.
// x is [B, S, D], dy [B, D] and lengths [B] (the catalog's rules); the lengths' values are data.
import type { Tensor } from '../tensor.ts';
import { anyIn, fail, floatIn, floatOut, intIn, type KernelOf } from './common.ts';

/** The real positions of each row: the optional lengths operand i32 [B] (each 1 … S), else S for every row. */
function rowLengths(op: string, inputs: Tensor[], index: number, B: number, S: number): Int32Array {
  if (!inputs[index]) return new Int32Array(B).fill(S);
  const len = intIn(op, inputs, index, 'lengths');
  for (const n of len) if (n < 1 || n > S) fail(op, `lengths ${n} outside 1 … ${S}`);
  return len;
}

/**
 * pool: x [B,S,D] → [B,D]: position 0 (`first`), position n−1 (`last`), or the mean over
 * positions < n, with n = lengths[b] when the lengths operand is given, else S.
 */
export const pool: KernelOf<'pool'> = (inputs, { mode: m }, ctx) => {
  const op = 'pool';
  const x = floatIn(op, inputs, 0, 'x');
  const [B, S, D] = x.shape as [number, number, number];
  if (S === 0) fail(op, 'pool over an empty sequence');
  const len = rowLengths(op, inputs, 1, B, S);
  const out = floatOut([B, D], ctx);
  const xd = x.data, o = out.data;
  for (let b = 0; b < B; b++) {
    const n = len[b]!;
    if (m === 'mean') {
      for (let j = 0; j < D; j++) {
        let s = 0;
        for (let t = 0; t < n; t++) s += xd[(b * S + t) * D + j]!;
        o[b * D + j] = s / n;
      }
    } else {
      const src = (b * S + (m === 'first' ? 0 : n - 1)) * D;
      for (let j = 0; j < D; j++) o[b * D + j] = xd[src + j]!;
    }
  }
  return out;
};

/** pool_grad: dy [B,D], x [B,S,D] (for its shape), optional lengths i32 [B] → dx [B,S,D]. */
export const poolGrad: KernelOf<'pool_grad'> = (inputs, { mode: m }, ctx) => {
  const op = 'pool_grad';
  const dy = floatIn(op, inputs, 0, 'dy');
  const x = anyIn(op, inputs, 1, 'x');
  const [B, S, D] = x.shape as [number, number, number];
  const len = rowLengths(op, inputs, 2, B, S);
  const out = floatOut(x.shape, ctx);
  out.data.fill(0);
  const g = dy.data, o = out.data;
  for (let b = 0; b < B; b++) {
    const n = len[b]!;
    if (m === 'mean') {
      for (let t = 0; t < n; t++) for (let j = 0; j < D; j++) o[(b * S + t) * D + j] = g[b * D + j]! / n;
    } else {
      const dst = (b * S + (m === 'first' ? 0 : n - 1)) * D;
      for (let j = 0; j < D; j++) o[dst + j] = g[b * D + j]!;
    }
  }
  return out;
};
