// Tokenizing in pieces gives the tokens of the whole text (GPT-2's BPE and bytes), however the
// text arrives; a giant "word" costs linear time instead of js-tiktoken's quadratic merge.
import { describe, expect, it } from 'vitest';
import { Random } from '../../runtime/cpu/random.ts';
import { corpus } from '../../runtime/data/corpora-node.ts';
import { encodeText, MAX_RUN, TokenStream } from '../../runtime/data/token-stream.ts';
import { tokenizerByName, type Tokenizer } from '../../runtime/data/tokenizer.ts';

const gpt2 = tokenizerByName('gpt2');
const byte = tokenizerByName('byte');

// What the pre-tokenizer splits on: runs of spaces, tabs and line ends (CR LF too), contractions,
// digits, punctuation, accented and combining letters, CJK, emoji (surrogate pairs), the eos
// text (and pieces of it), no-break, ideographic and other Unicode spaces, a zero-width space.
const PARTS = ['the', 'whale', "'s", "n't", "'ll", "'", "'RE", ' ', '  ', '   ', '\n', '\n\n', '\r\n', '\r', '\t', '\v', '\f', ' \n', '\n ', ' \t ', '42', '3.14', '7', ',', '.', '!?', '—', '…', '"', '((', ')', 'café', 'e\u0301', 'naïve', '一二三', '😀', '👍🏽', '<|endoftext|>', ' <|endoftext|>', '<', '<|', '|>', '\u00a0', '\u3000', '\u2028', '\u0085', '\ufeff', 'x\u200by'];

function randomText(seed: number, parts: number): string {
  const rng = new Random(seed);
  let out = '';
  for (let i = 0; i < parts; i++) out += PARTS[rng.nextU32() % PARTS.length];
  return out;
}

/** The text pushed in pieces of random length (as a file's chunks arrive), `window` per call. */
function streamed(tok: Tokenizer, text: string, window: number, seed: number): number[] {
  const rng = new Random(seed);
  const s = new TokenStream(tok, undefined, window);
  for (let at = 0; at < text.length; ) {
    const n = 1 + (rng.nextU32() % 40);
    s.push(text.slice(at, at + n));
    at += n;
  }
  return Array.from(s.finish());
}

const longRun = new RegExp(`\\p{L}{${MAX_RUN + 1}}|\\p{N}{${MAX_RUN + 1}}|[^\\s\\p{L}\\p{N}]{${MAX_RUN + 1}}|\\s{${MAX_RUN + 1}}`, 'u');

describe('GPT-2 BPE in pieces', () => {
  it('gives the tokens of the whole text, cut every few characters (seeded texts)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const text = randomText(seed, 300);
      expect(longRun.test(text)).toBe(false); // (runs this long are cut on purpose: below)
      const whole = gpt2.encode(text);
      for (const window of [2, 5, 16, 64]) expect(streamed(gpt2, text, window, seed * 31 + window)).toEqual(whole);
    }
  });

  it('gives the tokens of a whole book (moby-dick, cut at 4096 characters)', () => {
    const text = corpus('moby-dick').slice(0, 300_000);
    expect(streamed(gpt2, text, 4096, 7)).toEqual(gpt2.encode(text));
    expect(Array.from(encodeText(gpt2, text))).toEqual(gpt2.encode(text));
  });

  it('keeps a character that arrives in two pushes (a surrogate pair split between chunks)', () => {
    const s = new TokenStream(gpt2, undefined, 2);
    for (const piece of ['a ', '\ud83d', '\ude00 b', ' c']) s.push(piece);
    expect(Array.from(s.finish())).toEqual(gpt2.encode('a 😀 b c'));
  });

  it('encodes a giant word in linear time, in pieces of MAX_RUN characters', () => {
    // As one BPE piece, 3000 of 一 take js-tiktoken about half a minute (quadratic merge).
    for (const [ch, n] of [['一', 3000], ['a', 30_000], ['😀', 2000], [' ', 100_000], ['\n', 50_000], ['7', 20_000]] as const) {
      const text = `start ${ch.repeat(n)} end`;
      const t0 = performance.now();
      const ids = encodeText(gpt2, text);
      expect(performance.now() - t0, `${JSON.stringify(ch)} × ${n}`).toBeLessThan(10_000);
      expect(gpt2.decode(Array.from(ids))).toBe(text);
      // The run is encoded MAX_RUN characters at a time: the same tokens as those pieces.
      const piece = ch.repeat(MAX_RUN);
      expect(Array.from(ids)).toContain(gpt2.encode(piece)[0]);
    }
  });
});

describe('bytes in pieces', () => {
  it('are the UTF-8 bytes of the whole text, cut anywhere', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const text = randomText(seed, 400);
      for (const window of [2, 3, 64]) expect(streamed(byte, text, window, seed)).toEqual(byte.encode(text));
    }
    expect(Array.from(encodeText(byte, 'x'.repeat(200_000)))).toEqual(new Array(200_000).fill(120));
  });

  it('are sized once from the expected bytes (no growth, no spare room)', () => {
    const text = 'héllo wörld '.repeat(20_000);
    const bytes = new TextEncoder().encode(text).length;
    const ids = new TokenStream(byte, bytes).push(text).finish();
    expect(ids.length).toBe(bytes);
    expect(ids.buffer.byteLength).toBe(4 * (bytes + 16));
  });
});
