// A classification row from `{"text": …}` or a sentence pair `{"text": …, "text_pair": …}`, as
// transformers' tokenizer(text[, text_pair], truncation=True, max_length=T) builds it when the
// tokenizer has a post-processor (a tokenizer.json: BERT's `[CLS] text [SEP]` and
// `[CLS] a [SEP] b [SEP]`, token types 0 … 0 1 … 1): the texts are cut to leave room for the
// special tokens, a pair by the tokenizers library's longest_first rule (utils/truncation.rs),
// then framed. Without a post-processor the texts are joined (a pair's types 0 then 1) and the
// row is cut to T from its end.
import { DataError } from './source.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface ClassificationRow {
  tokens: Int32Array;
  /** Token types, for a pair or when the post-processor gives a single text any type but 0. */
  types?: Int32Array;
  /** Whether text was cut to fit T. */
  truncated: boolean;
}

/** `a`, `b`: the texts' ids without special tokens; `where` names the line in errors. */
export function classificationRow(tok: Tokenizer, a: Int32Array, b: Int32Array | undefined, T: number, where: string): ClassificationRow {
  if (!tok.frame) return joined(a, b, T);
  const added = tok.frame([], b && []).ids.length;
  const room = T - added;
  if (room < 1) throw new DataError(`${where}: rows of ${T} tokens leave no room for text: the tokenizer adds ${added} special tokens${b ? ' to a pair' : ''}; use a longer sequence`);
  const [n1, n2] = longestFirst(a.length, b?.length ?? 0, room);
  const framed = tok.frame(Array.from(a.subarray(0, n1)), b && Array.from(b.subarray(0, n2)));
  const types = b || framed.types.some((t) => t !== 0) ? { types: Int32Array.from(framed.types) } : {};
  return { tokens: Int32Array.from(framed.ids), ...types, truncated: n1 < a.length || n2 < (b?.length ?? 0) };
}

/**
 * How many ids of each text fit `max` (tokenizers' TruncationStrategy::LongestFirst): the
 * shorter text whole if the longer can have the rest, else max/2 each (the odd one to the
 * longer, the second on a tie).
 */
export function longestFirst(n1: number, n2: number, max: number): [number, number] {
  if (n1 + n2 <= max) return [n1, n2];
  const swap = n1 > n2;
  let [short, long] = swap ? [n2, n1] : [n1, n2];
  long = short > max ? short : Math.max(short, max - short);
  if (short + long > max) {
    short = Math.floor(max / 2);
    long = short + (max % 2);
  }
  return swap ? [long, short] : [short, long];
}

function joined(a: Int32Array, b: Int32Array | undefined, T: number): ClassificationRow {
  const n = a.length + (b?.length ?? 0);
  const tokens = new Int32Array(n);
  tokens.set(a);
  if (b) tokens.set(b, a.length);
  const cut = Math.min(n, T);
  return { tokens: tokens.subarray(0, cut), ...(b ? { types: new Int32Array(n).fill(1, a.length).subarray(0, cut) } : {}), truncated: n > T };
}
