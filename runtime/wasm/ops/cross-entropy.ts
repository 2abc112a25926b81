// cross_entropy and its logits gradient on f32 logits, one exp per logit for both together,
// the exps in WebAssembly SIMD (vector.wat) where the logits are f32.
// In a training run the loss writes softmax(l)/count of each counted row (the exps summed in
// f64, then scaled while the row is still in cache) into a fresh array and keeps it; the
// gradient of the same logits and targets in the same run subtracts 1/count at each target and
// returns that array as its result, without a second exp or a pass over the logits. Alone (no forward in the run, or eval), each kernel takes one
// exp per logit. (The reference takes three over the two; GPT-2's [128, 50257] logits make
// that the largest cost outside the products.)
import { crossEntropyOperands } from '../../cpu/kernels/cross_entropy.ts';
import { floatOut, type FloatArray, type FloatTensor, type Kernel, type KernelContext, type KernelOf } from '../../cpu/kernels/common.ts';
import { fastExp } from './exp.ts';
import { simd } from './vector.ts';

interface Operands {
  l: FloatArray;
  shape: number[];
  targets: Int32Array;
  rows: number;
  V: number;
  count: number;
}

/** The reference's operands (and checks), as these kernels read them. */
function operands(op: string, inputs: Parameters<Kernel>[0], ignore: number): Operands {
  const { logits, targets, rows, V, count } = crossEntropyOperands(op, inputs, ignore);
  return { l: logits.data, shape: logits.shape, targets, rows, V, count };
}

/**
 * The loss's exps, waiting for the gradient of the same logits. Keyed by the run's context (the
 * executor makes one per run, so a run's entry goes with it), then by the operand arrays; the
 * targets' values are kept too, so a caller that refills them under one context misses.
 */
interface Pending {
  logits: FloatArray;
  targets: Int32Array;
  targetValues: Int32Array;
  ignore: number;
  /** The gradient but for its −1/count at the targets: softmax(l)/count on counted rows, 0 on ignored ones. */
  grad: FloatTensor;
}
const pending = new WeakMap<KernelContext, Pending>();

/**
 * The row's max (NaN skipped, as the reference's) and Σ exp(l − max) in f64; when o is given,
 * softmax(l)/count written to it at the same offsets. In SIMD for f32 arrays, else here.
 */
function expRow(l: FloatArray, o: FloatArray | undefined, off: number, V: number, count: number): { max: number; sum: number } {
  const v = simd();
  if (v && l instanceof Float32Array && (!o || o instanceof Float32Array)) return v.expRow(l, off, V, o, count);
  let max = -Infinity;
  for (let j = off, end = off + V; j < end; j++) if (l[j]! > max) max = l[j]!;
  let sum = 0;
  for (let j = off, end = off + V; j < end; j++) {
    const e = fastExp(l[j]! - max);
    if (o) o[j] = e;
    sum += e;
  }
  if (o) {
    const k = 1 / (sum * count);
    for (let j = off, end = off + V; j < end; j++) o[j] = o[j]! * k;
  }
  return { max, sum };
}

/** cross_entropy: mean over counted positions of log Σ exp(l − max) − (l[t] − max); 0 when none count. */
export const crossEntropy: KernelOf<'cross_entropy'> = (inputs, attrs, ctx) => {
  const ignore = attrs.ignore_index;
  const { l, shape, targets, rows, V, count } = operands('cross_entropy', inputs, ignore);
  // Training runs go on to the gradient: keep the exps for it.
  const keep = ctx.training && count > 0 ? { grad: floatOut(shape, ctx) } : undefined;
  let total = 0;
  for (let r = 0, off = 0; r < rows; r++, off += V) {
    const t = targets[r]!;
    if (t === ignore) continue;
    const { max, sum } = expRow(l, keep?.grad.data, off, V, count);
    total += Math.log(sum) - (l[off + t]! - max);
  }
  if (keep) pending.set(ctx, { logits: l, targets, targetValues: targets.slice(), ignore, ...keep });
  const out = floatOut([], ctx);
  out.data[0] = count === 0 ? 0 : total / count;
  return out;
};

/** The loss's pending exps for exactly these operands, taken out of the cache; else undefined. */
function takePending(ctx: KernelContext, l: FloatArray, targets: Int32Array, ignore: number): Pending | undefined {
  const p = pending.get(ctx);
  if (!p) return undefined;
  pending.delete(ctx);
  if (p.logits !== l || p.targets !== targets || p.ignore !== ignore) return undefined;
  for (let r = 0; r < targets.length; r++) if (p.targetValues[r] !== targets[r]) return undefined;
  return p;
}

/** cross_entropy_grad: (softmax(l) − onehot(t)) / count on counted rows, 0 on ignored rows. */
export const crossEntropyGrad: KernelOf<'cross_entropy_grad'> = (inputs, attrs, ctx) => {
  const ignore = attrs.ignore_index;
  const { l, shape, targets, rows, V, count } = operands('cross_entropy_grad', inputs, ignore);
  const inv = 1 / count;
  const p = count > 0 ? takePending(ctx, l, targets, ignore) : undefined;
  const out = p?.grad ?? floatOut(shape, ctx);
  const o = out.data;
  if (count === 0) return out;
  for (let r = 0, off = 0; r < rows; r++, off += V) {
    const t = targets[r]!;
    if (t === ignore) continue;
    if (!p) expRow(l, o, off, V, count);
    o[off + t] = o[off + t]! - inv;
  }
  return out;
};
