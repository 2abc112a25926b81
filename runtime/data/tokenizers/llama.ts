// LLaMA-1/2's tokenizer: SentencePiece BPE over 32,000 ids with byte fallback, the same ids as
// Hugging Face's LlamaTokenizer without its BOS (<unk> = 0, <s> = 1, </s> = 2, <0x00>…<0xFF> =
// 3…258). The vocabulary and merges ship inside llama-tokenizer-js (~0.7 MB of JS).
//
// SentencePiece turns spaces into ▁ and puts one before the text (add_dummy_prefix). No token of
// this vocabulary has ▁ after another character, so a text cut just before a space that follows
// a non-space tokenizes the same piece by piece — if only the first piece gets the dummy prefix.
// Words are tokenized one at a time through a cache: the package merges in ~0.2 MB/s on whole
// texts, and most words repeat.
import llama from 'llama-tokenizer-js';
import type { Tokenizer } from '../tokenizer.ts';

const SPACE = 0x20;
const SPECIAL = 3; // <unk>, <s>, </s>: decoded to nothing (they are markers, not text)
const BYTE_FALLBACK = /^<0x([0-9A-F]{2})>$/;
const CACHE_LIMIT = 1 << 16;
const REPLACEMENT = '\uFFFD';

export class LlamaTokenizer implements Tokenizer {
  readonly name = 'llama';
  readonly vocabSize = 32000;
  readonly bos = 1;
  readonly eos = 2;
  private readonly cache = new Map<string, number[]>();
  private readonly bytes: (Uint8Array | undefined)[];

  constructor() {
    // Each id's UTF-8 bytes (▁ as a space), computed once for decode.
    const enc = new TextEncoder();
    this.bytes = llama.vocabById.map((piece, id) => {
      if (id < SPECIAL) return new Uint8Array(0);
      const byte = BYTE_FALLBACK.exec(piece);
      return byte ? Uint8Array.of(parseInt(byte[1]!, 16)) : enc.encode(piece.replaceAll('\u2581', ' '));
    });
  }

  /** The ids of a whole text (no BOS, as Hugging Face's add_special_tokens=False). */
  encode(text: string): number[] {
    return text ? this.encodeRest(' ' + text) : [];
  }

  /** The ids of text that continues a longer one at a space: no dummy prefix. */
  encodeRest(text: string): number[] {
    const ids: number[] = [];
    let start = 0;
    for (let i = 1; i <= text.length; i++) {
      if (i < text.length && !this.cutBefore(text, i)) continue;
      for (const id of this.word(text.slice(start, i))) ids.push(id);
      start = i;
    }
    return ids;
  }

  /** Before a space that follows a non-space: no token spans it. */
  cutBefore(s: string, i: number): boolean {
    return s.charCodeAt(i) === SPACE && s.charCodeAt(i - 1) !== SPACE;
  }

  decode(ids: readonly number[]): string {
    const text = this.decodeRest(ids);
    // SentencePiece drops the dummy prefix of the first word.
    return text.startsWith(' ') ? text.slice(1) : text;
  }

  /** The text of ids that continue a text (a word's leading space kept): for DecodeStream. */
  decodeRest(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    let out = '';
    for (const id of ids) {
      const b = Number.isInteger(id) ? this.bytes[id] : undefined;
      if (b) parts.push(b);
      else (out += utf8(parts) + REPLACEMENT), (parts.length = 0);
    }
    return out + utf8(parts);
  }

  private word(w: string): number[] {
    let ids = this.cache.get(w);
    if (!ids) {
      ids = llama.encode(w, false, false);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      if (w.length <= 64) this.cache.set(w, ids);
    }
    return ids;
  }
}

function utf8(parts: Uint8Array[]): string {
  if (!parts.length) return '';
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, at), (at += p.length);
  return new TextDecoder('utf-8', { fatal: false }).decode(all);
}
