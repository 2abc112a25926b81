// Batches for the trainer: B rows × T tokens, fixed shapes (the device plan has fixed shapes).
//
//   tokens   i32 [B, T]      rows left-aligned, padded on the right with the tokenizer's pad
//                            (else eos, else 0); padding is never a target.
//   targets  i32 [B, P+T]    causal_lm: runtime/targets.ts's lmTargets with the rows' loss mask
//            i32 [B]         classification: the label id
//            -100 (IGNORE) wherever a position does not count in the loss.
//
// Training rows form an endless stream: epoch e is a permutation of all rows drawn with a seed
// derived from (seed, e), and step s takes stream positions [s·B, s·B + B), so a batch may
// straddle two epochs, every row is seen once per epoch, and any step can be rebuilt on its own
// (resuming from a checkpoint at step s gives the same batches). Deterministic given the seed.
import type { Task } from '../../compiler/ir/types.ts';
import { Random } from '../cpu/random.ts';
import type { Tensor } from '../cpu/tensor.ts';
import { IGNORE, countTargets, lmTargets } from '../targets.ts';
import { DataError, type Dataset, type Row } from './dataset.ts';
import { padId } from './tokenizer.ts';

export interface Batch {
  tokens: Tensor;
  targets: Tensor;
  /**
   * `lengths` i32 [B]: each row's real positions, P + its tokens (min T; a row that is all padding
   * counts as full). Read by the graph input of the same name (non-causal attention and pool mask
   * padding with it); graphs without it ignore it.
   * `token_types` i32 [B, P+T]: sentence pairs' segments (0 for the soft prompt, the first text
   * and padding, 1 for the second text), when a row of the batch is a pair.
   */
  extra: { lengths: Tensor; token_types?: Tensor };
}

export interface TrainBatch extends Batch {
  /** Global step, from 0. */
  step: number;
  /** Epoch of the batch's first row, from 0. */
  epoch: number;
  /** Non-padding tokens in `tokens`. */
  realTokens: number;
  /** Positions that count in the loss (targets ≠ -100). */
  targetCount: number;
}

export interface BatcherOptions {
  /** B, rows per batch. */
  batchSize: number;
  /** P, the model's soft prompt tokens (graph.promptLength): targets are [B, P+T]. */
  promptLength?: number;
  seed?: number;
  /** Shuffle training rows each epoch (default true); false keeps the file's order. */
  shuffle?: boolean;
  /**
   * Evaluate on at most this many validation rows, evenly spaced over the split (default:
   * all). Keeps frequent validation cheap; the baseline uses the same rows.
   */
  validRows?: number;
}

export class Batcher {
  readonly task: Task;
  readonly batchSize: number;
  readonly seqLen: number;
  readonly promptLength: number;
  readonly pad: number;
  private readonly seed: number;
  private readonly shuffle: boolean;
  private readonly validRows: number | undefined;
  private readonly orders = new Map<number, Uint32Array>();

  constructor(readonly data: Dataset, opts: BatcherOptions) {
    const B = opts.batchSize;
    if (!Number.isInteger(B) || B < 1) throw new DataError(`batch size must be an integer ≥ 1, got ${B}`);
    this.task = data.task;
    this.batchSize = B;
    this.seqLen = data.seqLen;
    this.promptLength = opts.promptLength ?? 0;
    this.pad = padId(data.tokenizer);
    this.seed = opts.seed ?? 0;
    this.shuffle = opts.shuffle ?? true;
    this.validRows = opts.validRows;
  }

  /** Training steps in one epoch: rows / B (fractional when B does not divide the rows). */
  get stepsPerEpoch(): number {
    return this.data.train.length / this.batchSize;
  }

  /** Steps that cover `epochs` epochs: ⌈epochs · rows / B⌉. */
  stepsFor(epochs: number): number {
    return Math.ceil((epochs * this.data.train.length) / this.batchSize);
  }

  /** Tokens the device processes per step, padding included: B · T (for tokens/s). */
  get tokensPerStep(): number {
    return this.batchSize * this.seqLen;
  }

