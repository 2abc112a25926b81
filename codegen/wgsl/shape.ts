// Data movement: slice, pad (slice's backward), concat, expand_batch, and sum_to (the backward
// of broadcasting). One invocation per output element, or per 4 elements when every run of
// contiguous elements involved is a multiple of 4.
//
// slice, pad, concat and expand_batch move i32 tensors too (positions, ids): the element type
// follows the input's dtype. sum_to is f32 only.
//
// Each op views its tensors as [outer, n, inner] around the axis, so a run of n·inner elements
// is contiguous; all sizes below are in units of T (f32, i32 or their vec4).
import { checkOutput, declare, fail, fmt, grid, numel, operand, u32, widthFor } from './common.ts';
import type { OpKernelGen, OpKernelGenOf, OpKernelTable, OpRequest, TensorSpec } from './types.ts';

/** (outer, inner): the products of the dims before and after `axis`. */
function around(shape: readonly number[], axis: number): [number, number] {
  return [numel(shape.slice(0, axis)), numel(shape.slice(axis + 1))];
}

function elemType(t: TensorSpec, w: 1 | 4): string {
  return w === 4 ? `vec4<${t.dtype}>` : t.dtype;
}

const dims = (shape: readonly number[]): string => shape.join('x') || 'scalar';

/**
 * `axis` counted from the front. The request may be a piece the catalog's rule never saw, so its
 * range is checked here: the generated indexing depends on it.
 */
function axisIn(req: OpRequest<'slice' | 'pad' | 'concat'>, rank: number): number {
  const a = req.attrs.axis;
  const ax = a < 0 ? a + rank : a;
  if (ax < 0 || ax >= rank) fail(req.op, `axis ${a} out of range for rank ${rank}`);
  return ax;
}

