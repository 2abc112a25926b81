// Tokenizing a long text piece by piece into one Int32Array, with the tokens of the whole text.
// Isomorphic.
//
// Where a text may be cut: GPT-2's pre-tokenizer (the regex of js-tiktoken's gpt2 ranks) never
// joins characters across a whitespace character that is followed by a non-whitespace one —
// the whitespace run before it is one piece, and the last whitespace character is either a
// piece of its own or (a space) the start of the next word's piece — and nothing it decides
// looks past that point. So cutting just before such a whitespace character gives the same
// tokens as the whole text — unless the non-whitespace character starts a special token
// (<|endoftext|>), so no cut is made before "<". A context-free tokenizer (bytes) is cut
// anywhere between characters. A tokenizer that knows its own safe cuts says so (`cutBefore`,
// then the pieces after the first are encoded with `encodeRest`): LLaMA's SentencePiece is cut
// before a space that follows a non-space; a Hugging Face tokenizer.json only where a stretch
// is too long (below).
//
// Two guards keep time and memory linear whatever the text:
//   - a stretch of MAX_STRETCH characters with no safe cut is cut where it ends;
//   - a run of more than MAX_RUN letters, digits, symbols or spaces (one BPE piece, whose merge
//     takes time quadratic in its length, in gpt-tokenizer as in js-tiktoken) is encoded MAX_RUN
//     characters at a time
//     (GPT-2's rule only: the tokenizers with their own cuts merge in n log n).
// Only such stretches tokenize differently from the whole text (docs/data.md).
import type { Tokenizer } from './tokenizer.ts';

/** Characters encoded per call (cut back to the last safe point). */
export const WINDOW = 1 << 16;
/** The longest run of one character class encoded in one piece. */
export const MAX_RUN = 64;
/** The longest stretch without a safe cut encoded in one call. */
export const MAX_STRETCH = 1 << 20;

const RUN = `\\p{L}{${MAX_RUN + 1},}|\\p{N}{${MAX_RUN + 1},}|[^\\s\\p{L}\\p{N}]{${MAX_RUN + 1},}|\\s{${MAX_RUN + 1},}`;
const LONG_RUN = new RegExp(RUN, 'gu'); // (matchAll copies it, lastIndex 0)
const HAS_LONG_RUN = new RegExp(RUN, 'u');
const RUN_PIECE = new RegExp(`[^]{1,${MAX_RUN}}`, 'gu');
const SPACE = /\s/;

export class TokenStream {
  private buf: Int32Array;
  private n = 0;
  private pending = '';
  private sized = false;
  /** Whether text has been encoded: later pieces continue it (`encodeRest`). */
  private started = false;

  /**
   * `bytes`: the UTF-8 size of the whole text if known (sizes the buffer once); `window`: the
   * characters encoded per call (smaller in tests, to cut often).
   */
  constructor(
    private readonly tok: Tokenizer,
    private readonly bytes?: number,
    private readonly window = WINDOW, // at least 2: a cut never splits a surrogate pair, and always moves
  ) {
    this.buf = new Int32Array(Math.min(bytes ?? window, window));
  }

  /** Adds text; everything up to the last safe cut is encoded now. */
  push(text: string): this {
    this.pending += text;
    this.drain(false);
    return this;
  }

  /** The tokens of all the text pushed. */
  finish(): Int32Array {
    this.drain(true);
    // A buffer much larger than its tokens is copied to size (its memory is released).
    return this.n * 1.25 < this.buf.length ? this.buf.slice(0, this.n) : this.buf.subarray(0, this.n);
  }

