// Hostile data files, seeded: each ends in a dataset or in a one-line DataError that names the
// file (and the line where there is one) — never another error, a hang or a memory blow-up.
// In-process through loadDataset (what `peftc train` and `eval` call), plus a few CLI runs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../../runtime/cpu/random.ts';
import { loadDataset, type LoadOptions } from '../../runtime/data/load-node.ts';
import { parseByteSize } from '../../runtime/data/read-node.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { peftc } from '../cli/peftc.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const byte = tokenizerByName('byte');
const gpt2 = tokenizerByName('gpt2');

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function randomBytes(seed: number, n: number): Uint8Array {
  const rng = new Random(seed);
  return Uint8Array.from({ length: n }, () => rng.nextU32() & 255);
}

type Outcome = { ok: true; rows: number; tokens: number[] } | { ok: false; message: string };

/** All the tokens of the rows, in order. */
function tokensOf(rows: { tokens: Int32Array }[]): number[] {
  const all = new Int32Array(rows.reduce((n, r) => n + r.tokens.length, 0));
  let at = 0;
  for (const r of rows) all.set(r.tokens, at), (at += r.tokens.length);
  return Array.from(all);
}

/** Loads `data` as the CLI does; any error that is not a one-line DataError fails the test. */
function load(data: string, more: Partial<LoadOptions> = {}): Outcome {
  const t0 = performance.now();
  try {
    const d = loadDataset({ data, task: 'causal_lm', tokenizer: byte, seqLen: 16, validFraction: 0, ...more });
    return { ok: true, rows: d.train.length, tokens: tokensOf(d.train) };
  } catch (e) {
    expect((e as Error).name, String(e)).toBe('DataError');
    const message = (e as Error).message;
    expect(message).not.toMatch(/[\r\n\u2028\u2029]/);
    expect(message.length).toBeLessThan(400);
    return { ok: false, message };
  } finally {
    expect(performance.now() - t0, `${data} took too long`).toBeLessThan(20_000);
  }
}

const fails = (data: string, message: string | RegExp, more: Partial<LoadOptions> = {}): void => {
  const out = load(data, more);
  expect(out.ok, `${data} loaded`).toBe(false);
  const m = (out as { message: string }).message;
  if (typeof message === 'string') expect(m).toBe(message);
  else expect(m).toMatch(message);
};

