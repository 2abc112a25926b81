// The gathered linear ops (compiler/ir/gather-ops.ts): one adapter index per sequence, stacked
// weights [N, …]. Each is the plain linear (linear.ts's gemm) applied per sequence, or per slice
// over the rows of the sequences that use it, so it rounds exactly as `linear` does.
//
// The shapes (a batch axis, ids [B], the stacked weight's and bias's, equal rows of x and dy) and
// count ≥ 1 are the catalog's rules (compiler/ir/gather-ops.ts); an index outside [0, N) is data
// that means "no adapter", skipped below.
import { floatIn, floatOut, intIn, optFloatIn, type FloatArray, type KernelOf } from './common.ts';
import { gemm } from './linear.ts';

/** Rows per sequence and the batch size B of a [B, …, F] tensor. */
function perSequence(shape: readonly number[]): { B: number; rows: number; F: number } {
  const B = shape[0]!;
  const F = shape[shape.length - 1]!;
  const rows = shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return { B, rows, F };
}

/** linear_gather: x [B, …, in], w [N, out, in] | [N, in, out], ids [B], b? [N, out] → [B, …, out]. */
export const linearGather: KernelOf<'linear_gather'> = (inputs, { layout }, ctx) => {
  const op = 'linear_gather';
  const x = floatIn(op, inputs, 0, 'x');
  const w = floatIn(op, inputs, 1, 'w');
  const ids = intIn(op, inputs, 2, 'ids');
  const b = optFloatIn(op, inputs, 3, 'b');
  const { B, rows, F: nIn } = perSequence(x.shape);
  const [N, d1, d2] = w.shape as [number, number, number];
  const wo = layout === 'in_out' ? d2 : d1;
  const y = floatOut([...x.shape.slice(0, -1), wo], ctx);
  const slice = nIn * wo;
  for (let s = 0; s < B; s++) {
    const n = ids[s]!;
    if (n < 0 || n >= N) continue; // no adapter: the rows stay zero
    const xs = x.data.subarray(s * rows * nIn, (s + 1) * rows * nIn);
    const ws = w.data.subarray(n * slice, (n + 1) * slice);
    const ys = y.data.subarray(s * rows * wo, (s + 1) * rows * wo);
    const bias = b ? b.data.subarray(n * wo, (n + 1) * wo) : null;
    if (layout === 'in_out') gemm(rows, wo, nIn, xs, nIn, 1, ws, wo, 1, ys, bias);
    else gemm(rows, wo, nIn, xs, nIn, 1, ws, 1, nIn, ys, bias);
  }
  return y;
};

/** The rows of the sequences with ids[s] = n, packed: [count, F]. */
function gatherRows(data: FloatArray, ids: Int32Array, n: number, rows: number, F: number): { data: FloatArray; rows: number } {
  let count = 0;
  for (const id of ids) if (id === n) count++;
  const out = new (data.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(count * rows * F);
  let at = 0;
  ids.forEach((id, s) => {
    if (id !== n) return;
    out.set(data.subarray(s * rows * F, (s + 1) * rows * F), at);
    at += rows * F;
  });
  return { data: out, rows: count * rows };
}

/** linear_gather_grad_weight: x [B, …, in], dy [B, …, out], ids [B] → [N, out, in] (out_in) | [N, in, out] (in_out). */
export const linearGatherGradWeight: KernelOf<'linear_gather_grad_weight'> = (inputs, { layout, count: N }, ctx) => {
  const op = 'linear_gather_grad_weight';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const ids = intIn(op, inputs, 2, 'ids');
  const { rows, F: nIn } = perSequence(x.shape);
  const nOut = perSequence(dy.shape).F;
  const g = floatOut(layout === 'in_out' ? [N, nIn, nOut] : [N, nOut, nIn], ctx);
  const slice = nIn * nOut;
  for (let n = 0; n < N; n++) {
    const xs = gatherRows(x.data, ids, n, rows, nIn);
    if (xs.rows === 0) continue;
    const ds = gatherRows(dy.data, ids, n, rows, nOut);
    const out = g.data.subarray(n * slice, (n + 1) * slice);
    // As linear_grad_weight on the gathered rows: in_out xᵀ·dy, out_in dyᵀ·x.
    if (layout === 'in_out') gemm(nIn, nOut, xs.rows, xs.data, 1, nIn, ds.data, nOut, 1, out);
    else gemm(nOut, nIn, xs.rows, ds.data, 1, nOut, xs.data, nIn, 1, out);
  }
  return g;
};

/** linear_gather_grad_bias: dy [B, …, out], ids [B] → [N, out]. */
export const linearGatherGradBias: KernelOf<'linear_gather_grad_bias'> = (inputs, { count: N }, ctx) => {
  const op = 'linear_gather_grad_bias';
  const dy = floatIn(op, inputs, 0, 'dy');
  const ids = intIn(op, inputs, 1, 'ids');
  const { B, rows, F } = perSequence(dy.shape);
  const acc = new Float64Array(N * F);
  for (let s = 0; s < B; s++) {
    const n = ids[s]!;
    if (n < 0 || n >= N) continue;
    for (let r = 0; r < rows; r++) {
      const o = (s * rows + r) * F;
      for (let f = 0; f < F; f++) acc[n * F + f] += dy.data[o + f]!;
    }
  }
  const g = floatOut([N, F], ctx);
  g.data.set(acc);
  return g;
};
