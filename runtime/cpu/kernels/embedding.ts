// Token embedding lookup, its table gradient (scatter-add), and the positions op.
import type { Tensor } from '../tensor.ts';
import { anyIn, fail, floatIn, floatOut, intIn, type KernelContext, type KernelOf } from './common.ts';

/** embedding: table [N,D], ids i32 [...] → [..., D], out[i] = table[ids[i]]. */
export const embedding: KernelOf<'embedding'> = (inputs, _attrs, ctx) => {
  const op = 'embedding';
  const table = floatIn(op, inputs, 0, 'table');
  const ids = intIn(op, inputs, 1, 'ids');
  const [N, D] = table.shape as [number, number];
  const idShape = inputs[1]!.shape;
  const out = floatOut([...idShape, D], ctx);
  const t = table.data, o = out.data;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    // The ids are data: no verifier has seen them, and a bad one would read past the table.
    if (id < 0 || id >= N) fail(op, `id ${id} at position ${i} is outside the table's ${N} rows`);
    const src = id * D, dst = i * D;
    for (let j = 0; j < D; j++) o[dst + j] = t[src + j]!;
  }
  return out;
};

/**
 * Scatter-add of dy rows into a [rows, D] zero table at ids − offset. `strict`: an id outside
 * the table is an error (embedding_grad); otherwise it is skipped (soft_embedding_grad, whose
 * ids also cover the other table).
 */
export function scatterRows(op: string, inputs: Tensor[], ctx: KernelContext, offset: number, rows: number, strict: boolean): Tensor {
  const ids = intIn(op, inputs, 0, 'ids');
  const dy = floatIn(op, inputs, 1, 'dy');
  const D = dy.shape[dy.shape.length - 1]!; // dy is ids' shape plus D (the catalog's rule)
  const acc = new Float64Array(rows * D);
  const g = dy.data;
  for (let i = 0; i < ids.length; i++) {
    const r = ids[i]! - offset;
    if (r < 0 || r >= rows) {
      if (strict) fail(op, `id ${ids[i]} at position ${i} is outside the table's ${rows} rows`);
      continue;
    }
    const dst = r * D, src = i * D;
    for (let j = 0; j < D; j++) acc[dst + j] += g[src + j]!;
  }
  const out = floatOut([rows, D], ctx);
  out.data.set(acc);
  return out;
}

/** embedding_grad: ids i32 [...], dy [..., D] → [rows, D], the scatter-add of dy rows at ids. */
export const embeddingGrad: KernelOf<'embedding_grad'> = (inputs, { rows }, ctx) => scatterRows('embedding_grad', inputs, ctx, 0, rows, true);

/** positions: x [B,S,...] → i32 [S]: offset, …, offset+S−1 (offset defaults to 0). */
export const positions: KernelOf<'positions'> = (inputs, attrs) => {
  const x = anyIn('positions', inputs, 0, 'x');
  const S = x.shape[1]!; // x is [B, S, …] (the catalog's rule)
  const data = new Int32Array(S);
  const offset = attrs.offset ?? 0;
  for (let i = 0; i < S; i++) data[i] = offset + i;
  return { shape: [S], data };
};
