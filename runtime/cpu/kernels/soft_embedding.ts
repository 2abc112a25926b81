// The token embedding of a prompt template: token rows carry the template's virtual tokens as
// the ids N … N+V−1 past the vocabulary, looked up in the soft-token table; and its gradient,
// a scatter-add restricted to one id range (the vocabulary's or the soft tokens').
import { fail, floatIn, floatOut, intIn, type KernelOf } from './common.ts';
import { scatterRows } from './embedding.ts';

/** soft_embedding: table [N,D], soft [V,D], ids i32 [...] → [..., D]. */
export const softEmbedding: KernelOf<'soft_embedding'> = (inputs, _attrs, ctx) => {
  const op = 'soft_embedding';
  const table = floatIn(op, inputs, 0, 'table');
  const soft = floatIn(op, inputs, 1, 'soft');
  const ids = intIn(op, inputs, 2, 'ids');
  // Two 2-D tables of one width (the catalog's rule).
  const [N, D] = table.shape as [number, number];
  const V = soft.shape[0]!;
  const out = floatOut([...inputs[2]!.shape, D], ctx);
  const o = out.data;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    // The ids are data: a bad one would read past both tables.
    if (id < 0 || id >= N + V) fail(op, `id ${id} at position ${i} is outside the ${N} table rows and ${V} soft tokens`);
    const [src, row] = id < N ? [table.data, id] : [soft.data, id - N];
    const s = row * D, dst = i * D;
    for (let j = 0; j < D; j++) o[dst + j] = src[s + j]!;
  }
  return out;
};

/** soft_embedding_grad: ids i32 [...], dy [..., D] → [rows, D]; ids outside [offset, offset+rows) are skipped. */
export const softEmbeddingGrad: KernelOf<'soft_embedding_grad'> = (inputs, { offset, rows }, ctx) => scatterRows('soft_embedding_grad', inputs, ctx, offset, rows, false);
