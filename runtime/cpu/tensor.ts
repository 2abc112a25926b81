// Tensors of the CPU reference: a concrete shape and a flat row-major typed array.
// Float tensors are Float32Array (f32 mode) or Float64Array (f64 mode); integer tensors
// (token ids, targets, positions) are Int32Array.
import { fillNormal, fillUniform, type Random } from './random.ts';

export type FloatArray = Float32Array | Float64Array;
export type TensorData = FloatArray | Int32Array;
export type Precision = 'f32' | 'f64';
export type TensorDType = Precision | 'i32';

export interface Tensor {
  shape: number[];
  data: TensorData;
}

export interface FloatTensor extends Tensor {
  data: FloatArray;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatDims(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A typed array of n zeros of the given element type. */
export function allocData(n: number, dtype: TensorDType): TensorData {
  if (dtype === 'i32') return new Int32Array(n);
  return dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);
}

/** A float array of n zeros in the given precision. */
export function allocFloat(n: number, precision: Precision): FloatArray {
  return precision === 'f64' ? new Float64Array(n) : new Float32Array(n);
}

/**
 * A tensor of `shape` over `data`. A plain number array becomes a Float64Array (or the
 * array type named by `dtype`). Throws when the element count does not match the shape.
 */
export function tensor(shape: readonly number[], data: TensorData | readonly number[], dtype: TensorDType = 'f64'): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`bad tensor shape ${formatDims(shape)}`);
  }
  let arr: TensorData;
  if (Array.isArray(data)) {
    arr = allocData(data.length, dtype);
    arr.set(data);
  } else {
    arr = data as TensorData;
  }
  if (arr.length !== numel(shape)) {
    throw new Error(`tensor of shape ${formatDims(shape)} needs ${numel(shape)} values, got ${arr.length}`);
  }
  return { shape: [...shape], data: arr };
}

/** An Int32 tensor (ids, targets). */
export function ints(shape: readonly number[], data: readonly number[]): Tensor {
  return tensor(shape, data, 'i32');
}

export function zeros(shape: readonly number[], dtype: TensorDType = 'f32'): Tensor {
  return { shape: [...shape], data: allocData(numel(shape), dtype) };
}

export function dtypeOf(t: Tensor): TensorDType {
  if (t.data instanceof Int32Array) return 'i32';
  return t.data instanceof Float64Array ? 'f64' : 'f32';
}

export function isFloat(t: Tensor): t is FloatTensor {
  return !(t.data instanceof Int32Array);
}

/** A copy of a float tensor in the given precision (rounding to f32 when asked). */
export function toPrecision(t: Tensor, precision: Precision): FloatTensor {
  const out = allocFloat(t.data.length, precision);
  out.set(t.data);
  return { shape: [...t.shape], data: out };
}

/** A tensor of uniform(lo, hi) values drawn from `rng`. */
export function randomUniform(shape: readonly number[], rng: Random, lo = -1, hi = 1, precision: Precision = 'f64'): FloatTensor {
  const data = allocFloat(numel(shape), precision);
  fillUniform(data, rng, lo, hi);
  return { shape: [...shape], data };
}

/** A tensor of normal(0, std) values drawn from `rng`. */
export function randomNormal(shape: readonly number[], rng: Random, std = 1, precision: Precision = 'f64'): FloatTensor {
  const data = allocFloat(numel(shape), precision);
  fillNormal(data, rng, std);
  return { shape: [...shape], data };
}

/** An Int32 tensor of integers uniform in [0, n). */
export function randomInts(shape: readonly number[], rng: Random, n: number): Tensor {
  const data = new Int32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.int(n);
  return { shape: [...shape], data };
}

/** Largest |a − b| over all elements (shapes must match). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) throw new Error(`size mismatch ${formatDims(a.shape)} vs ${formatDims(b.shape)}`);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}
