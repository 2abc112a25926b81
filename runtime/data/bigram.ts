// Baselines that a fine-tune must beat, measured on exactly the validation positions the
// trainer evaluates: the targets of Batcher.validationBatches(), the same tensors the trainer
// feeds the model, so "beats the bigram baseline" compares the same split with the same code.
//
// causal_lm: an add-k smoothed bigram model.
//   Counts come from the training rows, over the (context, target) pairs that the loss uses:
//   for each training row, every adjacent pair (tokens[t], tokens[t+1]) whose second token is a
//   loss target (t+1 ≥ row.lossFrom), and every target token alone (t ≥ row.lossFrom) for the
//   unigram counts.
//     p(next | prev) = (c(prev, next) + k) / (c(prev) + k·V),   c(prev) = Σ_n c(prev, n)
//     p(next)        = (c(next) + k) / (N + k·V)                (no previous token)
//   V is the model's vocabulary (the softmax size; default the tokenizer's). A validation
//   position s with target y reads the previous token tokens[b, s−P] when s ≥ P; the last
//   virtual position (s = P−1, P soft tokens), which predicts a row's first token, has no
//   previous token and uses the unigram.
//   k: given, or 'auto' (default): the k from a fixed grid with the lowest cross-entropy on the
//   last 10% of the training rows when counted on the first 90%, then refit on all training
//   rows. The validation split is never used to choose k.
// classification: the class prior, p(label) = (c(label) + k) / (N + k·K) over the K labels,
//   from the training labels (k = 1 unless given).
//
// Reported: the mean cross-entropy in nats per counted position, Σ −log p / Σ positions over all
// validation batches — the same token-weighted mean as batches.ts's meanLoss().
import { IGNORE } from '../targets.ts';
import type { Batcher } from './batches.ts';
import type { Row } from './dataset.ts';

export interface BaselineReport {
  kind: 'bigram' | 'class-prior';
  /** Mean cross-entropy, nats per counted position; NaN when there are no validation positions. */
  nats: number;
  /** exp(nats). */
  perplexity: number;
  /** Validation positions counted (targets ≠ -100). */
  positions: number;
  /** The smoothing constant used. */
  k: number;
  /** V (bigram) or the number of labels K (class prior). */
  classes: number;
}

export interface BaselineOptions {
  /** Add-k smoothing: a number > 0, or 'auto' (bigram default). */
  k?: number | 'auto';
  /** The model's vocabulary size (bigram) or number of labels (class prior). */
  classes?: number;
}

export const K_GRID: readonly number[] = [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001];

/** Add-k smoothed bigram counts over the loss's (context, target) pairs of some rows. */
export class BigramModel {
  private readonly pairs = new Map<number, number>();
  private readonly from: Float64Array;
  private readonly unigram: Float64Array;
  private total = 0;

  constructor(readonly vocabSize: number, public k: number) {
    this.from = new Float64Array(vocabSize);
    this.unigram = new Float64Array(vocabSize);
  }

  static fit(rows: readonly Row[], vocabSize: number, k: number): BigramModel {
    const m = new BigramModel(vocabSize, k);
    for (const r of rows) m.add(r);
    return m;
  }

  add(row: Row): void {
    const V = this.vocabSize;
    const x = row.tokens;
    for (let t = row.lossFrom; t < x.length; t++) {
      if (row.lossMask && !row.lossMask[t]) continue;
      checkId(x[t]!, V);
      this.unigram[x[t]!]!++;
      this.total++;
      // A prompt template's virtual token (an id past the vocabulary) is no previous token.
      if (t === 0 || x[t - 1]! >= V) continue;
      const key = x[t - 1]! * V + x[t]!;
      this.pairs.set(key, (this.pairs.get(key) ?? 0) + 1);
      this.from[x[t - 1]!]!++;
    }
  }

  /** c(prev, next) and c(prev), or the unigram c(next) and N when prev is undefined. */
  counts(prev: number | undefined, next: number): [number, number] {
    if (prev === undefined) return [this.unigram[next]!, this.total];
    return [this.pairs.get(prev * this.vocabSize + next) ?? 0, this.from[prev]!];
  }

