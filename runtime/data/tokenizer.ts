// Tokenizers: text ↔ token ids. Three are built in, all offline and isomorphic (no files,
// no Node APIs): `byte` (UTF-8 bytes, vocabulary 256, the default), `gpt2` (GPT-2's
// byte-level BPE, vocabulary 50257, <|endoftext|> = 50256: encoded by gpt-tokenizer, decoded by
// js-tiktoken; both ship the merge ranks as JS) and `llama` (LLaMA-1/2's
// SentencePiece BPE, vocabulary 32000, tokenizers/llama.ts). Any Hugging Face tokenizer.json
// is read by tokenizers/hf-json.ts (tokenizers/load-node.ts picks a name or a path).
import { GptEncoding } from 'gpt-tokenizer/GptEncoding';
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import { LlamaTokenizer } from './tokenizers/llama.ts';

export interface Tokenizer {
  readonly name: string;
  /** Ids are in [0, vocabSize). */
  readonly vocabSize: number;
  encode(text: string): number[];
  /** Never throws: invalid or partial UTF-8 and unknown ids decode to U+FFFD. */
  decode(ids: readonly number[]): string;
  /** End of text, if the vocabulary has one: appended after JSONL documents and completions. */
  readonly eos?: number;
  /** Padding id, if the vocabulary has one (else batches pad with eos, else 0). */
  readonly pad?: number;
  /**
   * True when a character's tokens never depend on its neighbours, so a text may be cut anywhere
   * between characters and tokenized piece by piece (runtime/data/token-stream.ts).
   */
  readonly contextFree?: boolean;
  /**
   * Where a long text may be cut without changing its tokens, when the tokenizer knows (else
   * token-stream.ts applies GPT-2's rule): true if the text may be cut just before `s[i]`, the
   * rest then encoded with `encodeRest`.
   */
  cutBefore?(s: string, i: number): boolean;
  /** The ids of text that continues a longer text at a cut (SentencePiece: no dummy prefix). */
  encodeRest?(text: string): number[];
  /** The text of ids that continue a text (SentencePiece: a word's leading space kept). */
  decodeRest?(ids: readonly number[]): string;
  /**
   * The special tokens the tokenizer's post-processor puts around an encoded text or sentence
   * pair, with each id's token type (BERT: `[CLS] a [SEP]`, `[CLS] a [SEP] b [SEP]` with types
   * 0 … 0 1 … 1): what transformers' tokenizer(text[, text_pair]) adds. Only tokenizer.json files
   * have one; runtime/data/classification-row.ts joins a pair's texts without it.
   */
  frame?(a: readonly number[], b?: readonly number[]): { ids: number[]; types: number[] };
}

export type TokenizerName = 'byte' | 'gpt2' | 'llama';
export const TOKENIZER_NAMES: readonly TokenizerName[] = ['byte', 'gpt2', 'llama'];

const REPLACEMENT = '\uFFFD';

/** UTF-8 bytes as ids 0…255. No special tokens: there is no eos and no pad. */
export class ByteTokenizer implements Tokenizer {
  readonly name = 'byte';
  readonly vocabSize = 256;
  readonly contextFree = true;
  private readonly encoder = new TextEncoder();

  encode(text: string): number[] {
    // A loop into a sized array: several times faster than Array.from on large texts.
    const bytes = this.encoder.encode(text);
    const ids = new Array<number>(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = bytes[i]!;
    return ids;
  }

  decode(ids: readonly number[]): string {
    const bytes = new Uint8Array(ids.length);
    let out = '';
    let n = 0;
    for (const id of ids) {
      if (Number.isInteger(id) && id >= 0 && id < 256) {
        bytes[n++] = id;
      } else {
        out += utf8(bytes.subarray(0, n)) + REPLACEMENT;
        n = 0;
      }
    }
    return out + utf8(bytes.subarray(0, n));
  }
}

const END_OF_TEXT = '<|endoftext|>';

/**
 * GPT-2's BPE (tiktoken's `gpt2` = `r50k_base` encoding, the same ids as Hugging Face's
 * GPT2Tokenizer). gpt-tokenizer encodes (~3× js-tiktoken on English, ~100× on long CJK pieces,
 * whose merge is quadratic in js-tiktoken; the same ids: test/data/tokenizers.test.ts);
 * js-tiktoken decodes, as it turns a partial character into U+FFFD (DecodeStream relies on it).
 */
export class Gpt2Tokenizer implements Tokenizer {
  readonly name = 'gpt2';
  readonly vocabSize = 50257;
  readonly eos = 50256;
  private static bpe: Tiktoken | undefined;
  private static encoder: GptEncoding | undefined;