describe('contents', () => {
  it('empty files and files of whitespace', () => {
    fails(file('empty.txt', ''), `${join(dir, 'empty.txt')}: empty dataset: there is no text`);
    fails(file('empty.jsonl', ''), `${join(dir, 'empty.jsonl')}: empty dataset: no JSON lines`);
    fails(file('blank.txt', ' \n\t\r\n  \u3000'), `${join(dir, 'blank.txt')}: empty dataset: there is no text`);
    fails(file('blank.jsonl', '\n \r\n\t\n'), `${join(dir, 'blank.jsonl')}: empty dataset: no JSON lines`);
    fails(file('one.txt', 'x'), `${join(dir, 'one.txt')}: empty dataset: no row of at least 2 tokens (1 token); a row needs one token to predict the next`);
  });

  it('binary garbage (seeded) is not UTF-8 text, at a line', () => {
    for (let seed = 1; seed <= 8; seed++) {
      for (const ext of ['bin', 'jsonl']) {
        const p = file(`garbage-${seed}.${ext}`, randomBytes(seed, 5000));
        fails(p, new RegExp(`^${p}:\\d+: (not UTF-8 text \\(byte 0x[0-9a-f]{2} at offset \\d+\\)|a NUL byte at offset \\d+: this looks like a binary file); data files must be UTF-8 text$`));
      }
    }
  });

  it('invalid UTF-8 and NUL bytes name their line and byte', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    const join3 = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
    const latin1 = file('latin1.txt', join3(enc('fine\nstill fine\ncaf'), Uint8Array.of(0xe9), enc(' au lait\n')));
    fails(latin1, `${latin1}:3: not UTF-8 text (byte 0xe9 at offset 19); data files must be UTF-8 text`);
    const surrogate = file('surrogate.txt', join3(enc('a\n'), Uint8Array.of(0xed, 0xa0, 0x80)));
    fails(surrogate, `${surrogate}:2: not UTF-8 text (byte 0xed at offset 2); data files must be UTF-8 text`);
    const overlong = file('overlong.txt', join3(enc('ab'), Uint8Array.of(0xc0, 0xaf)));
    fails(overlong, `${overlong}:1: not UTF-8 text (byte 0xc0 at offset 2); data files must be UTF-8 text`);
    const cut = file('cut.txt', join3(enc('euro '), Uint8Array.of(0xe2, 0x82)));
    fails(cut, `${cut}:1: not UTF-8 text (byte 0xe2 at offset 5); data files must be UTF-8 text`);
    const nul = file('nul.txt', 'one\ntwo\u0000three');
    fails(nul, `${nul}:2: a NUL byte at offset 7: this looks like a binary file; data files must be UTF-8 text`);
    const jsonl = file('bad-utf8.jsonl', join3(enc('{"text": "ok"}\n{"text": "caf'), Uint8Array.of(0xe9), enc('"}\n')));
    fails(jsonl, `${jsonl}:2: not UTF-8 text (byte 0xe9 at offset 28); data files must be UTF-8 text`);
  });

  it('counts lines and bytes across the 1 MiB chunks a file is read in', () => {
    const lines = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ text: `document ${i} ${'x'.repeat(i % 50)}` }));
    lines[24_999] = '{"text": "unterminated';
    const p = file('late-error.jsonl', lines.join('\n'));
    fails(p, new RegExp(`^${p}:25000: not valid JSON \\(`), { task: 'causal_lm' });
    const text = 'word '.repeat(300_000) + '\n'.repeat(5) + 'bad \u0000';
    const q = file('late-nul.txt', text);
    fails(q, `${q}:6: a NUL byte at offset ${300_000 * 5 + 5 + 4}: this looks like a binary file; data files must be UTF-8 text`);
    // A character across a chunk boundary is read whole: the tokens are the file's bytes.
    const straddle = 'a'.repeat(2 ** 20 - 1) + 'é€😀' + 'b'.repeat(100);
    const r = load(file('straddle.txt', straddle), { seqLen: 4096 });
    expect(r.ok && r.tokens.length).toBe(new TextEncoder().encode(straddle).length);
    expect(r.ok && byte.decode(r.tokens)).toBe(straddle);
  });

  it('a byte-order mark and CR LF line ends are read', () => {
    const t = load(file('bom-crlf.txt', '\uFEFFhello\r\nworld\r\n'));
    expect(t.ok && byte.decode(t.tokens)).toBe('hello\r\nworld\r\n');
    const mid = load(file('bom-middle.txt', 'a\uFEFFb'));
    expect(mid.ok && byte.decode(mid.tokens)).toBe('a\uFEFFb');
    const j = load(file('bom-crlf.jsonl', '\uFEFF{"text": "one"}\r\n\r\n{"text": "two"}\r\n'));
    expect(j.ok && byte.decode(j.tokens)).toBe('onetwo');
  });

  it('huge lines: a 8 MB one-line text file, a 300 kB one-line file with GPT-2, a JSONL line over 64 MiB', () => {
    const rng = new Random(3);
    const words = ['the', 'sea', 'was', 'calm', 'and', 'grey', ',', '.'];
    let text = '';
    while (text.length < 8e6) text += words[rng.nextU32() % words.length] + ' ';
    const big = load(file('one-line.txt', text), { seqLen: 128 });
    expect(big.ok && big.rows).toBe(Math.ceil(text.length / 128));
    const g = load(file('one-line-gpt2.txt', text.slice(0, 3e5)), { tokenizer: gpt2, seqLen: 128 });
    expect(g.ok && g.tokens).toEqual(gpt2.encode(text.slice(0, 3e5)));
    const huge = file('huge-line.jsonl', `{"text": "ok"}\n{"text": "${'y'.repeat(65 * 2 ** 20)}"}\n`);
    fails(huge, `${huge}:2: the line is longer than 64 MiB; a JSONL line holds one example`);
  });

  it('JSONL: bad JSON, wrong and non-string fields, deep nesting name the line', () => {
    const lines = (...l: string[]): string => file(`l${Math.random().toString(36).slice(2)}.jsonl`, l.join('\n'));
    let p = lines('{"text": "a"}', '{"text": "b"}', '{"text": "c",}');
    fails(p, new RegExp(`^${p}:3: not valid JSON \\(.*\\); each line must be one JSON object$`));
    p = lines('{"text": "a"}', 'abc\rdef\u0001');
    fails(p, new RegExp(`^${p}:2: not valid JSON \\(.*\\\\u000d.*\\); each line must be one JSON object$`));
    p = lines('{"text": "a"}', '{"body": "b"}');
    fails(p, `${p}:2: missing "text" (a line is {"text": "…"} or {"prompt": "…", "completion": "…"})`);
    for (const [v, shown] of [['5', '5'], ['null', 'null'], ['[1, 2]', 'an array'], ['{"a": 1}', 'an object'], ['true', 'true']]) {
      p = lines(`{"text": ${v}}`);
      fails(p, `${p}:1: "text" must be a string, got ${shown}`);
    }
    p = lines('{"prompt": 1, "completion": "x"}');
    fails(p, `${p}:1: "prompt" must be a string, got 1`);
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    p = lines('{"text": "a"}', `{"text": ${deep}}`);
    fails(p, `${p}:2: "text" must be a string, got an array`);
    p = lines(deep);
    fails(p, `${p}:1: expected a JSON object like {"text": "…"} or {"prompt": "…", "completion": "…"}`);
  });

  it('classification labels out of range or of the wrong kind', () => {
    const cls = { task: 'classification' as const, numLabels: 2, validFraction: 0 };
    const lines = (...l: unknown[]): string => file(`c${Math.random().toString(36).slice(2)}.jsonl`, l.map((x) => JSON.stringify(x)).join('\n'));
    let p = lines({ text: 'a', label: 0 }, { text: 'b', label: 5 });
    fails(p, `${p}:2: label 5 is out of range: the model has 2 labels (0…1)`, cls);
    p = lines({ text: 'a', label: -1 });
    fails(p, `${p}:1: label -1 is not an integer ≥ 0`, cls);
    p = lines({ text: 'a', label: [1] });
    fails(p, `${p}:1: "label" must be an integer ≥ 0 or a string, got an array`, cls);
    p = lines({ text: 'a', label: 'x' }, { text: 'b', label: 'y' }, { text: 'c', label: 'z'.repeat(1e6) });
    fails(p, `${p}:3: label "${'z'.repeat(40)}…" is label number 3, out of range: the model has 2 labels (0…1); labels so far: "x", "y"`, cls);
    expect(load(lines({ text: 'a', label: 1 }, { text: 'b', label: 0 }), cls).ok).toBe(true);
  });

  it('too little validation data is the error --data gives, not a NaN loss', () => {
    const train = file('train.txt', 'some training text, long enough');
    const one = file('valid-one.txt', 'v');
    fails(train, `${one}: empty validation data: no row of at least 2 tokens (1 token); a row needs one token to predict the next`, { valid: one });
    const shortLast = file('short-last.jsonl', [...Array.from({ length: 9 }, () => '{"text": "long enough"}'), '{"text": "z"}'].join('\n'));
    fails(shortLast, `${shortLast}: the validation split (last 10% of ${shortLast}) is empty: no row of at least 2 tokens (1 example, 1 token); a row needs one token to predict the next; give a separate validation file (--valid) or more data`, { validFraction: 0.1 });
  });
});

