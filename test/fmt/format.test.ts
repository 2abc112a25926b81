// The formatter: the canonical layout on a golden file and on single rules, every example
// already formatted, and on seeded mutations of the examples that parse: the same tokens and
// comments, a result that parses, and idempotence.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.ts';
import { formatSource } from '../../grammar/format-source.ts';
import { lex } from '../../grammar/lexer.ts';
import { SourceText } from '../../grammar/source-text.ts';
import { expectGolden } from '../grammar/golden.ts';
import { mutate, prng } from './fuzz.ts';

const fmt = (text: string) => {
  const res = formatSource(text, 'f.peft');
  if (res.text === undefined) throw new Error(res.diagnostics.map((d) => d.message).join('\n'));
  return res.text;
};

const examplesDir = new URL('../../examples/', import.meta.url);
const examples = readdirSync(examplesDir)
  .filter((n) => n.endsWith('.peft'))
  .sort()
  .map((name) => ({ name, text: readFileSync(new URL(name, examplesDir), 'utf8') }));

/** The tokens' images and the comments' texts: all a formatter may not change. */
function content(text: string): string[] {
  const tokens = lex(new SourceText('f.peft', text)).tokens.map((t) => t.image);
  const comments = [...text.matchAll(/"(?:[^"\\\n\r]|\\[^\n\r])*"|#[^\n\r]*/g)].map((m) => m[0]).filter((c) => c.startsWith('#')).map((c) => c.trimEnd());
  return [...tokens, '--', ...comments];
}

describe('formatSource', () => {
  it('lays out a messy program (golden)', () => {
    const text = readFileSync(new URL('golden/messy.peft', import.meta.url), 'utf8');
    expectGolden(new URL('golden/messy.formatted.peft', import.meta.url), fmt(text));
  });

  it('leaves every example as it is (they are formatted)', () => {
    for (const { name, text } of examples) expect(fmt(text), name).toBe(text);
  });

  it('spaces operators, arguments and a unary minus', () => {
    expect(fmt('config{a=-1 b=a*(2-a)/-a c=[1,2 , 3]}')).toBe('config {\n  a = -1\n  b = a * (2 - a) / -a\n  c = [1, 2, 3]\n}\n');
    expect(fmt('config { a = 1 - -2 }')).toBe('config {\n  a = 1 - -2\n}\n');
  });

  it('keeps the author\'s line breaks but joins `{` to its line, and collapses blank lines', () => {
    const text = 'model M\n{\n\n\n  e = Embedding(4,\n 2)\n\n\n\n  forward(t)\n  {\n    return e(t)\n\n  }\n}\n\n\n';
    expect(fmt(text)).toBe('model M {\n  e = Embedding(4,\n                2)\n\n  forward(t) {\n    return e(t)\n  }\n}\n');
  });

  it('indents a rule that goes on over several lines, and brackets that hang', () => {
    const text = 'peft {\nadapter(\nreduction = 2\n)\non "a",\n"b"\n}';
    expect(fmt(text)).toBe('peft {\n  adapter(\n    reduction = 2\n  )\n    on "a",\n    "b"\n}\n');
  });

  it('keeps comments where they are: own lines indented with the code, trailing ones as far from the code as written', () => {
    const text = '# head\nconfig {   # the sizes\n# width\n     d = 8     # eight  \n}\n# tail';
    expect(fmt(text)).toBe('# head\nconfig {   # the sizes\n  # width\n  d = 8     # eight\n}\n# tail\n');
  });

  it('writes \\n line ends, no trailing blanks, and nothing for an empty file', () => {
    expect(fmt('config {\r\n  a = 1 \r\n}\r\n')).toBe('config {\n  a = 1\n}\n');
    expect(fmt('\uFEFF\n  \n')).toBe('');
    expect(fmt('# only a comment')).toBe('# only a comment\n');
  });

  it('refuses a file with syntax errors, returning them', () => {
    const res = formatSource('config { a = }', 'bad.peft');
    expect(res.text).toBeUndefined();
    expect(res.diagnostics.map((d) => `${d.range.file}:${d.range.start.line}:${d.range.start.col} ${d.code}`)).toEqual(['bad.peft:1:14 E0101']);
  });

  it('on seeded mutations of the examples that parse: same tokens and comments, parses, idempotent', () => {
    const PER_EXAMPLE = 150;
    let formatted = 0;
    examples.forEach(({ name, text }, k) => {
      const rand = prng(4242 + k);
      for (let i = 0; i < PER_EXAMPLE; i++) {
        const input = mutate(text, rand);
        const res = formatSource(input, name);
        if (res.text === undefined) continue;
        formatted++;
        const where = { name, i, input };
        expect({ ...where, content: content(res.text) }).toEqual({ ...where, content: content(input) });
        expect({ ...where, errors: parse(res.text, name).diagnostics }).toEqual({ ...where, errors: [] });
        expect({ ...where, again: fmt(res.text) }).toEqual({ ...where, again: res.text });
      }
    });
    // Most mutants only move blanks, line breaks and comments: they parse.
    expect(formatted).toBeGreaterThan(examples.length * PER_EXAMPLE * 0.5);
  });
});
