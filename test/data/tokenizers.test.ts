// Tokenizers of real model families against ids Hugging Face's tokenizers give: LLaMA-1/2
// (SentencePiece BPE, byte fallback), GPT-2 (byte-level BPE) and a tokenizer.json built by
// hand; the same ids when a long text is tokenized in pieces; --tokenizer NAME|PATH and
// `peftc tokenize`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import jsTiktokenRanks from 'js-tiktoken/ranks/gpt2';
import llamaPackage from 'llama-tokenizer-js';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../cli/common.ts';
import { pickTokenizer } from '../../cli/tokenizer-choice.ts';
import { tokenizeText } from '../../cli/tokenize.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { corpus } from '../../runtime/data/corpora-node.ts';
import { encodeText, TokenStream } from '../../runtime/data/token-stream.ts';
import { DecodeStream, padId, tokenizerByName, type Tokenizer } from '../../runtime/data/tokenizer.ts';
import { loadTokenizer } from '../../runtime/data/tokenizers/load-node.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const llama = tokenizerByName('llama');
const gpt2 = tokenizerByName('gpt2');

describe('llama tokenizer', () => {
  it('has 32,000 ids, <s> = 1 and </s> = 2 (no pad: batches pad with eos)', () => {
    expect(llama.vocabSize).toBe(32000);
    expect(llama.eos).toBe(2);
    expect(padId(llama)).toBe(2);
  });

  // Expected ids from llama-tokenizer-js 1.2.2's own suite (defaultTests in llama-tokenizer.js),
  // which its authors checked against Hugging Face's LlamaTokenizer (BOS included, as
  // `tokenizer(text).input_ids` gives them); 'Hello world' is [1, 15043, 3186] there too.
  const CASES: [string, number[]][] = [
    ['grabbed', [1, 2646, 1327, 287]],
    [' grabbed', [1, 29871, 2646, 1327, 287]], // a leading space: ▁ then the word
    ['           grabbed', [1, 9651, 2646, 1327, 287]], // runs of spaces merge
    ['\n', [1, 29871, 13]], // line ends and tabs: byte fallback <0x0A>, <0x09>
    [' \n', [1, 259, 13]],
    ['\ttabs\t\t\t\tout here', [1, 29871, 12, 21175, 12, 12, 12, 12, 449, 1244]],
    ['ax\n####\nboo', [1, 4853, 13, 4136, 13, 833, 29877]], // equal merges left to right
    ['镇', [1, 29871, 30411]], // CJK in the vocabulary
    ['🦙', [1, 29871, 243, 162, 169, 156]], // emoji: four fallback bytes
    ['🦙Ꙋ', [1, 29871, 243, 162, 169, 156, 237, 156, 141]],
    ['Ꙋ🦙', [1, 29871, 237, 156, 141, 243, 162, 169, 156]],
  ];

  it('gives Hugging Face LlamaTokenizer ids on tricky strings (spaces, tabs, CJK, emoji, byte fallback)', () => {
    for (const [text, ids] of CASES) {
      expect([1, ...llama.encode(text)], JSON.stringify(text)).toEqual(ids);
      expect(llama.decode(llama.encode(text))).toBe(text);
    }
    expect(llama.encode('Hello world')).toEqual([15043, 3186]);
    expect(llama.encode('')).toEqual([]);
  });

  it("passes llama-tokenizer-js's whole suite (its long text: digits, IPA, emoji, punctuation)", () => {
    // The package's suite calls encode(text, addBos) and decode(ids, addBos, addPrecedingSpace).
    const asPackage = {
      encode: (text: string, bos = true) => [...(bos ? [1] : []), ...llama.encode(text)],
      decode(ids: number[], bos = true, prefix = true) {
        const rest = bos && ids[0] === 1 ? ids.slice(1) : ids;
        const text = split(rest, 1).map((part) => llama.decodeRest!(part)).join('<s>');
        return prefix && text.startsWith(' ') ? text.slice(1) : text;
      },
    };
    const log = console.log;
    console.log = () => {}; // (the suite prints timings and a success line)
    try {
      // (defaultTests is the suite runTests runs; the package's types leave it out)
      const suite = (llamaPackage as unknown as { defaultTests(t: typeof asPackage): boolean }).defaultTests;
      expect(suite(asPackage)).toBe(true);
    } finally {
      console.log = log;
    }
  });

  it('decodes unknown ids and partial bytes to U+FFFD, special ids to nothing', () => {
    expect(llama.decode([15043, 99999, 3186])).toBe('Hello\uFFFD world');
    expect(llama.decode([15043, -1])).toBe('Hello\uFFFD');
    expect(llama.decode([1, 15043, 2])).toBe('Hello');
    expect(llama.decode([243, 162])).toBe('\uFFFD');
  });

  it('streams generated words with their spaces and holds back split characters', () => {
    const stream = new DecodeStream(llama);
    const ids = llama.encode('Hello world 🦙!');
    const out = ids.map((id) => stream.push(id)).join('') + stream.flush();
    expect(out).toBe(' Hello world 🦙!'); // each id continues the prompt: the first word's space too
    expect(new DecodeStream(llama).push(243)).toBe(''); // the first byte of 🦙 waits
  });
});

