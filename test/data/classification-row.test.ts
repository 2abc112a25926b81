// Classification rows: `{"text": …}` and `{"text": …, "text_pair": …}` with the tokenizer's
// special tokens and token types as transformers' tokenizer(text[, text_pair], truncation=True,
// max_length=T) writes them (a BERT tokenizer.json: [CLS] a [SEP], [CLS] a [SEP] b [SEP], types
// 0 … 0 1 … 1), texts cut by the tokenizers library's longest_first rule to leave room for them;
// without a post-processor the texts are joined (types 0 then 1) and cut from the end. The ids
// below are derived by hand from the small vocabulary and the post-processor configs. Batches
// carry the types as `token_types` [B, P+T] (0 for the soft prompt and padding); bad lines and
// rows too short for the special tokens are one-line DataErrors naming the line.
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../runtime/data/batches.ts';
import { classificationRow, longestFirst } from '../../runtime/data/classification-row.ts';
import { buildDataset, type DataSource } from '../../runtime/data/dataset.ts';
import { DataError } from '../../runtime/data/source.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { HfJsonTokenizer } from '../../runtime/data/tokenizers/hf-json.ts';

const byte = tokenizerByName('byte');
const src = (lines: unknown[]): DataSource => ({ name: 'pairs.jsonl', text: lines.map((l) => JSON.stringify(l)).join('\n'), format: 'jsonl' });

const TEMPLATE = {
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
  pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
  special_tokens: { '[CLS]': { id: '[CLS]', ids: [1], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [2], tokens: ['[SEP]'] } },
};
// BERT's tokenizer.json (bert-base-uncased), cut down: WordPiece with BERT's template post-processor.
const bert = (postProcessor: unknown = TEMPLATE) => ({
  version: '1.0',
  added_tokens: ['[UNK]', '[CLS]', '[SEP]', '[PAD]'].map((content, id) => ({ id, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false })),
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: postProcessor,
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2, '[PAD]': 3, hello: 4, world: 5, '##s': 6, un: 7, '##aff': 8, '##able': 9, ',': 10, '!': 11 } },
});
const BERT = new HfJsonTokenizer('bert', bert());
// hello 4, world 5, un ##aff ##able 7 8 9, ! 11; [CLS] 1, [SEP] 2.
const rows = (tok: HfJsonTokenizer, lines: unknown[], seqLen: number) => buildDataset(src(lines), { task: 'classification', tokenizer: tok, seqLen, validFraction: 0, numLabels: 2 });
const ids = (d: ReturnType<typeof rows>) => d.train.map((r) => [Array.from(r.tokens), r.types && Array.from(r.types)]);