  private get enc(): Tiktoken {
    // Building the rank tables takes ~0.3 s: done once, on first use.
    Gpt2Tokenizer.bpe ??= new Tiktoken(gpt2Ranks);
    return Gpt2Tokenizer.bpe;
  }

  /** `<|endoftext|>` written in the text is the eos token, as in Hugging Face's tokenizer. */
  encode(text: string): number[] {
    // gpt-tokenizer 4.0 encodes <|endoftext|> as text even when allowed: split on it here.
    const encoder = (Gpt2Tokenizer.encoder ??= GptEncoding.getEncodingApi('r50k_base', () => r50kRanks));
    const pieces = text.split(END_OF_TEXT);
    if (pieces.length === 1) return encoder.encode(text);
    const ids: number[] = [];
    pieces.forEach((piece, i) => {
      if (i) ids.push(this.eos);
      for (const id of encoder.encode(piece)) ids.push(id);
    });
    return ids;
  }

  decode(ids: readonly number[]): string {
    // Unknown ids become U+FFFD; runs of known ids decode together so multi-token
    // characters survive (js-tiktoken decodes bytes with a non-fatal TextDecoder).
    let out = '';
    let run: number[] = [];
    for (const id of ids) {
      if (Number.isInteger(id) && id >= 0 && id < this.vocabSize) {
        run.push(id);
      } else {
        out += (run.length ? this.enc.decode(run) : '') + REPLACEMENT;
        run = [];
      }
    }
    return out + (run.length ? this.enc.decode(run) : '');
  }
}

let byteTokenizer: ByteTokenizer | undefined;
let gpt2Tokenizer: Gpt2Tokenizer | undefined;
let llamaTokenizer: LlamaTokenizer | undefined;

/** The tokenizer of that name; throws an Error naming the choices for any other name. */
export function tokenizerByName(name: string): Tokenizer {
  if (name === 'byte') return (byteTokenizer ??= new ByteTokenizer());
  if (name === 'gpt2') return (gpt2Tokenizer ??= new Gpt2Tokenizer());
  if (name === 'llama') return (llamaTokenizer ??= new LlamaTokenizer());
  throw new Error(`unknown tokenizer \`${name}\`; choose one of: ${TOKENIZER_NAMES.join(', ')}`);
}

/** The id that fills padding positions (always ignored in the loss): pad, else eos, else 0. */
export function padId(tok: Tokenizer): number {
  return tok.pad ?? tok.eos ?? 0;
}

/**
 * Incremental decoding for generation: push ids one at a time and get back the text that is
 * complete so far. A character split across ids (a partial UTF-8 sequence) is held back until
 * the ids that complete it arrive (at most 3 more), so no U+FFFD is printed midway.
 */
export class DecodeStream {
  private pending: number[] = [];

  constructor(private readonly tok: Tokenizer) {}

  push(id: number): string {
    this.pending.push(id);
    const text = this.decode(this.pending);
    if (text.endsWith(REPLACEMENT) && this.pending.length < 4) return '';
    this.pending = [];
    return text;
  }

  /** Whatever is still held back (U+FFFD for an incomplete character). */
  flush(): string {
    const text = this.pending.length ? this.decode(this.pending) : '';
    this.pending = [];
    return text;
  }

  /** Every id continues the text printed before it (the prompt): SentencePiece keeps its space. */
  private decode(ids: number[]): string {
    return this.tok.decodeRest ? this.tok.decodeRest(ids) : this.tok.decode(ids);
  }
}

function utf8(bytes: Uint8Array): string {
  return bytes.length ? new TextDecoder('utf-8', { fatal: false }).decode(bytes) : '';
}