  /** The row order of an epoch: a seeded permutation of 0…rows−1 (identity without shuffling). */
  order(epoch: number): Uint32Array {
    let o = this.orders.get(epoch);
    if (o) return o;
    const n = this.data.train.length;
    o = new Uint32Array(n);
    for (let i = 0; i < n; i++) o[i] = i;
    if (this.shuffle) {
      const rng = new Random((this.seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = o[i]!;
        o[i] = o[j]!;
        o[j] = t;
      }
    }
    if (this.orders.size >= 2) this.orders.delete(this.orders.keys().next().value!);
    this.orders.set(epoch, o);
    return o;
  }

  /** The training batch of step `step` (0-based); the same step always gives the same batch. */
  batch(step: number): TrainBatch {
    const n = this.data.train.length;
    const B = this.batchSize;
    const rows: Row[] = [];
    for (let j = 0; j < B; j++) {
      const pos = step * B + j;
      const epoch = Math.floor(pos / n);
      rows.push(this.data.train[this.order(epoch)[pos - epoch * n]!]!);
    }
    const batch = this.encode(rows);
    return { ...batch, step, epoch: Math.floor((step * B) / n), realTokens: realTokens(rows), targetCount: countTargets(batch.targets) };
  }

  /** `count` consecutive training batches from step `from`. */
  *batches(count: number, from = 0): Generator<TrainBatch> {
    for (let s = from; s < from + count; s++) yield this.batch(s);
  }

  /**
   * Every validation row once, in order, B per batch; the last batch is filled with rows that
   * are all padding and all ignored. The validation loss is the mean over all counted positions:
   * Σ(batch loss × countTargets(batch.targets)) / Σ countTargets — see meanLoss().
   */
  validationBatches(): Batch[] {
    const out: Batch[] = [];
    const rows = this.validationRows();
    for (let s = 0; s < rows.length; s += this.batchSize) out.push(this.encode(rows.slice(s, s + this.batchSize)));
    return out;
  }

  /** The validation rows evaluated: all, or `validRows` of them evenly spaced. */
  validationRows(): readonly Row[] {
    const all = this.data.valid;
    const n = this.validRows;
    if (n === undefined || n >= all.length) return all;
    return Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]!);
  }

  /** Rows (fewer than B: the rest are ignored padding rows) as one batch. */
  encode(rows: readonly Row[]): Batch {
    const B = this.batchSize;
    const T = this.seqLen;
    if (rows.length > B) throw new Error(`Batcher.encode: ${rows.length} rows for a batch of ${B}`);
    const tokens = new Int32Array(B * T).fill(this.pad);
    const mask = new Uint8Array(B * T);
    rows.forEach((r, b) => {
      tokens.set(r.tokens.subarray(0, T), b * T);
      if (r.lossMask) mask.set(r.lossMask.subarray(0, T), b * T);
      else mask.fill(1, b * T + r.lossFrom, b * T + Math.min(T, r.tokens.length));
    });
    const tok: Tensor = { shape: [B, T], data: tokens };
    const lengths = new Int32Array(B).fill(this.promptLength + T);
    rows.forEach((r, b) => {
      if (r.tokens.length > 0) lengths[b] = this.promptLength + Math.min(T, r.tokens.length);
    });
    const extra: Batch['extra'] = { lengths: { shape: [B], data: lengths } };
    if (rows.some((r) => r.types)) extra.token_types = tokenTypes(rows, B, this.promptLength, T);
    if (this.task === 'classification') {
      const labels = new Int32Array(B).fill(IGNORE);
      rows.forEach((r, b) => (labels[b] = r.label ?? IGNORE));
      return { tokens: tok, targets: { shape: [B], data: labels }, extra };
    }
    return { tokens: tok, targets: lmTargets(tok, this.promptLength, undefined, mask), extra };
  }
}

/** [B, P+T] token types: each pair's after the P soft prompt positions, 0 elsewhere. */
function tokenTypes(rows: readonly Row[], B: number, P: number, T: number): Tensor {
  const S = P + T;
  const data = new Int32Array(B * S);
  rows.forEach((r, b) => r.types && data.set(r.types.subarray(0, T), b * S + P));
  return { shape: [B, S], data };
}

/** The mean loss over several batches, each weighted by its counted positions (as one big batch). */
export function meanLoss(parts: readonly { loss: number; targets: Tensor }[]): number {
  let sum = 0;
  let count = 0;
  for (const p of parts) {
    const n = countTargets(p.targets);
    if (n > 0) {
      sum += p.loss * n;
      count += n;
    }
  }
  return count ? sum / count : NaN;
}

function realTokens(rows: readonly Row[]): number {
  let n = 0;
  for (const r of rows) n += r.tokens.length;
  return n;
}