describe('GPT-2 tokenizer', () => {
  it('encodes as js-tiktoken does (its encoder before gpt-tokenizer): a seeded corpus and a book', () => {
    const reference = new Tiktoken(jsTiktokenRanks);
    const parts = [...PARTS, '<|endoftext|>', ' <|endoftext|>', '<|', "'ll", "'RE", '\r', '\u2028', '\u0085', '\ufeff', '👨‍👩‍👧', 'ﬁ', 'ер', '…'];
    const rng = new Random(2024);
    for (let k = 0; k < 3000; k++) {
      let text = '';
      for (let n = 1 + (rng.nextU32() % 60); n > 0; n--) text += parts[rng.nextU32() % parts.length];
      expect(gpt2.encode(text), JSON.stringify(text)).toEqual(reference.encode(text, 'all'));
    }
    const book = corpus('moby-dick').slice(0, 300_000);
    expect(gpt2.encode(book)).toEqual(reference.encode(book, 'all'));
  });

  // Expected ids from gpt-tokenizer 4.0.0's suite (src/GptEncoding.test.ts, `sharedResults`
  // for gpt2/r50k_base), the ids of Hugging Face's GPT2Tokenizer.
  const CASES: [string, number[]][] = [
    [' ', [220]],
    ['\t', [197]],
    ['This is some text', [1212, 318, 617, 2420]],
    ['indivisible', [521, 452, 12843]],
    ['hello 👋 world 🌍', [31373, 50169, 233, 995, 12520, 234, 235]],
    ['toString constructor hasOwnProperty valueOf', [1462, 10100, 23772, 468, 23858, 21746, 1988, 5189]],
    ['hello, I am a text, and I have commas. a,b,c', [31373, 11, 314, 716, 257, 2420, 11, 290, 314, 423, 725, 292, 13, 257, 11, 65, 11, 66]],
  ];

  it('gives Hugging Face GPT2Tokenizer ids on tricky strings (spaces, tab, emoji, unicode)', () => {
    for (const [text, ids] of CASES) {
      expect(gpt2.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(gpt2.decode(ids)).toBe(text);
    }
  });
});

// Words, runs of spaces, line ends, tabs, digits, CJK, emoji, accents, other Unicode spaces.
const PARTS = ['the', 'whale', "'s", ' ', '  ', '   ', '\n', '\n\n', '\r\n', '\t', ' \n', '42', '3.14', '7', ',', '.', '—', 'café', 'e\u0301', '一二三', '镇', '😀', '🦙', '<s>', '\u00a0', '\u3000', 'x\u200by'];

function randomText(seed: number, parts: number): string {
  const rng = new Random(seed);
  let out = '';
  for (let i = 0; i < parts; i++) out += PARTS[rng.nextU32() % PARTS.length];
  return out;
}

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

describe('llama tokenizer in pieces', () => {
  it('gives the ids of the whole text, cut every few characters (seeded texts)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const text = randomText(seed, 300);
      const whole = llama.encode(text);
      // The package encodes the whole text at once: our word-by-word encode must agree.
      expect(whole).toEqual(llamaPackage.encode(text, false, true));
      for (const window of [2, 5, 16, 64]) expect(streamed(llama, text, window, seed * 31 + window)).toEqual(whole);
    }
  });

  it('gives the ids of a whole book (moby-dick, cut at 4096 characters)', () => {
    const text = corpus('moby-dick').slice(0, 200_000);
    const whole = llama.encode(text);
    expect(streamed(llama, text, 4096, 7)).toEqual(whole);
    expect(Array.from(encodeText(llama, text))).toEqual(whole);
  });
});

