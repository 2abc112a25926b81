// slice and its backward pad as block copies (TypedArray.set over subarrays, a memcpy) instead
// of the reference's element loop over any element type. Integer tensors stay integer; float
// results take the context's precision, as in the reference (runtime/cpu/kernels/shape.ts).
import { allocFloat, formatDims, numel, type Tensor, type TensorData } from '../../cpu/tensor.ts';
import { anyIn, fail, type KernelContext, type KernelOf } from '../../cpu/kernels/common.ts';

/** An output array of n elements: Int32Array when `like` is integer, else a float array. */
function outData(like: Tensor, n: number, ctx: KernelContext): TensorData {
  return like.data instanceof Int32Array ? new Int32Array(n) : allocFloat(n, ctx.precision);
}

/** (outer, inner): the products of the dims before and after `axis`. */
function around(shape: readonly number[], axis: number): [number, number] {
  return [numel(shape.slice(0, axis)), numel(shape.slice(axis + 1))];
}

/** Copies `count` blocks of `len` values from src (stride sStride) to dst (stride dStride). */
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
  const axis = attrs.axis < 0 ? attrs.axis + x.shape.length : attrs.axis;
  const { start, size } = attrs;
  const n = x.shape[axis]!;
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
  const axis = attrs.axis < 0 ? attrs.axis + x.shape.length : attrs.axis;
  const { start, total } = attrs;
  const n = x.shape[axis]!;
  if (start < 0 || start + n > total) fail(op, `cannot place ${n} values at ${start} in ${total} along axis ${axis}`);
  const shape = [...x.shape];
  shape[axis] = total;
  const [outer, inner] = around(x.shape, axis);
  const data = outData(x, numel(shape), ctx);
  copyBlocks(x.data, 0, n * inner, data, start * inner, total * inner, outer, n * inner);
  return { shape, data };
};
