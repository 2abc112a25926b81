// Data movement: slice and its backward pad, concat, sum_to (the backward of broadcasting),
// expand_batch. slice, pad, concat and expand_batch keep integer tensors integer (Int32Array);
// float results take the context's precision.
import { allocFloat, formatDims, numel, type Tensor, type TensorData } from '../tensor.ts';
import { anyIn, fail, floatIn, floatOut, type Kernel, type KernelContext, type KernelOf } from './common.ts';

/** `axis` counted from the front (the catalog's rule checked that it names an axis). */
const axisOf = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** An output array of n elements: Int32Array when `like` is integer, else a float array. */
function outData(like: Tensor, n: number, ctx: KernelContext): TensorData {
  return like.data instanceof Int32Array ? new Int32Array(n) : allocFloat(n, ctx.precision);
}

/** (outer, inner): the products of the dims before and after `axis`. */
function around(shape: readonly number[], axis: number): [number, number] {
  return [numel(shape.slice(0, axis)), numel(shape.slice(axis + 1))];
}

/**
 * Copies `count` blocks of `len` values from src (stride sStride) to dst (stride dStride), each
 * block one TypedArray.set (a memcpy, or one rounding per value between f64 and f32).
 */
function copyBlocks(src: TensorData, sOff: number, sStride: number, dst: TensorData, dOff: number, dStride: number, count: number, len: number): void {
  if (len === 0) return;
  for (let o = 0; o < count; o++) {
    const s = sOff + o * sStride;
    dst.set(src.subarray(s, s + len), dOff + o * dStride);
  }
}

/** slice: x[..., start:start+size, ...] along `axis`. */
export const slice: KernelOf<'slice'> = (inputs, attrs, ctx) => {
  const op = 'slice';
  const x = anyIn(op, inputs, 0, 'x');
  const axis = axisOf(attrs.axis, x.shape.length);
  const { start, size } = attrs;
  const n = x.shape[axis]!;
  // Bounds of the copy: a symbolic size is resolved only here, after the verifier.
  if (start < 0 || size < 0 || start + size > n) fail(op, `range ${start}:${start + size} is outside axis ${axis} of ${formatDims(x.shape)}`);
  const shape = [...x.shape];
  shape[axis] = size;
  const [outer, inner] = around(x.shape, axis);
  const data = outData(x, numel(shape), ctx);
  copyBlocks(x.data, start * inner, n * inner, data, 0, size * inner, outer, size * inner);
  return { shape, data };
};

/** pad: zeros of size `total` along `axis` with x placed at `start` (the backward of slice). */
export const pad: KernelOf<'pad'> = (inputs, attrs, ctx) => {
  const op = 'pad';
  const x = anyIn(op, inputs, 0, 'x');
  const axis = axisOf(attrs.axis, x.shape.length);
  const { start, total } = attrs;
  const n = x.shape[axis]!;
  // Bounds of the copy: a symbolic total is resolved only here, after the verifier.
  if (start < 0 || start + n > total) fail(op, `cannot place ${n} values at ${start} in ${total} along axis ${axis}`);
  const shape = [...x.shape];
  shape[axis] = total;
  const [outer, inner] = around(x.shape, axis);
  const data = outData(x, numel(shape), ctx);
  copyBlocks(x.data, 0, n * inner, data, start * inner, total * inner, outer, n * inner);
  return { shape, data };
};

/** transpose: x [M, N] → [N, M]. */
export const transpose: Kernel = (inputs, _attrs, ctx) => {
  const op = 'transpose';
  const x = floatIn(op, inputs, 0, 'x');
  if (x.shape.length !== 2) fail(op, `takes a 2-D tensor, got ${formatDims(x.shape)}`);
  const [m, n] = x.shape as [number, number];
  const data = allocFloat(m * n, ctx.precision);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) data[j * m + i] = x.data[i * n + j]!;
  return { shape: [n, m], data };
};

/** concat: a and b joined along `axis`; the other dims must agree. */
export const concat: KernelOf<'concat'> = (inputs, attrs, ctx) => {
  const op = 'concat';
  const a = anyIn(op, inputs, 0, 'a');
  const b = anyIn(op, inputs, 1, 'b');
  // The catalog checks shapes, not element types.
  if ((a.data instanceof Int32Array) !== (b.data instanceof Int32Array)) fail(op, 'cannot concatenate an integer tensor with a float tensor');
  const axis = axisOf(attrs.axis, a.shape.length); // the other dims agree (the catalog's rule)
  const na = a.shape[axis]!, nb = b.shape[axis]!;
  const shape = [...a.shape];
  shape[axis] = na + nb;
  const [outer, inner] = around(a.shape, axis);
  const data = outData(a, numel(shape), ctx);
  const stride = (na + nb) * inner;
  copyBlocks(a.data, 0, na * inner, data, 0, stride, outer, na * inner);
  copyBlocks(b.data, 0, nb * inner, data, na * inner, stride, outer, nb * inner);
  return { shape, data };
};

/** sum_to: x summed over its leading dims down to like's shape (a suffix of x's: the catalog's rule). */
export const sumTo: Kernel = (inputs, _attrs, ctx) => {
  const op = 'sum_to';
  const x = floatIn(op, inputs, 0, 'x');
  const like = anyIn(op, inputs, 1, 'like');
  const n = numel(like.shape);
  const acc = new Float64Array(n);
  const xd = x.data;
  if (n > 0) for (let base = 0; base < xd.length; base += n) for (let j = 0; j < n; j++) acc[j] += xd[base + j]!;
  const out = floatOut(like.shape, ctx);
  out.data.set(acc);
  return out;
};

/** expand_batch: x [P,D] (any shape) repeated over the batch of like [B,...] → [B, ...x]. */
export const expandBatch: Kernel = (inputs, _attrs, ctx) => {
  const op = 'expand_batch';
  const x = anyIn(op, inputs, 0, 'x');
  const like = anyIn(op, inputs, 1, 'like');
  const B = like.shape[0]!; // like has a batch axis (the catalog's rule)
  const n = x.data.length;
  const data = outData(x, B * n, ctx);
  for (let b = 0; b < B; b++) copyBlocks(x.data, 0, 0, data, b * n, 0, 1, n);
  return { shape: [B, ...x.shape], data };
};
