// Fuzzing the front end: thousands of seeded random mutations of the example programs.
// Whatever the input, parse() must not throw, must not hit an internal error, and must return
// a well-formed AST and diagnostics whose ranges lie inside the text.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, parse } from '../../grammar/index.ts';
import { checkWellFormed } from './well-formed.ts';
import { mulberry32 } from '../prng.ts';

const prng = mulberry32;

type Random = () => number;
const pick = <T>(rand: Random, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const below = (rand: Random, n: number): number => Math.floor(rand() * n);

/** Lexemes as a reader would see them; independent of the lexer under test. */
const lexeme = /\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"?|\w+|./gsu;
const fragments = [
  ...'(){}[],.=+-*/"\'\\#@;:\n\t \r'.split(''),
  'é', '😀', '\uD83D', '\u0000', '\uFEFF',
  'import', 'config', 'block', 'model', 'peft', 'forward', 'return', 'with', 'on', 'exclude',
  'override', 'train', 'true', 'false', 'x', 'Linear', '1e-5', '1.2.3', '"h.*"', '"\\q"', '"open',
];

type Mutation = (text: string, rand: Random) => string;

const splice = (text: string, at: number, remove: number, insert = '') => text.slice(0, at) + insert + text.slice(at + remove);

const mutations: Mutation[] = [
  // characters
  (s, r) => splice(s, below(r, s.length), 1),
  (s, r) => splice(s, below(r, s.length + 1), 0, pick(r, fragments)),
  (s, r) => {
    const at = below(r, s.length);
    return splice(s, at, 0, s.charAt(at));
  },
  (s, r) => {
    const at = below(r, s.length - 1);
    return splice(s, at, 2, s.charAt(at + 1) + s.charAt(at));
  },
  (s, r) => s.slice(0, below(r, s.length + 1)),
  // lexemes
  (s, r) => mutateLexemes(s, r, (ls, i) => ls.splice(i, 1)),
  (s, r) => mutateLexemes(s, r, (ls, i) => ls.splice(i, 0, ls[i]!)),
  (s, r) => mutateLexemes(s, r, (ls, i) => ls.splice(i, 0, ` ${pick(r, fragments)} `)),
  (s, r) =>
    mutateLexemes(s, r, (ls, i) => {
      const j = below(r, ls.length);
      [ls[i], ls[j]] = [ls[j]!, ls[i]!];
    }),
];

function mutateLexemes(text: string, rand: Random, edit: (lexemes: string[], i: number) => void): string {
  const lexemes = text.match(lexeme) ?? [];
  if (lexemes.length === 0) return text;
  edit(lexemes, below(rand, lexemes.length));
  return lexemes.join('');
}

function mutate(text: string, rand: Random): string {
  let out = text;
  const count = 1 + below(rand, 4);
  for (let i = 0; i < count; i++) out = pick(rand, mutations)(out, rand);
  return out;
}

/** Everything parse() promises, checked on one input. Returns the problems found. */
function check(text: string): string[] {
  const { file, diagnostics } = parse(text, 'fuzz.peft');
  const problems = checkWellFormed(file, text);
  for (const d of diagnostics) {
    if (!/^E01\d\d$/.test(d.code) || d.code === 'E0199') problems.push(`${d.code}: ${d.message}`);
    const { start, end } = d.range;
    if (start.offset < 0 || end.offset > text.length || start.offset > end.offset) problems.push(`bad diagnostic range: ${d.message}`);
    if (formatDiagnostic(d, text).length === 0) problems.push('empty formatted diagnostic');
  }
  return problems;
}

const root = new URL('../../examples/', import.meta.url);
const examples = readdirSync(root)
  .filter((n) => n.endsWith('.peft'))
  .sort()
  .map((name) => ({ name, text: readFileSync(new URL(name, root), 'utf8') }));

const PER_EXAMPLE = 1000;

describe('fuzz', () => {
  it(`survives ${PER_EXAMPLE} mutations of each example`, () => {
    let runs = 0;
    examples.forEach(({ name, text }, k) => {
      const rand = prng(1234 + k);
      for (let i = 0; i < PER_EXAMPLE; i++) {
        const input = mutate(text, rand);
        const problems = check(input);
        if (problems.length > 0) expect({ name, i, input, problems }).toEqual({ name, i, input, problems: [] });
        runs++;
      }
    });
    expect(runs).toBeGreaterThanOrEqual(3000);
  });

  it('survives random text', () => {
    const rand = prng(99);
    for (let i = 0; i < 500; i++) {
      const input = Array.from({ length: below(rand, 60) }, () => pick(rand, fragments)).join(' ');
      expect(check(input), input).toEqual([]);
    }
  });

  it('refuses nesting deep enough to overflow the stack, with E0109', () => {
    const nest = (depth: number) => [
      `config { x = ${'('.repeat(depth)}1${')'.repeat(depth)} }`,
      `config { x = ${'-'.repeat(depth)}1 }`,
      `config { x = ${'['.repeat(depth)}${']'.repeat(depth)} }`,
      `config { x = ${'f('.repeat(depth)}${')'.repeat(depth)} }`,
      `config { x = ${Array.from({ length: depth + 1 }, () => 'a').join(' + ')} }`,
    ];
    for (const input of nest(100)) expect(parse(input, 'deep.peft').diagnostics).toEqual([]);
    for (const input of nest(20_000)) {
      expect(check(input)).toEqual([]);
      expect(parse(input, 'deep.peft').diagnostics.map((d) => d.code)).toEqual(['E0109']);
    }
  });
});