describe('paths that are not regular files', () => {
  let server: Server;
  const sock = join(dir, 'data.sock');
  const fifo = join(dir, 'data.fifo');
  beforeAll(async () => {
    execFileSync('mkfifo', [fifo]);
    server = createServer();
    await new Promise<void>((done) => server.listen(sock, done));
  });
  afterAll(() => server.close());

  it('directories, FIFOs, devices, sockets and links to them are refused at once', () => {
    const sub = join(dir, 'a-dir');
    mkdirSync(sub);
    const refused = (p: string, what: string): void => fails(p, `${p}: is ${what}, not a data file; give a regular text or .jsonl file`);
    refused(sub, 'a directory');
    refused(fifo, 'a named pipe (FIFO)');
    refused('/dev/zero', 'a character device');
    refused(sock, 'a socket');
    for (const [target, what] of [['/dev/zero', 'a character device'], [fifo, 'a named pipe (FIFO)'], [sub, 'a directory']] as const) {
      const link = join(dir, `link-${Math.random().toString(36).slice(2)}`);
      symlinkSync(target, link);
      refused(link, `${what} (a link to ${target})`);
    }
  });

  it('missing files, dangling and looping links, a file used as a folder', () => {
    fails(join(dir, 'nope.txt'), `${join(dir, 'nope.txt')}: no such file`);
    const dangling = join(dir, 'dangling.txt');
    symlinkSync(join(dir, 'gone.txt'), dangling);
    fails(dangling, `${dangling}: no such file (a link to ${join(dir, 'gone.txt')})`);
    const [a, b] = [join(dir, 'loop-a.txt'), join(dir, 'loop-b.txt')];
    symlinkSync(b, a);
    symlinkSync(a, b);
    fails(a, `${a}: cannot read it (too many levels of symbolic links) (a link to ${b})`);
    const f = file('plain.txt', 'hello there');
    fails(join(f, 'x.txt'), `${join(f, 'x.txt')}: no such file (a part of the path is not a directory)`);
  });

  it('sizes for --max-data-bytes', () => {
    expect([parseByteSize('1073741824'), parseByteSize('512M'), parseByteSize('2GiB'), parseByteSize('0.5k'), parseByteSize('100 B'), parseByteSize('1TB')]).toEqual([2 ** 30, 512 * 2 ** 20, 2 ** 31, 512, 100, 2 ** 40]);
    for (const bad of ['lots', '', '-1', '0', '1e9', '5 pages']) {
      expect(() => parseByteSize(bad)).toThrow(`--max-data-bytes: expected a size in bytes like 1073741824, 512M or 2GiB, got ${JSON.stringify(bad)}`);
    }
  });

  it('files over the size limit, and files that read longer than their size', () => {
    const p = file('big.txt', 'z'.repeat(5000));
    fails(p, `${p}: the file is 4.9 KiB (5000 bytes), over the limit of 1000 bytes for a data file; raise it with --max-data-bytes`, { maxBytes: 1000 });
    expect(load(p, { maxBytes: 5000 }).ok).toBe(true);
    // /proc files say they are empty; reading stops at the limit all the same.
    fails('/proc/self/status', '/proc/self/status: more than 100 bytes were read (the file grew?); the limit is 100 bytes, raise it with --max-data-bytes', { maxBytes: 100 });
  });
});

