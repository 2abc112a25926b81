// Token embedding lookup, its table gradient (scatter-add), and the positions op.
import { formatDims, type Tensor } from '../tensor.ts';
import { anyIn, fail, floatIn, floatOut, intAttr, intIn, rowsOf, type Kernel, type KernelContext } from './common.ts';

/** embedding: table [N,D], ids i32 [...] → [..., D], out[i] = table[ids[i]]. */
export const embedding: Kernel = (inputs, _attrs, ctx) => {
  const op = 'embedding';
  const table = floatIn(op, inputs, 0, 'table');
  const ids = intIn(op, inputs, 1, 'ids');
  if (table.shape.length !== 2) fail(op, `embedding table must be 2-D, got ${formatDims(table.shape)}`);
  const [N, D] = table.shape as [number, number];
  const idShape = inputs[1]!.shape;
  const out = floatOut([...idShape, D], ctx);
  const t = table.data, o = out.data;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
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
  const [n, D] = rowsOf(op, dy.shape);
  const idShape = inputs[0]!.shape;
  if (n !== ids.length || dy.shape.length !== idShape.length + 1 || idShape.some((d, i) => d !== dy.shape[i])) {
    fail(op, `dy ${formatDims(dy.shape)} must be ids' shape ${formatDims(idShape)} plus a feature axis`);
  }
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
export const embeddingGrad: Kernel = (inputs, attrs, ctx) => scatterRows('embedding_grad', inputs, ctx, 0, intAttr('embedding_grad', attrs, 'rows'), true);

/** positions: x [B,S,...] → i32 [S]: offset, …, offset+S−1 (offset defaults to 0). */
export const positions: Kernel = (inputs, attrs) => {
  const op = 'positions';
  const x = anyIn(op, inputs, 0, 'x');
  if (x.shape.length < 2) fail(op, `positions needs a [B, S, …] input, got ${formatDims(x.shape)}`);
  const S = x.shape[1]!;
  const data = new Int32Array(S);
  const offset = attrs.offset === undefined ? 0 : intAttr(op, attrs, 'offset');
  for (let i = 0; i < S; i++) data[i] = offset + i;
  return { shape: [S], data };
};