describe('a BERT tokenizer.json: special tokens and token types as transformers writes them', () => {
  it('a single text is [CLS] text [SEP], type 0 everywhere (no token_types needed)', () => {
    expect(ids(rows(BERT, [{ text: 'Hello world', label: 0 }], 16))).toEqual([[[1, 4, 5, 2], undefined]]);
  });

  it('a pair is [CLS] a [SEP] b [SEP], types 0 through the first [SEP], then 1', () => {
    expect(ids(rows(BERT, [{ text: 'Hello world', text_pair: 'unaffable!', label: 1 }], 16))).toEqual([[[1, 4, 5, 2, 7, 8, 9, 11, 2], [0, 0, 0, 0, 1, 1, 1, 1, 1]]]);
  });

  it('a long text is cut before its [SEP], which stays (truncation=True, max_length=T)', () => {
    const d = rows(BERT, [{ text: 'hello world hello world', label: 0 }], 4);
    expect(ids(d)).toEqual([[[1, 4, 5, 2], undefined]]);
    expect(d.stats.train.truncated).toBe(1);
  });

  it('a long pair is cut longest-first: the shorter text whole when the longer can take the rest, else half each', () => {
    // a = hello (1), b = un ##aff ##able ! world (5); T = 6 leaves 3: a whole, b its first 2.
    expect(ids(rows(BERT, [{ text: 'hello', text_pair: 'unaffable! world', label: 0 }], 6))).toEqual([[[1, 4, 2, 7, 8, 2], [0, 0, 0, 1, 1, 1]]]);
    // a = hello world hello (3), b = 5; T = 8 leaves 5: a 2, b 3.
    expect(ids(rows(BERT, [{ text: 'hello world hello', text_pair: 'unaffable! world', label: 0 }], 8))).toEqual([[[1, 4, 5, 2, 7, 8, 9, 2], [0, 0, 0, 0, 1, 1, 1, 1]]]);
  });

  it('BertProcessing and RobertaProcessing configs frame as the tokenizers library does', () => {
    const bp = new HfJsonTokenizer('bp', bert({ type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] }));
    expect(ids(rows(bp, [{ text: 'Hello world', label: 0 }, { text: 'hello', text_pair: 'world', label: 1 }], 16))).toEqual([
      [[1, 4, 5, 2], undefined],
      [[1, 4, 2, 5, 2], [0, 0, 0, 1, 1]],
    ]);
    const rp = new HfJsonTokenizer('rp', bert({ type: 'RobertaProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1], trim_offsets: true, add_prefix_space: false }));
    expect(ids(rows(rp, [{ text: 'hello', text_pair: 'world', label: 1 }], 16))).toEqual([[[1, 4, 2, 2, 5, 2], [0, 0, 0, 0, 0, 0]]]);
  });

  it('a template special token of several ids, and a Sequence with ByteLevel, frame as the template says', () => {
    const two = { ...TEMPLATE, special_tokens: { ...TEMPLATE.special_tokens, '[CLS]': { id: '[CLS]', ids: [1, 3], tokens: ['[CLS]', '[PAD]'] } } };
    const tok = new HfJsonTokenizer('two', bert({ type: 'Sequence', processors: [{ type: 'ByteLevel', trim_offsets: false }, two] }));
    expect(tok.frame(Array.of(4), Array.of(5))).toEqual({ ids: [1, 3, 4, 2, 5, 2], types: [0, 0, 0, 0, 1, 1] });
  });

  it('without a post-processor (GPT-2\'s ByteLevel) nothing is added; a pair is joined, types 0 then 1', () => {
    const plain = new HfJsonTokenizer('plain', bert({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }));
    expect(ids(rows(plain, [{ text: 'Hello world', label: 0 }, { text: 'hello', text_pair: 'world', label: 1 }], 16))).toEqual([
      [[4, 5], undefined],
      [[4, 5], [0, 1]],
    ]);
  });

  it('rows too short for the special tokens, and post-processors it cannot read, are one-line DataErrors', () => {
    const short = () => rows(BERT, [{ text: 'hello', label: 0 }], 2);
    expect(short).toThrow(DataError);
    expect(short).toThrow('pairs.jsonl:1: rows of 2 tokens leave no room for text: the tokenizer adds 2 special tokens; use a longer sequence');
    expect(() => rows(BERT, [{ text: 'hello', text_pair: 'world', label: 0 }], 3)).toThrow('pairs.jsonl:1: rows of 3 tokens leave no room for text: the tokenizer adds 3 special tokens to a pair; use a longer sequence');
    expect(() => new HfJsonTokenizer('odd', bert({ type: 'Mystery' }))).toThrow('odd: cannot build the tokenizer: Unknown PostProcessor type: Mystery');
    const seq = { type: 'Sequence', processors: [TEMPLATE, { type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] }] };
    expect(() => new HfJsonTokenizer('seq', bert(seq))).toThrow('seq: "post_processor": a Sequence of 2 post-processors that add tokens is not supported');
    const noIds = { ...TEMPLATE, special_tokens: {} };
    expect(() => new HfJsonTokenizer('t', bert(noIds))).toThrow('t: "post_processor": TemplateProcessing\'s special token "[CLS]" has no ids in "special_tokens"');
  });
});

describe('longest_first (tokenizers\' utils/truncation.rs)', () => {
  it.each([
    [2, 3, 10, [2, 3]], // fits
    [1, 5, 3, [1, 2]], // the longer takes the rest
    [10, 3, 8, [5, 3]],
    [8, 8, 10, [5, 5]], // both cut: half each
    [8, 8, 11, [5, 6]], // the odd one to the second on a tie
    [9, 7, 11, [6, 5]], // … to the longer otherwise
    [20, 9, 5, [3, 2]],
  ])('%i + %i into %i', (n1, n2, max, want) => {
    expect(longestFirst(n1, n2, max)).toEqual(want);
  });
});

describe('a tokenizer without a post-processor (bytes)', () => {
  it('joins a pair: types 0 for the first text, 1 for the second', () => {
    expect(classificationRow(byte, Int32Array.of(97, 98), Int32Array.of(99, 100, 101), 8, 'x')).toEqual({ tokens: Int32Array.of(97, 98, 99, 100, 101), types: Int32Array.of(0, 0, 1, 1, 1), truncated: false });
  });

  it('batches carry token_types [B, P+T]: the soft prompt, single texts and padding are type 0', () => {
    const d = buildDataset(src([{ text: 'ab', text_pair: 'cd', label: 1 }, { text: 'xyz', label: 0 }]), { task: 'classification', tokenizer: byte, seqLen: 6, validFraction: 0, numLabels: 2 });
    const batch = new Batcher(d, { batchSize: 3, promptLength: 2, shuffle: false }).encode(d.train);
    expect(batch.extra.token_types!.shape).toEqual([3, 8]);
    expect(Array.from(batch.extra.token_types!.data)).toEqual([0, 0, 0, 0, 1, 1, 0, 0, /**/ 0, 0, 0, 0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, 0, 0, 0]);
    const single = buildDataset(src([{ text: 'xyz', label: 0 }]), { task: 'classification', tokenizer: byte, seqLen: 6, validFraction: 0, numLabels: 2 });
    expect(new Batcher(single, { batchSize: 1 }).encode(single.train).extra.token_types).toBeUndefined();
  });

  it('a pair longer than the row is cut from its end (the second text first)', () => {
    const d = buildDataset(src([{ text: 'abc', text_pair: 'defgh', label: 0 }]), { task: 'classification', tokenizer: byte, seqLen: 5, validFraction: 0, numLabels: 1 });
    expect(Array.from(d.train[0]!.tokens)).toEqual([97, 98, 99, 100, 101]);
    expect(Array.from(d.train[0]!.types!)).toEqual([0, 0, 0, 1, 1]);
    expect(d.stats.train.truncated).toBe(1);
  });

  it('a text_pair that is not a string is a DataError naming the line', () => {
    const bad = () => buildDataset(src([{ text: 'a', label: 0 }, { text: 'b', text_pair: 3, label: 1 }]), { task: 'classification', tokenizer: byte, seqLen: 4, numLabels: 2 });
    expect(bad).toThrow(DataError);
    expect(bad).toThrow('pairs.jsonl:2: "text_pair" must be a string, got 3');
  });
});
