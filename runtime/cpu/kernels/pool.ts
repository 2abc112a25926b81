// Sequence pooling for classification heads, and its backward.
import type { Attrs } from '../../../compiler/ir/types.ts';
import { formatDims } from '../tensor.ts';
import { anyIn, fail, floatIn, floatOut, strAttr, type Kernel } from './common.ts';

type Mode = 'first' | 'last' | 'mean';
const MODES: readonly Mode[] = ['first', 'last', 'mean'];

function mode(op: string, attrs: Attrs): Mode {
  return strAttr(op, attrs, 'mode', MODES);
}

/** pool: x [B,S,D] → [B,D]: position 0 (`first`), position S−1 (`last`), or the mean over S. */
export const pool: Kernel = (inputs, attrs, ctx) => {
  const op = 'pool';
  const x = floatIn(op, inputs, 0, 'x');
  const m = mode(op, attrs);
  if (x.shape.length !== 3) fail(op, `pool needs [B, S, D], got ${formatDims(x.shape)}`);
  const [B, S, D] = x.shape as [number, number, number];
  if (S === 0) fail(op, 'pool over an empty sequence');
  const out = floatOut([B, D], ctx);
  const xd = x.data, o = out.data;
  for (let b = 0; b < B; b++) {
    if (m === 'mean') {
      for (let j = 0; j < D; j++) {
        let s = 0;
        for (let t = 0; t < S; t++) s += xd[(b * S + t) * D + j]!;
        o[b * D + j] = s / S;
      }
    } else {
      const src = (b * S + (m === 'first' ? 0 : S - 1)) * D;
      for (let j = 0; j < D; j++) o[b * D + j] = xd[src + j]!;
    }
  }
  return out;
};

/** pool_grad: dy [B,D], x [B,S,D] (for its shape) → dx [B,S,D]. */
export const poolGrad: Kernel = (inputs, attrs, ctx) => {
  const op = 'pool_grad';
  const dy = floatIn(op, inputs, 0, 'dy');
  const x = anyIn(op, inputs, 1, 'x');
  const m = mode(op, attrs);
  if (x.shape.length !== 3) fail(op, `pool needs [B, S, D], got ${formatDims(x.shape)}`);
  const [B, S, D] = x.shape as [number, number, number];
  if (dy.shape.length !== 2 || dy.shape[0] !== B || dy.shape[1] !== D) fail(op, `dy must be [${B}, ${D}], got ${formatDims(dy.shape)}`);
  const out = floatOut(x.shape, ctx);
  const g = dy.data, o = out.data;
  for (let b = 0; b < B; b++) {
    if (m === 'mean') {
      for (let t = 0; t < S; t++) for (let j = 0; j < D; j++) o[(b * S + t) * D + j] = g[b * D + j]! / S;
    } else {
      const dst = (b * S + (m === 'first' ? 0 : S - 1)) * D;
      for (let j = 0; j < D; j++) o[dst + j] = g[b * D + j]!;
    }
  }
  return out;
};
