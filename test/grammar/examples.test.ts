// Every example program parses cleanly; two of them are pinned as golden AST printouts.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, parse, printAst } from '../../grammar/index.ts';
import { expectGolden } from './golden.ts';

const root = new URL('../../', import.meta.url);
const examples = readdirSync(new URL('examples/', root))
  .filter((name) => name.endsWith('.peft'))
  .sort();

function parseExample(name: string) {
  const path = `examples/${name}`;
  const text = readFileSync(new URL(path, root), 'utf8');
  return { text, ...parse(text, path) };
}

describe('examples', () => {
  it('are all found', () => {
    expect(examples.length).toBeGreaterThanOrEqual(10);
  });

  it.each(examples)('%s parses with no diagnostics', (name) => {
    const { text, diagnostics } = parseExample(name);
    expect(diagnostics.map((d) => formatDiagnostic(d, text))).toEqual([]);
  });

  it.each(['gpt2.peft', 'gpt2-lora.peft'])('%s matches its golden AST', (name) => {
    const { file } = parseExample(name);
    expectGolden(new URL(`golden/${name.replace(/\.peft$/, '.ast.txt')}`, import.meta.url), printAst(file));
  });
});
