// Datasets: each format, the prompt/completion loss mask, classification labels, the
// validation split, and every error message (with file:line) for bad input.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDataset, DataError, describeDataset, type DataSource, type DatasetOptions } from '../../runtime/data/dataset.ts';
import { formatOf, readDataFile } from '../../runtime/data/read-node.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';

const byte = tokenizerByName('byte');
const gpt2 = tokenizerByName('gpt2');
const lm = (seqLen: number, more: Partial<DatasetOptions> = {}): DatasetOptions => ({ task: 'causal_lm', tokenizer: byte, seqLen, ...more });
const cls = (seqLen: number, more: Partial<DatasetOptions> = {}): DatasetOptions => ({ task: 'classification', tokenizer: byte, seqLen, ...more });
const text = (t: string, name = 'corpus.txt'): DataSource => ({ name, text: t, format: 'text' });
const jsonl = (lines: unknown[], name = 'data.jsonl'): DataSource => ({ name, text: lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'), format: 'jsonl' });
const ids = (r: { tokens: Int32Array }): number[] => Array.from(r.tokens);
const str = (r: { tokens: Int32Array }): string => byte.decode(ids(r));

describe('plain text (language modelling)', () => {
  it('cuts the token stream into rows of T; the last shorter row is kept', () => {
    const d = buildDataset(text('abcdefghij'), lm(4, { validFraction: 0 }));
    expect(d.train.map(str)).toEqual(['abcd', 'efgh', 'ij']);
    expect(d.train.every((r) => r.lossFrom === 0 && r.label === undefined)).toBe(true);
    expect(d.valid).toEqual([]);
    expect(d.stats.valid.source).toBe('none');
  });

  it('drops a last row of one token (nothing to predict)', () => {
    expect(buildDataset(text('abcdefghi'), lm(4, { validFraction: 0 })).train.map(str)).toEqual(['abcd', 'efgh']);
  });

  it('holds out the last fraction of the tokens for validation, deterministically', () => {
    const t = 'abcdefghijklmnopqrst'; // 20 tokens
    const d = buildDataset(text(t), lm(4, { validFraction: 0.25 }));
    expect(d.train.map(str).join('')).toBe('abcdefghijklmno');
    expect(d.valid.map(str)).toEqual(['pqrs']); // 'pqrst' in rows of 4; the lone 't' predicts nothing
    expect(d.stats.valid.source).toBe('last 25% of corpus.txt');
    expect(d.stats.train.tokens).toBe(15);
    // default 10%: 2 tokens
    const d10 = buildDataset(text(t), lm(8));
    expect(d10.valid.map(str)).toEqual(['st']);
    expect(d10.train.map(str).join('')).toBe('abcdefghijklmnopqr');
  });

  it('takes a separate validation source instead of holding out', () => {
    const d = buildDataset(text('abcdefgh'), lm(4), text('xyz', 'valid.txt'));
    expect(d.train.map(str)).toEqual(['abcd', 'efgh']);
    expect(d.valid.map(str)).toEqual(['xyz']);
    expect(d.stats.valid.source).toBe('valid.txt');
  });

  it('tokenizes with GPT-2 BPE', () => {
    const d = buildDataset(text('Hello world'), lm(8, { tokenizer: gpt2, validFraction: 0 }));
    expect(d.train.map(ids)).toEqual([[15496, 995]]);
  });

  it('drops a byte-order mark', () => {
    expect(buildDataset(text('\uFEFFabcd'), lm(4, { validFraction: 0 })).train.map(str)).toEqual(['abcd']);
  });
});

describe('JSONL documents and prompt/completion pairs', () => {
  it('makes one row per {"text"} document, cut into T-token rows, eos appended when there is one', () => {
    const src = jsonl([{ text: 'abc' }, { text: 'defghij' }]);
    const d = buildDataset(src, lm(4, { validFraction: 0 }));
    expect(d.train.map(str)).toEqual(['abc', 'defg', 'hij']);
    expect(d.stats.train.truncated).toBe(1);
    const g = buildDataset(jsonl([{ text: 'Hello world' }]), lm(8, { tokenizer: gpt2, validFraction: 0 }));
    expect(g.train.map(ids)).toEqual([[15496, 995, 50256]]);
  });

  it('marks the completion as the only loss target', () => {
    const d = buildDataset(jsonl([{ prompt: 'Q: 1+1? A:', completion: ' 2' }, { prompt: '', completion: 'xy' }]), lm(16, { validFraction: 0 }));
    expect(d.train.map(str)).toEqual(['Q: 1+1? A: 2', 'xy']);
    expect(d.train.map((r) => r.lossFrom)).toEqual([10, 0]);
    const g = buildDataset(jsonl([{ prompt: 'Hello', completion: ' world' }]), lm(8, { tokenizer: gpt2, validFraction: 0 }));
    expect(g.train[0]).toMatchObject({ lossFrom: 1 });
    expect(ids(g.train[0]!)).toEqual([15496, 995, 50256]);
  });

  it('cuts long pairs to T and drops those whose prompt fills the row', () => {
    const d = buildDataset(jsonl([{ prompt: 'abc', completion: 'defgh' }, { prompt: 'abcd', completion: 'e' }, { prompt: 'a', completion: 'b' }]), lm(4, { validFraction: 0 }));
    expect(d.train.map(str)).toEqual(['abcd', 'ab']);
    expect(d.stats.train).toMatchObject({ examples: 3, rows: 2, truncated: 1, dropped: 1 });
  });

  it('mixes documents and pairs, skips blank lines, accepts CRLF', () => {
    const src: DataSource = { name: 'mix.jsonl', text: '{"text":"ab"}\r\n\r\n  \n{"prompt":"c","completion":"d"}\r\n', format: 'jsonl' };
    const d = buildDataset(src, lm(4, { validFraction: 0 }));
    expect(d.train.map(str)).toEqual(['ab', 'cd']);
    expect(d.train.map((r) => r.lossFrom)).toEqual([0, 1]);
  });

  it('holds out the last fraction of the examples (at least one)', () => {
    const lines = Array.from({ length: 10 }, (_, i) => ({ text: `doc ${i}` }));
    const d = buildDataset(jsonl(lines), lm(16));
    expect(d.valid.map(str)).toEqual(['doc 9']);
    expect(d.train.map(str)).toEqual(lines.slice(0, 9).map((l) => l.text));
    const d3 = buildDataset(jsonl(lines.slice(0, 3)), lm(16, { validFraction: 0.01 }));
    expect(d3.valid.map(str)).toEqual(['doc 2']);
    const d5 = buildDataset(jsonl(lines), lm(16, { validFraction: 0.5 }));
    expect(d5.valid.map(str)).toEqual(['doc 5', 'doc 6', 'doc 7', 'doc 8', 'doc 9']);
  });
});

describe('classification', () => {
  it('reads integer labels as ids and counts them', () => {
    const d = buildDataset(jsonl([{ text: 'good', label: 1 }, { text: 'bad', label: 0 }, { text: 'fine', label: 1 }]), cls(8, { validFraction: 0 }));
    expect(d.train.map((r) => [str(r), r.label])).toEqual([['good', 1], ['bad', 0], ['fine', 1]]);
    expect(d.labels).toEqual(['0', '1']);
    expect(d.stats.train.labelCounts).toEqual([1, 2]);
    expect(describeDataset(d)).toContain('labels: 0 (1), 1 (2)');
  });

  it('names all numLabels labels when given', () => {
    expect(buildDataset(jsonl([{ text: 'a', label: 0 }]), cls(8, { validFraction: 0, numLabels: 3 })).labels).toEqual(['0', '1', '2']);
  });

  it('maps string labels to ids in first-seen order, training file first, and reports them', () => {
    const train = jsonl([{ text: 'a', label: 'pos' }, { text: 'b', label: 'neg' }, { text: 'c', label: 'pos' }], 'train.jsonl');
    const valid = jsonl([{ text: 'd', label: 'neutral' }, { text: 'e', label: 'neg' }], 'valid.jsonl');
    const d = buildDataset(train, cls(8), valid);
    expect(d.labels).toEqual(['pos', 'neg', 'neutral']);
    expect(d.train.map((r) => r.label)).toEqual([0, 1, 0]);
    expect(d.valid.map((r) => r.label)).toEqual([2, 1]);
    expect(describeDataset(d)).toContain('labels: 0="pos" (2), 1="neg" (1), 2="neutral" (0)');
  });

  it('cuts long texts to T tokens', () => {
    const d = buildDataset(jsonl([{ text: 'abcdefgh', label: 0 }]), cls(4, { validFraction: 0 }));
    expect(d.train.map(str)).toEqual(['abcd']);
    expect(d.stats.train.truncated).toBe(1);
  });
});

describe('bad input is a DataError naming file:line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-data-'));
  const file = (name: string, content: string | Uint8Array): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const fails = (src: DataSource, opts: DatasetOptions, message: string, valid?: DataSource): void => {
    let err: unknown;
    try {
      buildDataset(src, opts, valid);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).name).toBe('DataError');
    expect((err as Error).message).toBe(message);
  };

  it('malformed JSON line', () => {
    const p = file('bad.jsonl', '{"text": "ok"}\n\n{"text": "oops"\n');
    const msg = `${p}:3: not valid JSON (`;
    expect(() => buildDataset(readDataFile(p), lm(8))).toThrow(msg);
    expect(() => buildDataset(readDataFile(p), lm(8))).toThrow('each line must be one JSON object');
  });

  it('a line that is not an object', () => {
    const p = file('arr.jsonl', '{"text": "ok"}\n["text"]\n');
    fails(readDataFile(p), lm(8), `${p}:2: expected a JSON object like {"text": "…"} or {"prompt": "…", "completion": "…"}`);
    fails(readDataFile(p), cls(8), `${p}:1: missing "label" (a classification line is {"text": "…", "label": …})`);
    fails(jsonl(['{"text": "a", "label": 0}', '3']), cls(8), 'data.jsonl:2: expected a JSON object like {"text": "…", "label": 0}');
  });

  it('missing or ill-typed fields', () => {
    fails(jsonl([{ text: 'a' }, { prompt: 'q' }]), lm(8), 'data.jsonl:2: missing "completion" (a prompt/completion line is {"prompt": "…", "completion": "…"})');
    fails(jsonl([{ completion: 'c' }]), lm(8), 'data.jsonl:1: missing "prompt" (a prompt/completion line is {"prompt": "…", "completion": "…"})');
    fails(jsonl([{ body: 'a' }]), lm(8), 'data.jsonl:1: missing "text" (a line is {"text": "…"} or {"prompt": "…", "completion": "…"})');
    fails(jsonl([{ text: 5 }]), lm(8), 'data.jsonl:1: "text" must be a string, got 5');
    fails(jsonl([{ text: '' }]), lm(8), 'data.jsonl:1: "text" is empty');
    fails(jsonl([{ prompt: 'q', completion: '' }]), lm(8), 'data.jsonl:1: "completion" is empty');
    fails(jsonl([{ label: 1 }]), cls(8), 'data.jsonl:1: missing "text" (a classification line is {"text": "…", "label": …})');
  });

  it('empty datasets', () => {
    fails(readDataFile(file('empty.txt', ' \n\n')), lm(8), `${join(dir, 'empty.txt')}: empty dataset: there is no text`);
    fails(readDataFile(file('empty.jsonl', '\n  \n')), lm(8), `${join(dir, 'empty.jsonl')}: empty dataset: no JSON lines`);
    fails(jsonl([{ prompt: 'abcdefgh', completion: 'i' }]), lm(4, { validFraction: 0 }), 'data.jsonl: empty dataset: no training rows (1 examples dropped because the prompt fills all 4 tokens)');
  });

  it('labels out of range, of the wrong type or mixed', () => {
    const p = file('labels.jsonl', '{"text": "a", "label": 1}\n{"text": "b", "label": 3}\n');
    fails(readDataFile(p), cls(8, { numLabels: 2 }), `${p}:2: label 3 is out of range: the model has 2 labels (0…1)`);
    fails(jsonl([{ text: 'a', label: 'x' }, { text: 'b', label: 'y' }, { text: 'c', label: 'z' }]), cls(8, { numLabels: 2 }), 'data.jsonl:3: label "z" is label number 3, out of range: the model has 2 labels (0…1); labels so far: "x", "y"');
    fails(jsonl([{ text: 'a', label: -1 }]), cls(8), 'data.jsonl:1: label -1 is not an integer ≥ 0');
    fails(jsonl([{ text: 'a', label: 0.5 }]), cls(8), 'data.jsonl:1: label 0.5 is not an integer ≥ 0');
    fails(jsonl([{ text: 'a', label: true }]), cls(8), 'data.jsonl:1: "label" must be an integer ≥ 0 or a string, got true');
    fails(jsonl([{ text: 'a', label: 0 }, { text: 'b', label: 'pos' }]), cls(8), 'data.jsonl:2: label is a string but earlier labels are integers; use one kind in a dataset');
    fails(jsonl([{ text: 'a', label: 0 }, { text: 'b', label: 1 }]), cls(8, { numLabels: 2 }), 'valid.jsonl:1: label 7 is out of range: the model has 2 labels (0…1)', jsonl([{ text: 'c', label: 7 }], 'valid.jsonl'));
  });

  it('classification needs JSONL', () => {
    fails(text('some text'), cls(8), 'corpus.txt: classification needs labelled JSONL, one {"text": "…", "label": …} per line; this is plain text');
  });

  it('too little data for a validation split', () => {
    fails(jsonl([{ text: 'only' }]), lm(8), 'data.jsonl: 1 example is too few to hold out a validation split; add examples or give a separate validation file (--valid)');
    fails(text('abc'), lm(8), 'corpus.txt: too few tokens (3) to hold out a validation split; add text or give a separate validation file (--valid)');
  });

  it('bad options', () => {
    fails(text('abcdef'), lm(1), 'sequence length must be an integer ≥ 2, got 1');
    fails(text('abcdef'), lm(4, { validFraction: 1 }), 'validation fraction must be in [0, 1), got 1');
    fails(text('abcdef'), lm(4, { validFraction: -0.1 }), 'validation fraction must be in [0, 1), got -0.1');
  });

  it('token ids beyond the model vocabulary', () => {
    fails(text('abc\u00e9', 'x.txt'), lm(8, { validFraction: 0, modelVocab: 128 }), "x.txt: token id 195 is outside the model's vocabulary of 128 (tokenizer byte has 256 ids); use a tokenizer that fits the model");
    expect(buildDataset(text('abc'), lm(8, { validFraction: 0, modelVocab: 128 })).train).toHaveLength(1);
  });

  it('files that cannot be read', () => {
    const missing = join(dir, 'nope.txt');
    expect(() => readDataFile(missing)).toThrow(new DataError(`${missing}: no such file`));
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    expect(() => readDataFile(sub)).toThrow(new DataError(`${sub}: is a directory, not a data file; give a regular text or .jsonl file`));
    const latin1 = file('latin1.txt', Uint8Array.of(0x63, 0x61, 0x66, 0xe9));
    fails(readDataFile(latin1), lm(8), `${latin1}:1: not UTF-8 text (byte 0xe9 at offset 3); data files must be UTF-8 text`);
    const latin1Mid = file('latin1-mid.txt', Uint8Array.of(0x61, 0x0a, 0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b));
    fails(readDataFile(latin1Mid), lm(8), `${latin1Mid}:2: not UTF-8 text (byte 0xe9 at offset 5); data files must be UTF-8 text`);
  });
});

it('chooses the format by extension', () => {
  expect(formatOf('a/b.jsonl')).toBe('jsonl');
  expect(formatOf('B.NDJSON')).toBe('jsonl');
  expect(formatOf('notes.txt')).toBe('text');
  expect(formatOf('README')).toBe('text');
});