  /** Encodes pending text a window at a time; at the end (`final`) all of it. */
  private drain(final: boolean): void {
    const s = this.pending;
    let at = 0;
    while (s.length - at > this.window) {
      const safe = this.tok.cutBefore?.bind(this.tok) ?? isSafe;
      let cut = this.tok.contextFree ? charCut(s, at + this.window) : safeCut(s, at, at + this.window, safe);
      if (cut < 0) {
        // A stretch with no safe point: wait for one (the text may go on), up to MAX_STRETCH.
        cut = nextSafeCut(s, at + this.window, Math.min(s.length - 1, at + MAX_STRETCH), safe);
        if (cut < 0 && s.length - at > MAX_STRETCH) cut = charCut(s, at + MAX_STRETCH);
        if (cut < 0) break;
      }
      this.encode(s.slice(at, cut));
      at = cut;
    }
    if (final && at < s.length) this.encode(s.slice(at)), (at = s.length);
    this.pending = at ? s.slice(at) : s;
  }

  private encode(text: string): void {
    const before = this.n;
    let at = 0;
    for (const m of this.tok.contextFree || this.tok.cutBefore ? [] : text.matchAll(LONG_RUN)) {
      this.append(text.slice(at, m.index));
      for (const piece of m[0].match(RUN_PIECE)!) this.append(piece);
      at = m.index + m[0].length;
    }
    this.append(at ? text.slice(at) : text);
    if (!this.sized) this.size(this.n - before, text);
  }

  private append(text: string): void {
    if (!text) return;
    const ids = this.started && this.tok.encodeRest ? this.tok.encodeRest(text) : this.tok.encode(text);
    this.started = true;
    if (this.n + ids.length > this.buf.length) this.grow(this.n + ids.length);
    for (let i = 0; i < ids.length; i++) this.buf[this.n + i] = ids[i]!;
    this.n += ids.length;
  }

  /** After the first window: the buffer for the whole text at that window's tokens per byte. */
  private size(tokens: number, text: string): void {
    this.sized = true;
    if (this.bytes === undefined) return;
    const bytes = new TextEncoder().encode(text).length;
    const want = Math.ceil((tokens / Math.max(1, bytes)) * this.bytes) + 16;
    if (want > this.buf.length) this.grow(want, true);
  }

  private grow(need: number, exact = false): void {
    const next = new Int32Array(exact ? need : Math.max(need, Math.ceil(this.buf.length * 1.25)));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
}

/** The tokens of a text of any length (see TokenStream). */
export function encodeText(tok: Tokenizer, text: string): Int32Array {
  // Most texts (a JSONL field) are short and plain: one call, no buffer to grow.
  if (text.length <= WINDOW && (tok.contextFree || tok.cutBefore || !HAS_LONG_RUN.test(text))) return new Int32Array(tok.encode(text));
  return new TokenStream(tok).push(text).finish();
}

/**
 * A safe cut in (from, to) of `s`: before the last whitespace character in it that a
 * non-whitespace character follows (s[to] must exist); -1 if there is none.
 */
function safeCut(s: string, from: number, to: number, safe: Safe): number {
  for (let i = to - 1; i > from; i--) if (safe(s, i)) return i;
  return -1;
}

/** The first safe cut in [from, to) (s[to] must exist); -1 if there is none. */
function nextSafeCut(s: string, from: number, to: number, safe: Safe): number {
  for (let i = from; i < to; i++) if (safe(s, i)) return i;
  return -1;
}

type Safe = (s: string, i: number) => boolean;

/** GPT-2's rule (see the top). */
function isSafe(s: string, i: number): boolean {
  // Not before "<": a special token (<|endoftext|>) ends the text the pre-tokenizer sees, so the
  // whitespace run before it is one piece, last character included.
  const next = s.charCodeAt(i + 1);
  return isSpace(s.charCodeAt(i)) && !isSpace(next) && next !== 0x3c;
}

/** `to`, or one before it so as not to split a surrogate pair. */
function charCut(s: string, to: number): number {
  const c = s.charCodeAt(to - 1);
  return c >= 0xd800 && c < 0xdc00 ? to - 1 : to;
}

function isSpace(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return SPACE.test(String.fromCharCode(c));
}
