// Sentence pairs for classification (`{"text": …, "text_pair": …, "label": …}`): one row of ids
// with each position's token type, 0 for the first text and 1 for the second, as BERT's
// token_type_ids. A tokenizer that knows how pairs are written (a tokenizer.json with a
// post-processor: BERT's `[CLS] a [SEP] b [SEP]`) writes them; the others join the two texts.
import type { Tokenizer } from './tokenizer.ts';
import { encodeText } from './token-stream.ts';

export interface EncodedPair {
  tokens: Int32Array;
  types: Int32Array;
}

export function encodePair(tok: Tokenizer, text: string, pair: string): EncodedPair {
  const own = tok.encodePair?.(text, pair);
  if (own) return { tokens: Int32Array.from(own.ids), types: Int32Array.from(own.types) };
  const a = encodeText(tok, text);
  const b = encodeText(tok, pair);
  const tokens = new Int32Array(a.length + b.length);
  tokens.set(a);
  tokens.set(b, a.length);
  return { tokens, types: new Int32Array(tokens.length).fill(1, a.length) };
}
