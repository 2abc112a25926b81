// Baseline test of semantic errors: many small wrong programs in errors/cases.peft, each
// compiled on its own; the formatted diagnostics of all of them must equal
// errors/cases.errors.txt. Regenerate with UPDATE_GOLDEN=1 and review the diff.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/build.ts';
import { Codes } from '../../compiler/codes.ts';
import { formatDiagnostic } from '../../grammar/index.ts';
import { expectGolden } from '../grammar/golden.ts';
import { EXAMPLES, overlayHost, TINY } from '../helpers.ts';

const marker = /^# ---- case: ([\w-]+) \[code: ([EW]\d{4})\]$/;
const cases: { name: string; code: string; text: string }[] = [];
for (const line of readFileSync(new URL('errors/cases.peft', import.meta.url), 'utf8').split('\n')) {
  const m = marker.exec(line);
  if (m) cases.push({ name: m[1]!, code: m[2]!, text: '' });
  else if (cases.length) cases[cases.length - 1]!.text += line + '\n';
}

function run(c: (typeof cases)[number]) {
  const path = resolve(EXAMPLES, `${c.name}.peft`);
  const set = c.text.includes('gpt2.peft') ? [TINY.gpt2!] : [];
  const res = compile(path, overlayHost({ [path]: c.text }), { set });
  const shown = res.diagnostics.map((d) => {
    const rel = (f: string) => relative(EXAMPLES, f);
    const fix = { ...d, range: { ...d.range, file: rel(d.range.file) } };
    if (d.related) fix.related = d.related.map((x) => ({ ...x, range: { ...x.range, file: rel(x.range.file) } }));
    return formatDiagnostic(fix, res.texts.get(d.range.file) ?? '');
  });
  return { res, shown };
}

describe('semantic error corpus', () => {
  it('has many distinct cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases)('$name reports $code', (c) => {
    const { res } = run(c);
    expect(res.diagnostics.map((d) => d.code)).toContain(c.code);
    if (c.code.startsWith('E')) expect(res.graph).toBeUndefined();
    else expect(res.graph).toBeDefined(); // a warning alone does not stop compilation
  });

  it('reports every error of a file, not only the first', () => {
    const c = cases.find((x) => x.name === 'several-errors')!;
    expect(run(c).res.diagnostics.filter((d) => d.severity === 'error')).toHaveLength(3);
  });

  it('matches the baseline errors/cases.errors.txt', () => {
    const text = cases.map((c) => [`==== ${c.name}`, ...run(c).shown, ''].join('\n')).join('\n');
    expectGolden(new URL('errors/cases.errors.txt', import.meta.url), text);
  });
});

describe('docs/diagnostics.md', () => {
  const doc = readFileSync(new URL('../../docs/diagnostics.md', import.meta.url), 'utf8');
  it.each(Object.entries(Codes))('documents %s (%s)', (_, code) => {
    expect(doc).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });
});
