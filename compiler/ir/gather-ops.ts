// The gathered linear ops of the catalog (spread into OPS in ops.ts): several adapters' weights
// stacked along a leading axis N, and one adapter index per sequence of the batch, so that one
// pass serves a batch whose sequences use different adapters (docs/multi-adapter.md).
//
//   linear_gather              x [B, …, in], w [N, out, in] (out_in) or [N, in, out] (in_out),
//                              ids i32 [B], b? [N, out]  →  [B, …, out]
//   linear_gather_grad_weight  x [B, …, in], dy [B, …, out], ids  →  w's shape [N, …]
//   linear_gather_grad_bias    dy [B, …, out], ids  →  [N, out]
//
// Sequence b uses slice ids[b] of w (and b); an index outside [0, N) means "no adapter": its
// rows are zero. The gradients sum, per slice n, over the sequences with ids[b] = n.
import { dimEq, formatShape } from './dims.ts';
import { defineOp } from './op-spec.ts';
import type { Shape } from './types.ts';

const last = (s: Shape) => s[s.length - 1]!;

/** The weight layouts of linear and linear_gather: `in_out` (GPT-2 Conv1D) or `out_in` (torch Linear). */
export const LAYOUTS = ['in_out', 'out_in'] as const;

/** [N, out, in] for out_in, [N, in, out] for in_out, from the two feature sizes. */
function stacked(layout: (typeof LAYOUTS)[number], n: Shape[number], fin: Shape[number], fout: Shape[number]): Shape {
  return layout === 'in_out' ? [n, fin, fout] : [n, fout, fin];
}

function checkIds(x: Shape, ids: Shape): string | undefined {
  if (x.length < 2) return `linear_gather needs x with a batch axis [B, …, in], got ${formatShape(x)}`;
  if (ids.length !== 1 || !dimEq(ids[0]!, x[0]!)) return `ids ${formatShape(ids)} must be [${x[0]}], one adapter index per sequence of x ${formatShape(x)}`;
  return undefined;
}

/** x and dy of a weight gradient have the same rows. */
function rowsCheck(x: Shape, dy: Shape): string | undefined {
  return x.length === dy.length && x.slice(0, -1).every((d, i) => dimEq(d, dy[i]!)) ? undefined : `x ${formatShape(x)} and dy ${formatShape(dy)} have different rows`;
}

const countCheck = (count: number): string | undefined => (count >= 1 ? undefined : `count must be ≥ 1, got ${count}`);

export const GATHER_OPS = {
  linear_gather: defineOp({
    role: 'forward',
    inputs: ['x', 'w', 'ids', 'b?'],
    attrs: { layout: LAYOUTS },
    doc:
      'Per-sequence linear over stacked weights. x [B,…,in], ids i32 [B]; layout `out_in`: w [N,out,in], ' +
      'y[b] = x[b]·w[ids[b]]ᵀ; layout `in_out`: w [N,in,out], y[b] = x[b]·w[ids[b]]; optional b [N,out] adds ' +
      'b[ids[b]]. Sequences whose index is outside [0, N) get zeros (no adapter). → [B,…,out].',
    shape: ([x, w, ids, b], a) => {
      const bad = checkIds(x!, ids!);
      if (bad) return bad;
      if (w!.length !== 3) return `stacked weight must be 3-D [N, …], got ${formatShape(w!)}`;
      const [wi, wo] = a.layout === 'in_out' ? [w![1]!, w![2]!] : [w![2]!, w![1]!];
      if (!dimEq(last(x!), wi)) return `input features ${last(x!)} do not match stacked weight ${formatShape(w!)} (layout ${a.layout})`;
      if (b && !(b.length === 2 && dimEq(b[0]!, w![0]!) && dimEq(b[1]!, wo))) return `stacked bias ${formatShape(b)} must be [${w![0]}, ${wo}]`;
      return [...x!.slice(0, -1), wo];
    },
  }),
  linear_gather_grad_weight: defineOp({
    role: 'backward',
    inputs: ['x', 'dy', 'ids'],
    attrs: { layout: LAYOUTS, count: 'int' },
    doc:
      'Weight gradient of linear_gather: slice n (of `count`) sums, over the sequences b with ids[b] = n and their ' +
      'rows, dyᵀ·x (out_in, [count,out,in]) or xᵀ·dy (in_out, [count,in,out]); slices no sequence uses are zero.',
    shape: ([x, dy, ids], a) => checkIds(x!, ids!) ?? rowsCheck(x!, dy!) ?? countCheck(a.count) ?? stacked(a.layout, a.count, last(x!), last(dy!)),
  }),
  linear_gather_grad_bias: defineOp({
    role: 'backward',
    inputs: ['dy', 'ids'],
    attrs: { count: 'int' },
    doc: 'Bias gradient of linear_gather: [count, out], slice n the sum of dy over the rows of the sequences with ids[b] = n.',
    shape: ([dy, ids], a) => checkIds(dy!, ids!) ?? countCheck(a.count) ?? [a.count, last(dy!)],
  }),
};
