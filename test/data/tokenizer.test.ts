// Tokenizers: byte-level round trips (multi-byte UTF-8, partial sequences), GPT-2 BPE against
// known Hugging Face GPT2Tokenizer ids, streaming decode for generation.
import { describe, expect, it } from 'vitest';
import { ByteTokenizer, DecodeStream, padId, tokenizerByName } from '../../runtime/data/tokenizer.ts';

const SAMPLE = 'héllo, 日本語 🐳 — "quotes"\n\ttabs\u00a0nbsp';

describe('byte tokenizer', () => {
  const tok = tokenizerByName('byte');

  it('is the UTF-8 bytes, vocabulary 256, no special tokens', () => {
    expect(tok.vocabSize).toBe(256);
    expect(tok.eos).toBeUndefined();
    expect(padId(tok)).toBe(0);
    expect(tok.encode('A')).toEqual([65]);
    expect(tok.encode('é')).toEqual([0xc3, 0xa9]);
    expect(tok.encode('日')).toEqual([0xe6, 0x97, 0xa5]);
    expect(tok.encode('🐳')).toEqual([0xf0, 0x9f, 0x90, 0xb3]);
  });

  it('round-trips multi-byte text', () => {
    const ids = tok.encode(SAMPLE);
    expect(ids.every((i) => i >= 0 && i < 256)).toBe(true);
    expect(tok.decode(ids)).toBe(SAMPLE);
  });

  it('decodes partial UTF-8 and unknown ids to U+FFFD without throwing', () => {
    expect(tok.decode([0xc3])).toBe('\uFFFD');
    expect(tok.decode([65, 0xf0, 0x9f, 66])).toBe('A\uFFFDB');
    expect(tok.decode([65, 300, 66])).toBe('A\uFFFDB');
    expect(tok.decode([-1])).toBe('\uFFFD');
    expect(tok.decode([])).toBe('');
  });

  it('is one shared instance', () => {
    expect(tokenizerByName('byte')).toBe(tok);
    expect(new ByteTokenizer().encode('x')).toEqual([120]);
  });
});

describe('gpt2 tokenizer', () => {
  const tok = tokenizerByName('gpt2');

  it('has GPT-2\'s vocabulary and eos', () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eos).toBe(50256);
    expect(tok.pad).toBeUndefined();
    expect(padId(tok)).toBe(50256);
  });

  it('gives the ids of Hugging Face GPT2Tokenizer', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode('Hello, world!')).toEqual([15496, 11, 995, 0]);
    expect(tok.encode('The quick brown fox')).toEqual([464, 2068, 7586, 21831]);
    expect(tok.encode(' the')).toEqual([262]);
    expect(tok.encode('\n\n')).toEqual([628]);
    expect(tok.encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
  });

  it('round-trips multi-byte text', () => {
    const ids = tok.encode(SAMPLE);
    expect(tok.decode(ids)).toBe(SAMPLE);
    expect(tok.decode([15496, 995, 50256])).toBe('Hello world<|endoftext|>');
  });

  it('decodes unknown ids and split characters to U+FFFD without throwing', () => {
    expect(tok.decode([15496, 99999, 995])).toBe('Hello\uFFFD world');
    const whale = tok.encode('🐳'); // [12520, 238, 111]: one character over three ids
    expect(whale.length).toBeGreaterThan(1);
    expect(tok.decode(whale.slice(0, 1))).toContain('\uFFFD');
  });
});

describe('DecodeStream', () => {
  for (const name of ['byte', 'gpt2']) {
    it(`${name}: holds back split characters until they are complete`, () => {
      const tok = tokenizerByName(name);
      const stream = new DecodeStream(tok);
      const pieces = tok.encode(SAMPLE).map((id) => stream.push(id));
      pieces.push(stream.flush());
      expect(pieces.join('')).toBe(SAMPLE);
      expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    });
  }

  it('gives up on a genuinely broken sequence after 4 ids', () => {
    const s = new DecodeStream(tokenizerByName('byte'));
    expect([0xf0, 0x9f].map((b) => s.push(b)).join('')).toBe('');
    expect(s.flush()).toBe('\uFFFD');
    expect([0xc3, 65, 66, 67].map((b) => s.push(b)).join('')).toBe('\uFFFDABC');
  });
});

it('tokenizerByName names the choices for an unknown name', () => {
  expect(() => tokenizerByName('bert')).toThrow('unknown tokenizer `bert`; choose one of: byte, gpt2');
});