// A WordPiece tokenizer.json by hand, as BERT's (lower-casing normalizer, BERT pre-tokenizer):
// greedy longest-match-first gives "unaffable" → un ##aff ##able, the example of Hugging Face's
// WordPiece documentation; a character with no piece is [UNK].
const WORDPIECE = {
  version: '1.0',
  added_tokens: ['[UNK]', '[CLS]', '[SEP]', '[PAD]'].map((content, id) => ({ id, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false })),
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: null,
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2, '[PAD]': 3, hello: 4, world: 5, '##s': 6, un: 7, '##aff': 8, '##able': 9, ',': 10, '!': 11 } },
};

// A BPE by hand: merges a+b then ab+c, so "abcab" is abc, ab.
const BPE = { version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2, c: 3, abc: 4 }, merges: ['a b', 'ab c'] } };

describe('--tokenizer PATH (a Hugging Face tokenizer.json)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-tok-'));
  const wp = join(dir, 'bert');
  mkdirSync(wp);
  writeFileSync(join(wp, 'tokenizer.json'), JSON.stringify(WORDPIECE));
  writeFileSync(join(wp, 'tokenizer_config.json'), JSON.stringify({ eos_token: '[SEP]', pad_token: { content: '[PAD]' } }));
  writeFileSync(join(dir, 'bpe.json'), JSON.stringify(BPE));

  it('reads a WordPiece tokenizer (its folder: tokenizer.json and tokenizer_config.json)', () => {
    const tok = loadTokenizer(wp);
    expect(tok.vocabSize).toBe(12);
    expect(tok.eos).toBe(2);
    expect(tok.pad).toBe(3);
    expect(tok.encode('Hello, worlds! unaffable')).toEqual([4, 10, 5, 6, 11, 7, 8, 9]);
    expect(tok.encode('xyz')).toEqual([0]);
    expect(tok.decode([4, 10, 5, 6])).toBe('hello, worlds');
    expect(tok.decode([4, 99, 5])).toBe('hello\uFFFDworld');
    expect(loadTokenizer(join(wp, 'tokenizer.json'))).toBe(tok); // read once
  });

  it('streams generated words with their spaces through a Metaspace decoder (SentencePiece style)', () => {
    // Metaspace drops the ▁ of the first token it decodes: one id at a time, "hello" "world".
    const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
    const vocab = { '\u2581': 0, h: 1, e: 2, l: 3, o: 4, w: 5, r: 6, d: 7, a: 8, '\u2581h': 9, '\u2581w': 10, ll: 11, '\u2581he': 12, '\u2581hell': 13, '\u2581hello': 14, or: 15, '\u2581wor': 16, '\u2581worl': 17, '\u2581world': 18 };
    const merges = ['\u2581 h', '\u2581 w', 'l l', 'o r', '\u2581h e', '\u2581he ll', '\u2581hell o', '\u2581w or', '\u2581wor l', '\u2581worl d'];
    const file = join(dir, 'metaspace.json');
    writeFileSync(file, JSON.stringify({ ...BPE, pre_tokenizer: metaspace, decoder: metaspace, model: { type: 'BPE', vocab, merges } }));
    const tok = loadTokenizer(file);
    const ids = tok.encode('hello world');
    expect(ids).toEqual([14, 18]);
    expect(tok.decode(ids)).toBe('hello world');
    const stream = new DecodeStream(tok);
    expect(ids.map((id) => stream.push(id)).join('') + stream.flush()).toBe(' hello world');
  });

  it('reads a BPE tokenizer.json file', () => {
    const tok = loadTokenizer(join(dir, 'bpe.json'));
    expect(tok.encode('abcab')).toEqual([4, 2]);
    expect(tok.eos).toBeUndefined();
    // A long text is cut only where a stretch is too long: the ids of the whole text.
    expect(Array.from(encodeText(tok, 'abc'.repeat(30_000)))).toEqual(new Array(30_000).fill(4));
  });

  it("reads a vocabulary as large as Gemma's (262,144 ids); a word with no id is an error", () => {
    const vocab: Record<string, number> = {};
    for (let i = 0; i < 262_144; i++) vocab[`w${i}`] = i;
    const file = join(dir, 'large.json');
    writeFileSync(file, JSON.stringify({ ...BPE, pre_tokenizer: { type: 'Whitespace' }, model: { type: 'WordLevel', vocab, unk_token: 'w0' } }));
    const tok = loadTokenizer(file);
    expect(tok.vocabSize).toBe(262_144);
    expect(tok.encode('w1 w262143')).toEqual([1, 262_143]);
    // @huggingface/tokenizers reads WordLevel as a legacy model, without its unk_token: an
    // unknown word has no id, which is an error rather than NaN in the batches.
    expect(() => tok.encode('w1 nope')).toThrow(/large\.json: the tokenizer gives no id for the token "nope" \(/);
  });

  it('refuses bad files with one line naming the file', () => {
    const bad = (name: string, text: string): string => {
      const f = join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.json'), /^unknown tokenizer `.*missing\.json`: not one of byte, gpt2, llama, and no such file or directory$/],
      [bad('broken.json', '{"model": '), /broken\.json: not valid JSON: /],
      [bad('array.json', '[1, 2]'), /array\.json: not a tokenizer\.json \(no "model" object\)$/],
      [bad('nodecoder.json', '{"model": {"type": "BPE", "vocab": {}, "merges": []}}'), /nodecoder\.json: cannot build the tokenizer: /],
      [bad('empty.json', JSON.stringify({ ...BPE, model: { ...BPE.model, vocab: {}, merges: [] } })), /empty\.json: the tokenizer's vocabulary is empty$/],
      [dir, /tokenizer\.json: cannot read: ENOENT$/],
    ];
    for (const [path, message] of cases) {
      let err: Error | undefined;
      try {
        loadTokenizer(path);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.name, path).toBe('DataError');
      expect(err!.message).toMatch(message);
      expect(err!.message).not.toContain('\n');
    }
  });
});