/** slice: x [outer, n, inner] → out [outer, size, inner] = x[:, start:start+size, :]. */
export const slice: OpKernelGenOf<'slice'> = (req, caps) => {
  const x = operand(req, 0, 'x');
  const axis = axisIn(req, x.shape.length);
  const { start, size } = req.attrs;
  const n = x.shape[axis]!;
  if (start < 0 || size < 0 || start + size > n) fail(req.op, `range ${start}:${start + size} is outside axis ${axis} of ${fmt(x.shape)}`);
  const shape = [...x.shape];
  shape[axis] = size;
  checkOutput(req, shape, x.dtype);
  const [outer, inner] = around(x.shape, axis);
  const w = widthFor(size * inner, n * inner, start * inner);
  const T = elemType(x, w);
  const g = grid(req.op, (outer * size * inner) / w, caps);
  const d = declare([
    { name: 'in0', variable: 'x', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// slice: x ${fmt(x.shape)} → out ${fmt(shape)}, elements ${start} … ${start + size - 1} of axis ${axis}
const SZ = ${u32((size * inner) / w)}; // out run per outer index
const NX = ${u32((n * inner) / w)}; // x run per outer index
const ST = ${u32((start * inner) / w)};
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = x[(i / SZ) * NX + ST + i % SZ];
}
`;
  return { label: `slice_${dims(x.shape)}_a${axis}_${start}_${size}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** pad: x [outer, n, inner] → out [outer, total, inner], zeros with x placed at `start`. */
export const pad: OpKernelGenOf<'pad'> = (req, caps) => {
  const x = operand(req, 0, 'x');
  const axis = axisIn(req, x.shape.length);
  const { start, total } = req.attrs;
  const n = x.shape[axis]!;
  if (start < 0 || start + n > total) fail(req.op, `cannot place ${n} values at ${start} in ${total} along axis ${axis}`);
  const shape = [...x.shape];
  shape[axis] = total;
  checkOutput(req, shape, x.dtype);
  const [outer, inner] = around(x.shape, axis);
  const w = widthFor(total * inner, n * inner, start * inner);
  const T = elemType(x, w);
  const g = grid(req.op, (outer * total * inner) / w, caps);
  const d = declare([
    { name: 'in0', variable: 'x', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// pad: x ${fmt(x.shape)} → out ${fmt(shape)}, x at ${start} … ${start + n - 1} of axis ${axis}, zeros elsewhere
const TOT = ${u32((total * inner) / w)}; // out run per outer index
const NX = ${u32((n * inner) / w)}; // x run per outer index
const ST = ${u32((start * inner) / w)};
${d.wgsl}
${g.entry}
${g.prologue}
  let t = i % TOT;
  if (t >= ST && t < ST + NX) {
    out[i] = x[(i / TOT) * NX + t - ST];
  } else {
    out[i] = ${T}();
  }
}
`;
  return { label: `pad_${dims(x.shape)}_a${axis}_${start}_${total}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** transpose: x [M, N] → out [N, M]; one invocation per output element. */
export const transpose: OpKernelGen = (req, caps) => {
  const x = operand(req, 0, 'x');
  if (x.shape.length !== 2) fail(req.op, `takes a 2-D tensor, got ${fmt(x.shape)}`);
  const [m, n] = x.shape as [number, number];
  checkOutput(req, [n, m], x.dtype);
  const g = grid(req.op, m * n, caps);
  const d = declare([
    { name: 'in0', variable: 'x', type: x.dtype },
    { name: 'out', variable: 'out', type: x.dtype },
  ]);
  const wgsl = `// transpose: x ${fmt(x.shape)} → out ${fmt([n, m])}
const M = ${u32(m)};
const N = ${u32(n)};
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = x[(i % M) * N + i / M];
}
`;
  return { label: `transpose_${dims(x.shape)}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** concat: a [outer, na, inner], b [outer, nb, inner] → out [outer, na + nb, inner]. */
export const concat: OpKernelGenOf<'concat'> = (req, caps) => {
  const a = operand(req, 0, 'a');
  const b = operand(req, 1, 'b');
  if (a.dtype !== b.dtype) fail(req.op, `cannot concatenate ${a.dtype} with ${b.dtype}`);
  const axis = axisIn(req, a.shape.length);
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => i !== axis && d !== b.shape[i])) {
    fail(req.op, `cannot concatenate ${fmt(a.shape)} and ${fmt(b.shape)} along axis ${axis}`);
  }
  const na = a.shape[axis]!;
  const nb = b.shape[axis]!;
  const shape = [...a.shape];
  shape[axis] = na + nb;
  checkOutput(req, shape, a.dtype);
  const [outer, inner] = around(a.shape, axis);
  const w = widthFor(na * inner, nb * inner);
  const T = elemType(a, w);
  const g = grid(req.op, (outer * (na + nb) * inner) / w, caps);
  const d = declare([
    { name: 'in0', variable: 'a', type: T },
    { name: 'in1', variable: 'b', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// concat: a ${fmt(a.shape)}, b ${fmt(b.shape)} → out ${fmt(shape)} along axis ${axis}
const NA = ${u32((na * inner) / w)}; // a run per outer index
const NB = ${u32((nb * inner) / w)}; // b run per outer index
${d.wgsl}
${g.entry}
${g.prologue}
  let o = i / (NA + NB);
  let t = i % (NA + NB);
  if (t < NA) {
    out[i] = a[o * NA + t];
  } else {
    out[i] = b[o * NB + t - NA];
  }
}
`;
  return { label: `concat_${dims(a.shape)}_${dims(b.shape)}_a${axis}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** expand_batch: x [...] (n elements), like [B, ...] (shape only, not bound) → out [B, ...x]. */
export const expandBatch: OpKernelGen = (req, caps) => {
  const x = operand(req, 0, 'x');
  const like = operand(req, 1, 'like').shape;
  if (like.length === 0) fail(req.op, 'like must have a batch axis');
  const B = like[0]!;
  const shape = [B, ...x.shape];
  checkOutput(req, shape, x.dtype);
  const n = numel(x.shape);
  const w = widthFor(n);
  const T = elemType(x, w);
  const g = grid(req.op, (B * n) / w, caps);
  const d = declare([
    { name: 'in0', variable: 'x', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// expand_batch: x ${fmt(x.shape)} → out ${fmt(shape)}, x repeated ${B} times
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = x[i % ${u32(n / w)}];
}
`;
  return { label: `expand_batch_${dims(x.shape)}_${B}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** Copies sum_to adds per loop iteration. */
const UNROLL = 8;

/**
 * sum_to: x [..., like] (K copies of like's n elements) → out like = Σ_k x[k]. With attr
 * `accumulate` (1) it adds to out instead: a later piece of a sum over copies split across bindings.
 */
export const sumTo: OpKernelGen = (req, caps) => {
  const x = operand(req, 0, 'x', 'f32').shape;
  const like = operand(req, 1, 'like').shape;
  const off = x.length - like.length;
  if (off < 0 || like.some((d, i) => d !== x[off + i])) fail(req.op, `${fmt(like)} is not a suffix of ${fmt(x)}`);
  checkOutput(req, like);
  const n = numel(like);
  const K = n === 0 ? 0 : numel(x) / n;
  const accumulate = req.attrs.accumulate === 1 || req.attrs.accumulate === true;
  const w = widthFor(n);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const g = grid(req.op, n / w, caps, { heavy: K > 64 });
  const d = declare([
    { name: 'in0', variable: 'x', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// sum_to: x ${fmt(x)} → out ${fmt(like)}${accumulate ? ' +' : ''}= the sum of ${K} copies
const N = ${u32(n / w)};
const K = ${u32(K)};
${d.wgsl}
${g.entry}
${g.prologue}
  var s = ${T}();
  // ${UNROLL} copies per iteration: llvmpipe ends an invocation's loops after 65,535 iterations
  // (LOOP_BUDGET), and a bias gradient sums one copy per token of the batch.
  for (var k = 0u; k + ${UNROLL - 1}u < K; k += ${UNROLL}u) { s += ${Array.from({ length: UNROLL }, (_, j) => `x[(k + ${j}u) * N + i]`).join(' + ')}; }
  for (var k = K - K % ${UNROLL}u; k < K; k++) { s += x[k * N + i]; }
  out[i] ${accumulate ? '+=' : '='} s;
}
`;
  return { label: `sum_to_${dims(x)}_${dims(like)}${accumulate ? '_acc' : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

export const SHAPE_KERNELS = {
  slice,
  pad,
  transpose,
  concat,
  expand_batch: expandBatch,
  sum_to: sumTo,
} satisfies OpKernelTable;