  /** ln p(next | prev), or ln p(next) without a previous token. */
  logProb(prev: number | undefined, next: number): number {
    checkId(next, this.vocabSize);
    if (prev !== undefined) checkId(prev, this.vocabSize);
    const [c, n] = this.counts(prev, next);
    return Math.log((c + this.k) / (n + this.k * this.vocabSize));
  }
}

/** The baseline of the batcher's task on its validation batches (see the top of this file). */
export function baseline(batcher: Batcher, opts: BaselineOptions = {}): BaselineReport {
  return batcher.task === 'classification' ? classPriorBaseline(batcher, opts) : bigramBaseline(batcher, opts);
}

export function bigramBaseline(batcher: Batcher, opts: BaselineOptions = {}): BaselineReport {
  const V = opts.classes ?? batcher.data.tokenizer.vocabSize;
  const train = batcher.data.train;
  const k = opts.k === undefined || opts.k === 'auto' ? chooseK(train, V) : positive(opts.k);
  const model = BigramModel.fit(train, V, k);
  const P = batcher.promptLength;
  let nats = 0;
  let positions = 0;
  for (const { tokens, targets } of batcher.validationBatches()) {
    const [B, T] = tokens.shape as [number, number];
    const S = P + T;
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const y = targets.data[b * S + s]!;
        if (y === IGNORE) continue;
        const prev = s >= P ? tokens.data[b * T + s - P]! : undefined;
        nats -= model.logProb(prev !== undefined && prev < V ? prev : undefined, y);
        positions++;
      }
    }
  }
  return report('bigram', nats, positions, k, V);
}

export function classPriorBaseline(batcher: Batcher, opts: BaselineOptions = {}): BaselineReport {
  const K = opts.classes ?? batcher.data.labels?.length ?? 0;
  const k = opts.k === undefined || opts.k === 'auto' ? 1 : positive(opts.k);
  const counts = new Float64Array(K);
  for (const r of batcher.data.train) {
    checkId(r.label!, K);
    counts[r.label!]!++;
  }
  const n = batcher.data.train.length;
  let nats = 0;
  let positions = 0;
  for (const { targets } of batcher.validationBatches()) {
    for (const y of targets.data as Int32Array) {
      if (y === IGNORE) continue;
      checkId(y, K);
      nats -= Math.log((counts[y]! + k) / (n + k * K));
      positions++;
    }
  }
  return report('class-prior', nats, positions, k, K);
}

/** The grid k with the lowest held-out cross-entropy: fit on the first 90% of rows, score the rest. */
export function chooseK(rows: readonly Row[], V: number): number {
  if (rows.length < 2) return 1;
  const cut = rows.length - Math.max(1, Math.round(rows.length * 0.1));
  const model = BigramModel.fit(rows.slice(0, cut), V, 1);
  const held: [number, number][] = [];
  for (const r of rows.slice(cut)) {
    for (let t = Math.max(1, r.lossFrom); t < r.tokens.length; t++) {
      if (r.lossMask && !r.lossMask[t]) continue;
      const prev = r.tokens[t - 1]!;
      held.push(model.counts(prev < V ? prev : undefined, r.tokens[t]!));
    }
  }
  let best = 1;
  let bestNats = Infinity;
  for (const k of K_GRID) {
    let nats = 0;
    for (const [c, n] of held) nats -= Math.log((c + k) / (n + k * V));
    if (nats < bestNats) [best, bestNats] = [k, nats];
  }
  return best;
}

function report(kind: BaselineReport['kind'], nats: number, positions: number, k: number, classes: number): BaselineReport {
  const mean = positions ? nats / positions : NaN;
  return { kind, nats: mean, perplexity: Math.exp(mean), positions, k, classes };
}

function positive(k: number): number {
  if (!(k > 0)) throw new Error(`smoothing k must be > 0, got ${k}`);
  return k;
}

function checkId(id: number, n: number): void {
  if (!(id >= 0 && id < n)) throw new Error(`baseline: id ${id} is outside [0, ${n})`);
}
