// The baselines against hand-computed values on tiny texts, and on a corpus: they count exactly
// the validation positions of Batcher.validationBatches().
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../runtime/data/batches.ts';
import { baseline, BigramModel, bigramBaseline, chooseK, classPriorBaseline, K_GRID } from '../../runtime/data/bigram.ts';
import { buildDataset, type DataSource, type DatasetOptions } from '../../runtime/data/dataset.ts';
import { loadDataset } from '../../runtime/data/load-node.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { countTargets } from '../../runtime/targets.ts';

const byte = tokenizerByName('byte');
const text = (t: string, name = 't.txt'): DataSource => ({ name, text: t, format: 'text' });
const jsonl = (lines: unknown[], name = 'd.jsonl'): DataSource => ({ name, text: lines.map((l) => JSON.stringify(l)).join('\n'), format: 'jsonl' });
const lm: DatasetOptions = { task: 'causal_lm', tokenizer: byte, seqLen: 8 };
const a = 97;
const b = 98;

describe('bigram baseline, by hand', () => {
  // Training row "abab": unigram a 2, b 2 (N = 4); pairs ab 2, ba 1; c(a) = 2, c(b) = 1. V = 256.
  const d = buildDataset(text('abab'), lm, text('ba', 'v.txt'));

  it('counts the training pairs', () => {
    const m = BigramModel.fit(d.train, 256, 1);
    expect(m.counts(a, b)).toEqual([2, 2]);
    expect(m.counts(b, a)).toEqual([1, 1]);
    expect(m.counts(b, b)).toEqual([0, 1]);
    expect(m.counts(undefined, a)).toEqual([2, 4]);
    expect(m.logProb(a, b)).toBeCloseTo(Math.log(3 / 258), 14);
  });

  it('P = 0: the validation row "ba" has one position, b → a: p = (1 + 1) / (1 + 256)', () => {
    const r = bigramBaseline(new Batcher(d, { batchSize: 2 }), { k: 1 });
    expect(r).toMatchObject({ kind: 'bigram', positions: 1, k: 1, classes: 256 });
    expect(r.nats).toBeCloseTo(Math.log(257 / 2), 12);
    expect(r.perplexity).toBeCloseTo(257 / 2, 9);
  });

  it('P = 2: the last soft position predicts b from the unigram, (2 + 1) / (4 + 256)', () => {
    const r = bigramBaseline(new Batcher(d, { batchSize: 1, promptLength: 2 }), { k: 1 });
    expect(r.positions).toBe(2);
    expect(r.nats).toBeCloseTo((Math.log(260 / 3) + Math.log(257 / 2)) / 2, 12);
  });

  it('k and V as given', () => {
    const r = bigramBaseline(new Batcher(d, { batchSize: 2 }), { k: 0.5, classes: 300 });
    expect(r.nats).toBeCloseTo(-Math.log((1 + 0.5) / (1 + 0.5 * 300)), 12);
    expect(() => bigramBaseline(new Batcher(d, { batchSize: 2 }), { k: 0 })).toThrow('smoothing k must be > 0, got 0');
    expect(() => bigramBaseline(new Batcher(d, { batchSize: 2 }), { classes: 50 })).toThrow('baseline: id 97 is outside [0, 50)');
  });

  it('counts only the loss\'s pairs of prompt/completion rows and scores only completions', () => {
    // row "abab" with prompt "ab": targets a (t=2), b (t=3) → unigram a 1, b 1; pairs ba 1, ab 1.
    const pd = buildDataset(jsonl([{ prompt: 'ab', completion: 'ab' }]), lm, jsonl([{ prompt: 'b', completion: 'a' }], 'v.jsonl'));
    const m = BigramModel.fit(pd.train, 256, 1);
    expect(m.counts(undefined, a)).toEqual([1, 2]);
    expect(m.counts(a, b)).toEqual([1, 1]);
    expect(m.counts(b, a)).toEqual([1, 1]);
    for (const P of [0, 1]) {
      const r = bigramBaseline(new Batcher(pd, { batchSize: 1, promptLength: P }), { k: 1 });
      expect(r.positions).toBe(1);
      expect(r.nats).toBeCloseTo(Math.log(257 / 2), 12);
    }
  });
});

describe('choosing k', () => {
  const rows = (s: string[]) => buildDataset(jsonl(s.map((t) => ({ text: t }))), { ...lm, validFraction: 0 }).train;

  it('takes the smallest k when the held-out pairs were all seen, the largest when they were not', () => {
    expect(chooseK(rows([...Array(9).fill('abab'), 'abab']), 256)).toBe(K_GRID[K_GRID.length - 1]);
    expect(chooseK(rows([...Array(9).fill('abab'), 'acac']), 256)).toBe(1);
    expect(chooseK(rows(['ab']), 256)).toBe(1);
  });

  it('is the default, chosen from the training rows only', () => {
    const d = buildDataset(text('abab'.repeat(20)), { ...lm, validFraction: 0.1 });
    const r = bigramBaseline(new Batcher(d, { batchSize: 4 }));
    expect(K_GRID).toContain(r.k);
    expect(r.k).toBe(chooseK(d.train, 256));
  });
});

describe('class-prior baseline', () => {
  it('is the smoothed training label frequency: p(0) = 3/5, p(1) = 2/5 with k = 1', () => {
    const d = buildDataset(jsonl([{ text: 'x', label: 0 }, { text: 'y', label: 0 }, { text: 'z', label: 1 }]), { ...lm, task: 'classification' }, jsonl([{ text: 'u', label: 0 }, { text: 'v', label: 1 }], 'v.jsonl'));
    const r = baseline(new Batcher(d, { batchSize: 4 }));
    expect(r).toMatchObject({ kind: 'class-prior', positions: 2, k: 1, classes: 2 });
    expect(r.nats).toBeCloseTo((Math.log(5 / 3) + Math.log(5 / 2)) / 2, 12);
    expect(classPriorBaseline(new Batcher(d, { batchSize: 1 }), { k: 0.5, classes: 3 }).nats).toBeCloseTo((Math.log(4.5 / 2.5) + Math.log(4.5 / 1.5)) / 2, 12);
  });
});

describe('on a corpus', () => {
  it('scores exactly the positions of validationBatches(), and beats the unigram bound', () => {
    const d = loadDataset({ data: 'sotu:2017-2021', task: 'causal_lm', tokenizer: byte, seqLen: 64 });
    const batcher = new Batcher(d, { batchSize: 8, promptLength: 3 });
    const r = baseline(batcher);
    expect(r.positions).toBe(batcher.validationBatches().reduce((s, x) => s + countTargets(x.targets), 0));
    expect(r.positions).toBeGreaterThan(10_000);
    expect(r.nats).toBeGreaterThan(1.5);
    expect(r.nats).toBeLessThan(3); // uniform over bytes would be ln 256 = 5.55
    expect(baseline(new Batcher(d, { batchSize: 8, promptLength: 3 }))).toEqual(r);
  });

  it('returns NaN without validation rows', () => {
    const d = buildDataset(text('abcdef'), { ...lm, validFraction: 0 });
    expect(baseline(new Batcher(d, { batchSize: 2 }), { k: 1 })).toMatchObject({ positions: 0, nats: NaN });
  });
});
