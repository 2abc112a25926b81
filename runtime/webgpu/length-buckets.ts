// Sequence lengths rounded up to a few buckets, so that evaluating a new length on WebGPU reuses
// a plan (and its compiled shaders) instead of planning that exact shape: a batch is padded on
// the right up to its bucket's length and its logits trimmed back. Padding is harmless exactly
// when positions only look back: a causal language model whose only op across positions is
// causal attention (what compiler/decode accepts), with the padding's targets ignored.
import { decodeGraphs } from '../../compiler/decode/graph.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { sequenceProblem } from '../../compiler/positions.ts';
import type { Batch } from '../cpu/executor.ts';
import type { FloatTensor } from '../cpu/tensor.ts';
import { IGNORE } from '../targets.ts';

/** Whether right padding leaves a batch's real positions (and its loss) unchanged. */
export function padsSafely(g: Graph): boolean {
  try {
    decodeGraphs(g);
    return true;
  } catch {
    return false;
  }
}

/** The smallest power of two ≥ T that the model's positions hold, else T itself. */
export function lengthBucket(g: Graph, T: number): number {
  const b = 2 ** Math.ceil(Math.log2(Math.max(T, 1)));
  return sequenceProblem(g, b) === undefined ? b : T;
}

/**
 * `batch` padded on the right to `T` tokens a row (token 0, target ignored); `prompt`: the soft
 * tokens the targets hold before the tokens. Other inputs are per row and pass unchanged.
 */
export function padBatch(batch: Batch, T: number, prompt: number): Batch {
  const [B, t] = batch.tokens.shape as [number, number];
  if (t === T) return batch;
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * (prompt + T)).fill(IGNORE);
  for (let b = 0; b < B; b++) {
    tokens.set(batch.tokens.data.subarray(b * t, (b + 1) * t) as Int32Array, b * T);
    targets.set(batch.targets.data.subarray(b * (prompt + t), (b + 1) * (prompt + t)) as Int32Array, b * (prompt + T));
  }
  return { ...batch, tokens: { shape: [B, T], data: tokens }, targets: { shape: [B, prompt + T], data: targets } };
}

/** Logits [B, S, V] of a padded batch cut back to its first `S` positions a row. */
export function trimLogits(logits: FloatTensor, S: number): FloatTensor {
  const [B, P, V] = logits.shape as [number, number, number];
  if (P === S) return logits;
  const out = new Float32Array(B * S * V);
  for (let b = 0; b < B; b++) out.set(logits.data.subarray(b * P * V, (b * P + S) * V), b * S * V);
  return { shape: [B, S, V], data: out };
}
