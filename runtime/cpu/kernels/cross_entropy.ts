// Mean token cross-entropy over the positions that count, and its logits gradient.
import { fail, floatIn, floatOut, intIn, rowsOf, type FloatArray, type FloatTensor, type Kernel, type KernelOf } from './common.ts';

export interface CrossEntropyOperands {
  logits: FloatTensor;
  targets: Int32Array;
  rows: number;
  V: number;
  ignore: number;
  /** Positions whose target is not ignore_index. */
  count: number;
}

/**
 * The operands (the wasm backend's kernels read them here too); targets are logits' shape without
 * the last axis (the catalog's rule), their values data.
 */
export function crossEntropyOperands(op: string, inputs: Parameters<Kernel>[0], ignore: number): CrossEntropyOperands {
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
  return { logits, targets, rows, V, ignore, count };
}

/** (max, log Σ exp(l − max)) of one row. */
function logSumExp(l: FloatArray, off: number, V: number): [number, number] {
  let max = -Infinity;
  for (let j = 0; j < V; j++) if (l[off + j]! > max) max = l[off + j]!;
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(l[off + j]! - max);
  return [max, Math.log(s)];
}

/** cross_entropy: logits [..., V], targets i32 [...] → scalar: mean of −log softmax[target] over counted positions. */
export const crossEntropy: KernelOf<'cross_entropy'> = (inputs, attrs, ctx) => {
  const { logits, targets, rows, V, ignore, count } = crossEntropyOperands('cross_entropy', inputs, attrs.ignore_index);
  const l = logits.data;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t === ignore) continue;
    const off = r * V;
    const [max, lse] = logSumExp(l, off, V);
    total += lse - (l[off + t]! - max);
  }
  const out = floatOut([], ctx);
  out.data[0] = count === 0 ? 0 : total / count;
  return out;
};

/** cross_entropy_grad: (softmax(logits) − onehot(target)) / count on counted rows, 0 on ignored rows. */
export const crossEntropyGrad: KernelOf<'cross_entropy_grad'> = (inputs, attrs, ctx) => {
  const { logits, targets, rows, V, ignore, count } = crossEntropyOperands('cross_entropy_grad', inputs, attrs.ignore_index);
  const l = logits.data;
  const out = floatOut(logits.shape, ctx);
  const o = out.data;
  if (count === 0) return out;
  const inv = 1 / count;
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t === ignore) continue;
    const off = r * V;
    const [max, lse] = logSumExp(l, off, V);
    for (let j = 0; j < V; j++) o[off + j] = (Math.exp(l[off + j]! - max - lse) - (j === t ? 1 : 0)) * inv;
  }
  return out;
};