describe('the CLI', () => {
  const model = 'examples/tiny-gpt.peft';
  it('prints one line and exits 1 for /dev/zero, a FIFO, a too-short --valid and a file over --max-data-bytes', () => {
    const fifo = join(dir, 'cli.fifo');
    execFileSync('mkfifo', [fifo]);
    const one = file('cli-valid.txt', 'v');
    const big = file('cli-big.txt', 'b'.repeat(2048));
    const cases: [string[], string][] = [
      [['train', model, '--data', '/dev/zero', '--steps', '1'], '/dev/zero: is a character device, not a data file; give a regular text or .jsonl file'],
      [['eval', model, '--data', fifo, '--max-data-bytes', '2GiB'], `${fifo}: is a named pipe (FIFO), not a data file; give a regular text or .jsonl file`],
      [['train', model, '--data', 'moby-dick', '--valid', one, '--steps', '1', '--out', join(dir, 'run')], `${one}: empty validation data: no row of at least 2 tokens (1 token); a row needs one token to predict the next`],
      [['build', model, '--data', big, '--max-data-bytes', '1k', '-o', join(dir, 'trainer')], `${big}: the file is 2 KiB (2048 bytes), over the limit of 1 KiB (1024 bytes) for a data file; raise it with --max-data-bytes`],
    ];
    for (const [args, message] of cases) {
      const r = peftc(...args);
      expect(r.stderr, args.join(' ')).toBe(`peftc: ${message}\n`);
      expect(r.code).toBe(1);
    }
  });
});
