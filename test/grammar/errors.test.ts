// Baseline test of syntax errors: many small wrong programs in errors/cases.peft, each parsed
// on its own; the formatted diagnostics of all of them must equal errors/cases.errors.txt.
// Regenerate the baseline with UPDATE_GOLDEN=1 and review the diff.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, parse } from '../../grammar/index.ts';
import { expectGolden } from './golden.ts';
import { checkWellFormed } from './well-formed.ts';

interface Case {
  name: string;
  text: string;
  /** The number of errors the marker asks for, if it does. */
  errors?: number;
}

const marker = /^# ---- case: ([\w-]+)(?: \[errors: (\d+)\])?$/;

/** Splits the corpus at its marker lines; text before the first marker is a comment. */
function readCases(text: string): Case[] {
  const cases: Case[] = [];
  for (const line of text.split('\n')) {
    const m = marker.exec(line);
    if (m) cases.push({ name: m[1]!, text: '', ...(m[2] ? { errors: Number(m[2]) } : {}) });
    else if (cases.length > 0) cases[cases.length - 1]!.text += line + '\n';
  }
  return cases.map((c) => ({ ...c, text: c.text.replace(/\n+$/, '\n') }));
}

const corpus = readFileSync(new URL('errors/cases.peft', import.meta.url), 'utf8');
const cases = readCases(corpus);

function run(c: Case) {
  const { file, diagnostics } = parse(c.text, `${c.name}.peft`);
  return { file, diagnostics, formatted: diagnostics.map((d) => formatDiagnostic(d, c.text)) };
}

describe('syntax error corpus', () => {
  it('has many cases with distinct names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases)('$name: reports errors and keeps a well-formed AST', (c) => {
    const { file, diagnostics } = run(c);
    expect(diagnostics.length).toBeGreaterThan(0);
    if (c.errors !== undefined) expect(diagnostics).toHaveLength(c.errors);
    for (const d of diagnostics) expect(d.code).toMatch(/^E01\d\d$/);
    expect(diagnostics.map((d) => d.code)).not.toContain('E0199');
    expect(checkWellFormed(file, c.text)).toEqual([]);
  });

  it('matches the baseline errors/cases.errors.txt', () => {
    const baseline = cases.map((c) => [`==== ${c.name}`, ...run(c).formatted, ''].join('\n')).join('\n');
    expectGolden(new URL('errors/cases.errors.txt', import.meta.url), baseline);
  });
});
