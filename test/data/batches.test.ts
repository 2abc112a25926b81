// Batches: shapes, padding never in the loss, the P soft-token offset of targets, the
// prompt/completion mask, seeded shuffling (deterministic, resumable, every row once per epoch).
import { describe, expect, it } from 'vitest';
import { Batcher, meanLoss } from '../../runtime/data/batches.ts';
import { buildDataset, type DataSource, type Dataset } from '../../runtime/data/dataset.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { ints } from '../../runtime/cpu/tensor.ts';
import { IGNORE, countTargets, lmTargets } from '../../runtime/targets.ts';

const byte = tokenizerByName('byte');
const src = (lines: unknown[], name = 'd.jsonl'): DataSource => ({ name, text: lines.map((l) => JSON.stringify(l)).join('\n'), format: 'jsonl' });
const X = -100;
const c = (s: string): number => s.charCodeAt(0);
const rowsOf = (t: { shape: number[]; data: ArrayLike<number> }): number[][] => {
  const [B, S] = [t.shape[0]!, t.shape[1] ?? 1];
  return Array.from({ length: B }, (_, b) => Array.from(t.data).slice(b * S, b * S + S));
};

/** 26 rows 'a0', 'b1', … whose first byte says which row it is. */
function letters(validFraction = 0): Dataset {
  const lines = Array.from({ length: 26 }, (_, i) => ({ text: `${String.fromCharCode(97 + i)}${i % 10}` }));
  return buildDataset(src(lines), { task: 'causal_lm', tokenizer: byte, seqLen: 4, validFraction });
}

describe('lmTargets with a loss mask', () => {
  it('ignores tokens whose mask entry is 0, with and without soft tokens', () => {
    const tokens = ints([1, 4], [10, 11, 12, 13]);
    expect(Array.from(lmTargets(tokens, 0, undefined, [1, 0, 1, 1]).data)).toEqual([X, 12, 13, X]);
    expect(Array.from(lmTargets(tokens, 2, undefined, [1, 0, 1, 1]).data)).toEqual([X, 10, X, 12, 13, X]);
    expect(Array.from(lmTargets(tokens, 2, undefined, [0, 1, 1, 0]).data)).toEqual([X, X, 11, 12, X, X]);
    expect(Array.from(lmTargets(tokens, 1).data)).toEqual([10, 11, 12, 13, X]);
    expect(() => lmTargets(tokens, 0, undefined, [1])).toThrow('mask has 1 entries');
    expect(countTargets(lmTargets(tokens, 2, undefined, [1, 0, 1, 1]))).toBe(3);
  });
});

describe('language-modelling batches', () => {
  const d = buildDataset(src([{ text: 'abcd' }, { text: 'ef' }, { prompt: 'gh', completion: 'i' }]), { task: 'causal_lm', tokenizer: byte, seqLen: 4, validFraction: 0 });

  it('has tokens [B, T] and targets [B, P+T]; padding and prompts are ignored', () => {
    const b = new Batcher(d, { batchSize: 3, shuffle: false });
    const batch = b.batch(0);
    expect(batch.tokens.shape).toEqual([3, 4]);
    expect(batch.targets.shape).toEqual([3, 4]);
    expect(batch.tokens.data).toBeInstanceOf(Int32Array);
    expect(batch.targets.data).toBeInstanceOf(Int32Array);
    expect(rowsOf(batch.tokens)).toEqual([[c('a'), c('b'), c('c'), c('d')], [c('e'), c('f'), 0, 0], [c('g'), c('h'), c('i'), 0]]);
    expect(rowsOf(batch.targets)).toEqual([[c('b'), c('c'), c('d'), X], [c('f'), X, X, X], [X, c('i'), X, X]]);
    expect(batch.realTokens).toBe(9);
    expect(batch.targetCount).toBe(5);
    expect(b.tokensPerStep).toBe(12);
  });

  it('offsets targets by P soft tokens; the last virtual position predicts the first token', () => {
    const batch = new Batcher(d, { batchSize: 3, shuffle: false, promptLength: 2 }).batch(0);
    expect(batch.targets.shape).toEqual([3, 6]);
    expect(rowsOf(batch.targets)).toEqual([
      [X, c('a'), c('b'), c('c'), c('d'), X],
      [X, c('e'), c('f'), X, X, X],
      [X, X, X, c('i'), X, X], // prompt 'gh' is not a target, even from the soft tokens
    ]);
  });

  it('pads with eos for GPT-2 and never puts eos padding in the loss, but keeps a real eos', () => {
    const g = tokenizerByName('gpt2');
    const dg = buildDataset(src([{ text: 'Hello world' }]), { task: 'causal_lm', tokenizer: g, seqLen: 5, validFraction: 0 });
    const batch = new Batcher(dg, { batchSize: 1 }).batch(0);
    expect(rowsOf(batch.tokens)).toEqual([[15496, 995, 50256, 50256, 50256]]);
    expect(rowsOf(batch.targets)).toEqual([[995, 50256, X, X, X]]);
  });
});

