// cross_entropy and its logits gradient on f32 logits, one exp per logit in each: the loss sums
// exp(l − max) in f64 per row; the gradient stores those exps in its output while summing them,
// then scales the row by 1/(sum·count). (The reference takes exp three times per logit over
// the two kernels; GPT-2's [128, 50257] logits make that the largest non-product cost.)
import { fail, floatIn, floatOut, intIn, rowsOf, type FloatArray, type Kernel, type KernelOf } from '../../cpu/kernels/common.ts';
import { fastExp } from './exp.ts';

interface Operands {
  l: FloatArray;
  shape: number[];
  targets: Int32Array;
  rows: number;
  V: number;
  count: number;
}

/** The operands checked as the reference checks them, and the number of positions that count. */
function operands(op: string, inputs: Parameters<Kernel>[0], ignore: number): Operands {
  const logits = floatIn(op, inputs, 0, 'logits');
  const targets = intIn(op, inputs, 1, 'targets');
  const [rows, V] = rowsOf(op, logits.shape);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t === ignore) continue;
    if (t < 0 || t >= V) fail(op, `target ${t} at position ${r} is outside [0, ${V}) and is not ignore_index ${ignore}`);
    count++;
  }
  return { l: logits.data, shape: logits.shape, targets, rows, V, count };
}

function rowMax(l: FloatArray, off: number, V: number): number {
  let max = -Infinity;
  for (let j = off, end = off + V; j < end; j++) {
    const v = l[j]!;
    if (v > max) max = v;
  }
  return max;
}

/** cross_entropy: mean over counted positions of log Σ exp(l − max) − (l[t] − max); 0 when none count. */
export const crossEntropy: KernelOf<'cross_entropy'> = (inputs, attrs, ctx) => {
  const { l, targets, rows, V, count } = operands('cross_entropy', inputs, attrs.ignore_index);
  let total = 0;
  for (let r = 0, off = 0; r < rows; r++, off += V) {
    const t = targets[r]!;
    if (t === attrs.ignore_index) continue;
    const max = rowMax(l, off, V);
    let s = 0;
    for (let j = off, end = off + V; j < end; j++) s += fastExp(l[j]! - max);
    total += Math.log(s) - (l[off + t]! - max);
  }
  const out = floatOut([], ctx);
  out.data[0] = count === 0 ? 0 : total / count;
  return out;
};

/** cross_entropy_grad: (softmax(l) − onehot(t)) / count on counted rows, 0 on ignored rows. */
export const crossEntropyGrad: KernelOf<'cross_entropy_grad'> = (inputs, attrs, ctx) => {
  const { l, shape, targets, rows, V, count } = operands('cross_entropy_grad', inputs, attrs.ignore_index);
  const out = floatOut(shape, ctx);
  const o = out.data;
  if (count === 0) return out;
  const inv = 1 / count;
  for (let r = 0, off = 0; r < rows; r++, off += V) {
    const t = targets[r]!;
    if (t === attrs.ignore_index) continue;
    const max = rowMax(l, off, V);
    let s = 0;
    for (let j = off, end = off + V; j < end; j++) {
      const e = fastExp(l[j]! - max);
      o[j] = e;
      s += e;
    }
    const k = inv / s;
    for (let j = off, end = off + V; j < end; j++) o[j] = o[j]! * k;
    o[off + t] = o[off + t]! - inv;
  }
  return out;
};
