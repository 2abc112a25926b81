// peftc tokenize: the ids a tokenizer gives a text, as one JSON array (the same ids training,
// eval and generate use), so they can be compared with Hugging Face's; --decode goes back.
import { readFileSync } from 'node:fs';
import { encodeText } from '../runtime/data/token-stream.ts';
import { loadTokenizer } from '../runtime/data/tokenizers/load-node.ts';
import { UserError } from './grad.ts';

export interface TokenizeFlags {
  tokenizer: string;
  decode?: boolean;
}

/** Returns what to print: the ids of `text` (`-`: standard input), or with --decode the text of its ids. */
export function tokenizeText(text: string, flags: TokenizeFlags): string {
  const tok = loadTokenizer(flags.tokenizer);
  const input = text === '-' ? readFileSync(0, 'utf8') : text;
  if (!flags.decode) return JSON.stringify(Array.from(encodeText(tok, input)));
  return tok.decode(parseIds(input, tok.vocabSize));
}

function parseIds(text: string, vocab: number): number[] {
  let ids: unknown;
  try {
    ids = JSON.parse(text);
  } catch {
    throw new UserError('--decode takes a JSON array of token ids, like [15496, 995]');
  }
  if (!Array.isArray(ids)) throw new UserError('--decode takes a JSON array of token ids, like [15496, 995]');
  const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
  if (bad >= 0) throw new UserError(`--decode: id ${JSON.stringify(ids[bad])} at index ${bad} is not a token id of this tokenizer (0 … ${vocab - 1})`);
  return ids as number[];
}
