// The language features on hostile input, in process: seeded mutations of every example (most
// break it somewhere), each feature asked at seeded cursor positions. Nothing may throw, and
// every range handed to the editor must lie inside its document.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Range } from 'vscode-languageserver';
import { memoryHost } from '../../compiler/load.ts';
import { analyze } from '../../cli/lsp/analysis.ts';
import { quickFixes } from '../../cli/lsp/code-actions.ts';
import { complete } from '../../cli/lsp/completion.ts';
import { documentDiagnostics } from '../../cli/lsp/diagnostics.ts';
import { hoverText } from '../../cli/lsp/hover.ts';
import { definition, documentSymbols, references, rename } from '../../cli/lsp/navigation.ts';
import { mutate, prng } from '../fmt/fuzz.ts';

const dir = new URL('../../examples/', import.meta.url);
const examples: Record<string, string> = Object.fromEntries(
  readdirSync(dir)
    .filter((n) => n.endsWith('.peft'))
    .sort()
    .map((n) => [n, readFileSync(new URL(n, dir), 'utf8')]),
);

/** Whether a protocol range lies inside `text`. */
function inside(r: Range, text: string): boolean {
  const lines = text.split(/\r\n|\r|\n/);
  const ok = (p: Range['start']) => p.line >= 0 && p.line < lines.length && p.character >= 0 && p.character <= lines[p.line]!.length;
  return ok(r.start) && ok(r.end);
}

describe('language features on mutated examples', () => {
  it('never throw and give ranges inside the files', () => {
    const MUTANTS = 8;
    const CURSORS = 20;
    let asked = 0;
    Object.keys(examples).forEach((name, k) => {
      const rand = prng(777 + k);
      for (let i = 0; i < MUTANTS; i++) {
        const text = mutate(examples[name]!, rand);
        const files = { ...examples, [name]: text };
        const a = analyze(name, memoryHost(files), []);
        const where = `${name} mutant ${i}`;
        const doc = TextDocument.create(name, 'peft', 1, text);
        const diagnostics = documentDiagnostics(a);
        for (const d of diagnostics) expect(inside(d.range, text), `${where}: ${d.message}`).toBe(true);
        quickFixes(doc, diagnostics);
        for (const s of documentSymbols(a.result.files.find((f) => f.path === name) ?? { kind: 'file', path: name, items: [], range: a.result.files[0]!.range })) expect(inside(s.range, text), where).toBe(true);
        for (let c = 0; c < CURSORS; c++) {
          const offset = Math.floor(rand() * (text.length + 1));
          hoverText(a, name, offset);
          complete(text, offset, a, a);
          const def = definition(a, name, offset);
          if (def && def.uri === name) expect(inside(def.range, text), where).toBe(true);
          for (const o of references([a], a, name, offset, true)) expect(inside(toRange(o.range), files[o.range.file]!), where).toBe(true);
          rename([a], a, name, offset, 'renamed');
          asked++;
        }
      }
    });
    expect(asked).toBe(Object.keys(examples).length * MUTANTS * CURSORS);
  });
});

function toRange(r: { start: { line: number; col: number }; end: { line: number; col: number } }): Range {
  return { start: { line: r.start.line - 1, character: r.start.col - 1 }, end: { line: r.end.line - 1, character: r.end.col - 1 } };
}
