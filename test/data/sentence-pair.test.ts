// Sentence pairs for classification: `{"text": …, "text_pair": …, "label": …}` gives token types
// 0 then 1, written by the tokenizer's post-processor when it has one (BERT's [CLS] a [SEP] b
// [SEP]), else the texts joined; batches carry them as `token_types` [B, P+T] (0 for the soft
// prompt and padding); a missing or non-string text_pair is a one-line DataError naming the line.
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../runtime/data/batches.ts';
import { buildDataset, type DataSource } from '../../runtime/data/dataset.ts';
import { DataError } from '../../runtime/data/source.ts';
import { encodePair } from '../../runtime/data/sentence-pair.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { HfJsonTokenizer } from '../../runtime/data/tokenizers/hf-json.ts';

const byte = tokenizerByName('byte');
const src = (lines: unknown[]): DataSource => ({ name: 'pairs.jsonl', text: lines.map((l) => JSON.stringify(l)).join('\n'), format: 'jsonl' });

// BERT's tokenizer.json, cut down: WordPiece with BERT's template post-processor.
const BERT_TOKENIZER = {
  version: '1.0',
  added_tokens: ['[UNK]', '[CLS]', '[SEP]', '[PAD]'].map((content, id) => ({ id, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false })),
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
    special_tokens: { '[CLS]': { id: '[CLS]', ids: [1], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [2], tokens: ['[SEP]'] } },
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2, '[PAD]': 3, hello: 4, world: 5, '##s': 6, un: 7, '##aff': 8, '##able': 9, ',': 10, '!': 11 } },
};

describe('sentence pairs', () => {
  it("a BERT tokenizer writes [CLS] a [SEP] b [SEP] with types 0 … 0 1 … 1, as transformers' tokenizer(text, text_pair)", () => {
    const tok = new HfJsonTokenizer('bert', BERT_TOKENIZER);
    expect(encodePair(tok, 'Hello world', 'unaffable!')).toEqual({ tokens: Int32Array.of(1, 4, 5, 2, 7, 8, 9, 11, 2), types: Int32Array.of(0, 0, 0, 0, 1, 1, 1, 1, 1) });
  });

  it('a tokenizer without a pair template joins the texts: types 0 for the first, 1 for the second', () => {
    expect(encodePair(byte, 'ab', 'cde')).toEqual({ tokens: Int32Array.of(97, 98, 99, 100, 101), types: Int32Array.of(0, 0, 1, 1, 1) });
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
  });

  it('a text_pair that is not a string is a DataError naming the line', () => {
    const bad = () => buildDataset(src([{ text: 'a', label: 0 }, { text: 'b', text_pair: 3, label: 1 }]), { task: 'classification', tokenizer: byte, seqLen: 4, numLabels: 2 });
    expect(bad).toThrow(DataError);
    expect(bad).toThrow('pairs.jsonl:2: "text_pair" must be a string, got 3');
  });
});