describe('choosing a tokenizer for a model', () => {
  it('defaults to llama for a vocabulary of 32,000, and refuses a tokenizer with more ids than the model', () => {
    const llamaModel = compileFile(join(ROOT, 'examples/llama.peft'), {}).graph!;
    expect(pickTokenizer(llamaModel).name).toBe('llama');
    expect(pickTokenizer(llamaModel, 'byte').name).toBe('byte');
    const tiny = compileFile(join(ROOT, 'examples/tiny-gpt.peft'), {}).graph!;
    expect(pickTokenizer(tiny).name).toBe('byte');
    expect(() => pickTokenizer(tiny, 'llama')).toThrow("the llama tokenizer has 32000 tokens but the model's vocabulary has 256; set a matching vocab_size or --tokenizer");
  });
});

describe('peftc tokenize', () => {
  it('prints the ids as one JSON array, and --decode prints the text', () => {
    expect(tokenizeText('Hello world', { tokenizer: 'llama' })).toBe('[15043,3186]');
    expect(tokenizeText('Hello world', { tokenizer: 'gpt2' })).toBe('[15496,995]');
    expect(tokenizeText('é', { tokenizer: 'byte' })).toBe('[195,169]');
    expect(tokenizeText('[15043, 3186]', { tokenizer: 'llama', decode: true })).toBe('Hello world');
    expect(() => tokenizeText('[15043, 32000]', { tokenizer: 'llama', decode: true })).toThrow('--decode: id 32000 at index 1 is not a token id of this tokenizer (0 … 31999)');
    expect(() => tokenizeText('15043', { tokenizer: 'llama', decode: true })).toThrow('--decode takes a JSON array of token ids');
  });

  it('runs from the command line; a bad tokenizer is one line and exit 1', () => {
    const out = execFileSync('node', [join(ROOT, 'bin/peftc.js'), 'tokenize', '--tokenizer', 'llama', ' 🦙 25%'], { encoding: 'utf8' });
    expect(out).toBe(`${JSON.stringify(llama.encode(' 🦙 25%'))}\n`);
    let status = 0;
    let stderr = '';
    try {
      execFileSync('node', [join(ROOT, 'bin/peftc.js'), 'tokenize', '--tokenizer', 'gpt3', 'x'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      ({ status, stderr } = e as { status: number; stderr: string });
    }
    expect(status).toBe(1);
    expect(stderr).toBe('peftc: unknown tokenizer `gpt3`: not one of byte, gpt2, llama, and no such file or directory\n');
  });
});

function split(ids: number[], sep: number): number[][] {
  const parts: number[][] = [[]];
  for (const id of ids) id === sep ? parts.push([]) : parts[parts.length - 1]!.push(id);
  return parts;
}
