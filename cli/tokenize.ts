// peftc tokenize: the ids a tokenizer gives a text, as one JSON array (the same ids training,
// eval and generate use), so they can be compared with Hugging Face's; --decode goes back.
import { readSync } from 'node:fs';
import { bytes } from '../runtime/data/read-node.ts';
import { encodeText } from '../runtime/data/token-stream.ts';
import { loadTokenizer } from '../runtime/data/tokenizers/load-node.ts';
import { UserError } from './errors.ts';

export interface TokenizeFlags {
  tokenizer: string;
  decode?: boolean;
}

/** Returns what to print: the ids of `text` (`-`: standard input), or with --decode the text of its ids. */
export function tokenizeText(text: string, flags: TokenizeFlags): string {
  const tok = loadTokenizer(flags.tokenizer);
  const input = text === '-' ? readStdin() : text;
  if (!flags.decode) return JSON.stringify(Array.from(encodeText(tok, input)));
  return tok.decode(parseIds(input, tok.vocabSize));
}

/**
 * The most of standard input `tokenize -` reads. The ids of a text are printed as one JSON line,
 * about four characters per byte of text with the byte tokenizer: 16 MiB stays well inside one
 * JavaScript string, and is far more than a text checked against another tokenizer needs.
 */
export const MAX_STDIN_BYTES = 16 * 1024 * 1024;

/** All of standard input as UTF-8, refused once it passes `max` bytes (never read whole first). */
export function readStdin(fd = 0, max = MAX_STDIN_BYTES): string {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.alloc(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EOF') break;
      // A non-blocking pipe with nothing yet: wait a little, without spinning.
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw new UserError(`standard input: cannot read it (${code ?? (e as Error).message})`);
    }
    if (n === 0) break;
    total += n;
    if (total > max) throw new UserError(`standard input: more than ${bytes(max)}; \`peftc tokenize -\` takes texts up to that size (split a larger one)`);
    chunks.push(buf.subarray(0, n));
  }
  return Buffer.concat(chunks).toString('utf8');
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
