// The operands of the attention kernels (the reference's, attention.ts, and the wasm backend's,
// runtime/wasm/attention/), read and checked in one place so that a bad graph fails with the same
// one-line message on either: the shapes, the kv head of each query head and the keys each query
// sees are compiler/ir/attention-geometry.ts', shared with the WGSL kernels too. The geometry's
// checks are the attention's shape contract, which the catalog's rule does not repeat (q, k, v
// and heads agree; prefix + S keys). The gradients check o's shape but no kernel reads it.
import { attentionGeometry, badLength, lengthsMask, lseShape, visibleKeys, type AttentionGeometry } from '../../../compiler/ir/attention-geometry.ts';
import type { KernelAttrs } from '../../../compiler/ir/ops.ts';
import { fail, floatIn, intIn, type FloatTensor, type Kernel } from './common.ts';
import { formatDims } from '../tensor.ts';

/** The attributes of attention and of its backward's ops (one schema). */
export type AttentionAttrs = KernelAttrs<'attention'>;

type Inputs = Parameters<Kernel>[0];

/** The shared geometry, with the 1/√hd score scale and the lengths that mask keys. */
export interface Geometry extends AttentionGeometry {
  scale: number;
  /** Real positions per row (non-causal attention with a lengths operand), else undefined. */
  lengths?: Int32Array;
}

export function geometry(op: string, q: FloatTensor, k: FloatTensor, v: FloatTensor, a: AttentionAttrs): Geometry {
  const g = attentionGeometry(q.shape, [['k', k.shape], ['v', v.shape]], a, (message) => fail(op, message));
  return { ...g, scale: 1 / Math.sqrt(g.hd) };
}

/** Number of keys query i of row b sees: keys 0 … n−1 (never fewer for a later query). */
export const visibleKeysOf = (g: Geometry, b: number, i: number): number => visibleKeys(g, i, g.lengths?.[b]);

/** The optional lengths operand at `index`: i32 [B], each in 0 … S with at least one visible key. */
export function lengthsIn(op: string, inputs: Inputs, index: number, g: Geometry): Int32Array | undefined {
  if (!inputs[index]) return undefined;
  const len = intIn(op, inputs, index, 'lengths');
  const t = inputs[index]!;
  if (t.shape.length !== 1 || t.shape[0] !== g.B) fail(op, `lengths must be [${g.B}], got ${formatDims(t.shape)}`);
  for (const n of len) {
    const bad = badLength(g, n);
    if (bad) fail(op, bad);
  }
  return lengthsMask(g, true) ? len : undefined;
}

const sameDims = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** attention's operands (q, k, v, lengths?). */
export function forwardOperands(op: string, inputs: Inputs, attrs: AttentionAttrs) {
  const q = floatIn(op, inputs, 0, 'q');
  const k = floatIn(op, inputs, 1, 'k');
  const v = floatIn(op, inputs, 2, 'v');
  const g = geometry(op, q, k, v, attrs);
  const lengths = lengthsIn(op, inputs, 3, g);
  if (lengths) g.lengths = lengths;
  return { q, k, v, g };
}

/** attention_lse's operands (q, k, lengths?). */
export function lseOperands(op: string, inputs: Inputs, attrs: AttentionAttrs) {
  const q = floatIn(op, inputs, 0, 'q');
  const k = floatIn(op, inputs, 1, 'k');
  const g = geometry(op, q, k, k, attrs);
  const lengths = lengthsIn(op, inputs, 2, g);
  if (lengths) g.lengths = lengths;
  return { q, k, g };
}

/** A gradient's operands (q, k, v, dy, o, lse, lengths?); o is checked but not read. */
export function gradOperands(op: string, inputs: Inputs, attrs: AttentionAttrs) {
  const q = floatIn(op, inputs, 0, 'q');
  const k = floatIn(op, inputs, 1, 'k');
  const v = floatIn(op, inputs, 2, 'v');
  const g = geometry(op, q, k, v, attrs);
  const dy = floatIn(op, inputs, 3, 'dy');
  if (!sameDims(dy.shape, q.shape)) fail(op, `dy ${formatDims(dy.shape)} must match q ${formatDims(q.shape)}`);
  const o = floatIn(op, inputs, 4, 'o');
  if (!sameDims(o.shape, q.shape)) fail(op, `o ${formatDims(o.shape)} must match q ${formatDims(q.shape)}`);
  const lse = floatIn(op, inputs, 5, 'lse');
  if (!sameDims(lse.shape, lseShape(g))) fail(op, `lse must be ${formatDims(lseShape(g))}, got ${formatDims(lse.shape)}`);
  const lengths = lengthsIn(op, inputs, 6, g);
  if (lengths) g.lengths = lengths;
  return { q, k, v, dy, lse, g };
}
