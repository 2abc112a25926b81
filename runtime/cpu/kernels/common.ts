// The kernel contract and small helpers shared by every kernel family.
import type { ComputedOp, KernelAttrs } from '../../../compiler/ir/ops.ts';
import type { AttrValue, Attrs } from '../../../compiler/ir/types.ts';
import { allocFloat, formatDims, numel, type FloatArray, type FloatTensor, type Precision, type Tensor } from '../tensor.ts';

export interface KernelContext {
  /** Element type of float outputs: Float32Array for 'f32', Float64Array for 'f64'. */
  precision: Precision;
  /** The executor's training step (dropout's mask depends on it). */
  step: number;
  /** Training mode; dropout is the identity when false. */
  training: boolean;
}

/**
 * One op of the catalog (compiler/ir/ops.ts) as a pure function. `inputs` follow the op's
 * operand order; trailing optional operands may be left out.
 */
export type Kernel = (inputs: Tensor[], attrs: Attrs, ctx: KernelContext) => Tensor;

/** The kernel of op K, reading its attributes as the catalog types them (the verifier checked them). */
export type KernelOf<K extends ComputedOp> = (inputs: Tensor[], attrs: KernelAttrs<K>, ctx: KernelContext) => Tensor;

export class KernelError extends Error {
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'KernelError';
  }
}

export function fail(op: string, message: string): never {
  throw new KernelError(op, message);
}

/** The required operand at `index`, checked to be a float tensor. */
export function floatIn(op: string, inputs: Tensor[], index: number, name: string): FloatTensor {
  const t = inputs[index];
  if (!t) fail(op, `missing operand ${name}`);
  if (t.data instanceof Int32Array) fail(op, `operand ${name} must be a float tensor`);
  if (t.data.length !== numel(t.shape)) fail(op, `operand ${name}: ${t.data.length} values for shape ${formatDims(t.shape)}`);
  return t as FloatTensor;
}

/** The optional float operand at `index`, or undefined when absent. */
export function optFloatIn(op: string, inputs: Tensor[], index: number, name: string): FloatTensor | undefined {
  return inputs[index] ? floatIn(op, inputs, index, name) : undefined;
}

/** The required operand at `index`, any element type (used for shape-only operands). */
export function anyIn(op: string, inputs: Tensor[], index: number, name: string): Tensor {
  const t = inputs[index];
  if (!t) fail(op, `missing operand ${name}`);
  if (t.data.length !== numel(t.shape)) fail(op, `operand ${name}: ${t.data.length} values for shape ${formatDims(t.shape)}`);
  return t;
}

/** The required integer operand at `index` (ids, targets): Int32Array. */
export function intIn(op: string, inputs: Tensor[], index: number, name: string): Int32Array {
  const t = anyIn(op, inputs, index, name);
  if (!(t.data instanceof Int32Array)) fail(op, `operand ${name} must be an i32 tensor (Int32Array)`);
  return t.data;
}

function attr(op: string, attrs: Attrs, name: string): AttrValue {
  const v = attrs[name];
  if (v === undefined) fail(op, `missing attribute ${name}`);
  return v;
}

export function numAttr(op: string, attrs: Attrs, name: string): number {
  const v = attr(op, attrs, name);
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(op, `attribute ${name} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

export function intAttr(op: string, attrs: Attrs, name: string): number {
  const v = numAttr(op, attrs, name);
  if (!Number.isInteger(v)) fail(op, `attribute ${name} must be an integer, got ${v}`);
  return v;
}

export function boolAttr(op: string, attrs: Attrs, name: string): boolean {
  const v = attr(op, attrs, name);
  if (typeof v !== 'boolean') fail(op, `attribute ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

export function strAttr<T extends string>(op: string, attrs: Attrs, name: string, allowed: readonly T[]): T {
  const v = attr(op, attrs, name);
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    fail(op, `attribute ${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** `axis` normalised to [0, rank) (negative counts from the end). */
export function axisAttr(op: string, attrs: Attrs, rank: number): number {
  const a = intAttr(op, attrs, 'axis');
  const ax = a < 0 ? a + rank : a;
  if (ax < 0 || ax >= rank) fail(op, `axis ${a} out of range for rank ${rank}`);
  return ax;
}

/** A float output tensor of `shape` in the context's precision. */
export function floatOut(shape: readonly number[], ctx: KernelContext): FloatTensor {
  return { shape: [...shape], data: allocFloat(numel(shape), ctx.precision) };
}

/** Splits a shape into (rows, features): all leading dims flattened, and the last axis. */
export function rowsOf(op: string, shape: readonly number[]): [number, number] {
  if (shape.length === 0) fail(op, 'needs at least one axis');
  return [numel(shape.slice(0, -1)), shape[shape.length - 1]!];
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkSame(op: string, a: Tensor, aName: string, b: Tensor, bName: string): void {
  if (!sameShape(a.shape, b.shape)) fail(op, `${aName} ${formatDims(a.shape)} and ${bName} ${formatDims(b.shape)} differ`);
}

/** Checks that `small` is a suffix of `big` (the catalog's suffix broadcasting). */
export function isSuffix(big: readonly number[], small: readonly number[]): boolean {
  if (small.length > big.length) return false;
  const off = big.length - small.length;
  return small.every((d, i) => d === big[off + i]);
}

export type { FloatArray, FloatTensor };