describe('classification batches', () => {
  const d = buildDataset(src([{ text: 'yes', label: 1 }, { text: 'no', label: 0 }, { text: 'maybe', label: 2 }]), { task: 'classification', tokenizer: byte, seqLen: 4, validFraction: 0 });

  it('has targets [B] of label ids, independent of P', () => {
    const batch = new Batcher(d, { batchSize: 3, shuffle: false, promptLength: 5 }).batch(0);
    expect(batch.tokens.shape).toEqual([3, 4]);
    expect(batch.targets.shape).toEqual([3]);
    expect(Array.from(batch.targets.data)).toEqual([1, 0, 2]);
    expect(rowsOf(batch.tokens)[1]).toEqual([c('n'), c('o'), 0, 0]);
  });
});

describe('shuffling and epochs', () => {
  const d = letters();
  const firstBytes = (b: { tokens: { data: ArrayLike<number> } }, B: number, T: number): number[] => Array.from({ length: B }, (_, i) => b.tokens.data[i * T]! - 97);

  it('is deterministic given the seed, and differs between seeds and epochs', () => {
    const a = new Batcher(d, { batchSize: 4, seed: 7 });
    const b = new Batcher(d, { batchSize: 4, seed: 7 });
    const other = new Batcher(d, { batchSize: 4, seed: 8 });
    expect(Array.from(a.order(0))).toEqual(Array.from(b.order(0)));
    expect(Array.from(a.order(0))).not.toEqual(Array.from(other.order(0)));
    expect(Array.from(a.order(0))).not.toEqual(Array.from(a.order(1)));
    for (let s = 0; s < 20; s++) expect(a.batch(s)).toEqual(b.batch(s));
    expect(Array.from(new Batcher(d, { batchSize: 4, shuffle: false }).order(3))).toEqual([...Array(26).keys()]);
  });

  it('sees every row once per epoch; the row stream runs on across epochs', () => {
    const b = new Batcher(d, { batchSize: 4, seed: 3 });
    expect(b.stepsPerEpoch).toBe(6.5);
    expect(b.stepsFor(2)).toBe(13);
    const seen = [...b.batches(13)].flatMap((x) => firstBytes(x, 4, 4));
    expect(seen).toHaveLength(52);
    expect([...seen.slice(0, 26)].sort((x, y) => x - y)).toEqual([...Array(26).keys()]);
    expect([...seen.slice(26)].sort((x, y) => x - y)).toEqual([...Array(26).keys()]);
    expect(seen.slice(0, 26)).toEqual(Array.from(b.order(0)));
    expect(b.batch(6).epoch).toBe(0); // rows 24, 25 of epoch 0 and 0, 1 of epoch 1
    expect(b.batch(7).epoch).toBe(1);
  });

  it('rebuilds any step on its own (resuming gives the same batches)', () => {
    const b = new Batcher(d, { batchSize: 5, seed: 11 });
    const all = [...b.batches(30)];
    const fresh = new Batcher(d, { batchSize: 5, seed: 11 });
    expect(fresh.batch(23)).toEqual(all[23]);
    expect([...fresh.batches(3, 10)]).toEqual(all.slice(10, 13));
  });

  it('handles fewer rows than B', () => {
    const small = buildDataset(src([{ text: 'ab' }, { text: 'cd' }]), { task: 'causal_lm', tokenizer: byte, seqLen: 2, validFraction: 0 });
    const batch = new Batcher(small, { batchSize: 5, seed: 1 }).batch(0);
    expect(batch.tokens.shape).toEqual([5, 2]);
    expect(batch.targetCount).toBe(5);
  });
});

describe('validation batches', () => {
  it('cover every validation row once, in order; the last batch is filled with ignored rows', () => {
    const d = letters(0.5); // 13 validation rows: 'n3' … 'z5'
    const b = new Batcher(d, { batchSize: 4, promptLength: 1 });
    const vb = b.validationBatches();
    expect(vb).toHaveLength(4);
    const first = vb.flatMap((x) => rowsOf(x.tokens).map((r) => r[0]!));
    expect(first.slice(0, 13).map((x) => String.fromCharCode(x)).join('')).toBe('nopqrstuvwxyz');
    expect(first.slice(13)).toEqual([0, 0, 0]);
    const last = rowsOf(vb[3]!.targets);
    expect(last[0]).toEqual([c('z'), c('5'), X, X, X]);
    expect(last.slice(1).flat().every((t) => t === IGNORE)).toBe(true);
    expect(vb.reduce((s, x) => s + countTargets(x.targets), 0)).toBe(26);
  });

  it('meanLoss weights each batch by its counted positions', () => {
    const t = (n: number, of: number) => ({ shape: [of], data: Int32Array.from({ length: of }, (_, i) => (i < n ? 1 : IGNORE)) });
    expect(meanLoss([{ loss: 1, targets: t(3, 4) }, { loss: 2, targets: t(1, 4) }])).toBe(1.25);
    expect(meanLoss([{ loss: 5, targets: t(0, 4) }])).toBeNaN();
  });
});

it('rejects a bad batch size', () => {
  expect(() => new Batcher(letters(), { batchSize: 0 })).toThrow('batch size must be an integer ≥ 1, got 0');
});
