// The demo corpora load from their npm packages, are non-trivial and normalised, and are
// reachable as `--data` specs next to file paths.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpus, normaliseWhitespace, resolveData } from '../../runtime/data/corpora-node.ts';
import { loadDataset } from '../../runtime/data/load-node.ts';
import { sourceBytes, type DataSource } from '../../runtime/data/source.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';

const textOf = (src: DataSource): string => {
  if (!('text' in src)) throw new Error(`${src.name} is read from a file`);
  return src.text;
};

const normalised = (t: string): void => {
  expect(t).not.toMatch(/\r|\t|\u00a0|  |\n\n\n| \n|\n /);
  expect(t).toBe(t.trim());
};

describe('moby-dick', () => {
  const text = corpus('moby-dick');

  it('is the whole book in order, chapters headed', () => {
    expect(text.length).toBeGreaterThan(1_000_000);
    expect(text.startsWith('ETYMOLOGY. (Supplied by a Late Consumptive Usher to a Grammar School.)')).toBe(true);
    expect(text).toContain('\n\nCHAPTER 1. Loomings.\n\nCall me Ishmael. Some years ago—never mind how long precisely');
    expect(text).toContain('\n\nCHAPTER 135. The Chase.—Third Day.\n\n');
    expect(text.indexOf('CHAPTER 2. ')).toBeGreaterThan(text.indexOf('CHAPTER 1. '));
    expect(text.endsWith('only found another orphan.')).toBe(true);
    expect(text).not.toContain('CONTENTS');
    normalised(text);
    expect(corpus('moby-dick')).toBe(text);
  });
});

describe('sotu', () => {
  it('is every address in year order, each headed by president and year', () => {
    const text = corpus('sotu');
    expect(text.length).toBeGreaterThan(10_000_000);
    expect(text.startsWith('George Washington, 1790\n\nFellow-Citizens of the Senate and House of Representatives')).toBe(true);
    expect(text.indexOf('Abraham Lincoln, 1861\n\n')).toBeGreaterThan(text.indexOf('George Washington, 1796\n\n'));
    normalised(text);
  });

  it('keeps a year range', () => {
    const src = resolveData('sotu:2001-2002');
    expect(src).toMatchObject({ name: 'sotu:2001-2002', format: 'text' });
    const text = textOf(src);
    expect(text.startsWith('George W Bush, 2001\n\n')).toBe(true);
    expect(text).toContain('\n\nGeorge W Bush, 2002\n\n');
    expect(text).not.toContain('2003\n\n');
    expect(textOf(resolveData('sotu:2001')).length).toBeLessThan(text.length);
    expect(textOf(resolveData('sotu:1790-2021'))).toBe(corpus('sotu'));
  });

  it('refuses a range that is not all within the addresses, reversed, or empty', () => {
    expect(() => resolveData('sotu:1990-2031')).toThrow('sotu:1990-2031: 1990–2031 goes outside the addresses (there are addresses for 1790–2021); did you mean sotu:1990-2021?');
    expect(() => resolveData('sotu:1700-1800')).toThrow('sotu:1700-1800: 1700–1800 goes outside the addresses (there are addresses for 1790–2021); did you mean sotu:1790-1800?');
    expect(() => resolveData('sotu:1700-1710')).toThrow('sotu:1700-1710: 1700–1710 goes outside the addresses (there are addresses for 1790–2021)');
    expect(() => resolveData('sotu:2031')).toThrow('sotu:2031: 2031–2031 goes outside the addresses (there are addresses for 1790–2021)');
    expect(() => resolveData('sotu:2021-1990')).toThrow('sotu:2021-1990: the range runs backwards; write sotu:1990-2021');
    expect(() => resolveData('sotu:1933')).toThrow('sotu:1933: no State of the Union address in 1933–1933 (there are addresses for 1790–2021, none in 1933)');
    for (const bad of ['sotu:last', 'sotu:', 'sotu:1990-', 'sotu:-2000', 'sotu:1990-2000-2010', 'sotu:199']) {
      expect(() => resolveData(bad)).toThrow(`${bad}: the year range must look like sotu:1990-2021 or sotu:2001`);
    }
    expect(() => resolveData('moby-dick:1')).toThrow('moby-dick:1: only sotu takes a year range (sotu:1990-2021)');
    expect(() => resolveData('moby-dick:')).toThrow('moby-dick:: only sotu takes a year range (sotu:1990-2021)');
  });
});

describe('resolveData', () => {
  it('names corpora and files', () => {
    expect(resolveData('moby-dick')).toMatchObject({ name: 'moby-dick', format: 'text' });
    const dir = mkdtempSync(join(tmpdir(), 'peftc-corpora-'));
    const f = join(dir, 'pairs.jsonl');
    writeFileSync(f, '{"prompt": "a", "completion": "b"}\n');
    const src = resolveData(f);
    expect(src).toMatchObject({ name: f, format: 'jsonl', size: 35 });
    expect(new TextDecoder().decode(sourceBytes(src))).toBe('{"prompt": "a", "completion": "b"}\n');
  });

  it('says what it knows when a spec is neither', () => {
    expect(() => resolveData('moby')).toThrow('moby: no such file or corpus (corpora: moby-dick, sotu)');
    expect(() => resolveData('missing/file.txt')).toThrow('missing/file.txt: no such file');
    // A bare name that exists but is no data file says so (not "no such file or corpus").
    expect(() => resolveData('examples')).toThrow('examples: is a directory, not a data file; give a regular text or .jsonl file');
  });

  it('loads a dataset from specs in one call', () => {
    const d = loadDataset({ data: 'sotu:2019-2021', task: 'causal_lm', tokenizer: tokenizerByName('gpt2'), seqLen: 128 });
    expect(d.train.length).toBeGreaterThan(100);
    expect(d.stats.valid.source).toBe('last 10% of sotu:2019-2021');
  });
});

it('normaliseWhitespace', () => {
  expect(normaliseWhitespace('  a\r\nb\rc \t d\u00a0e  \n\n\n\n f \n')).toBe('a\nb\nc d e\n\nf');
});
