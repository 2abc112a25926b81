// Diagnostics as text for a terminal, in the shape compilers have taught people to read:
//
//   gpt2.peft:21:28: error E0101: expected `,` or `)` to close the argument list of `Linear`, found `{`
//     c_attn = Linear(d, 3 * d {
//                              ^
//     gpt2.peft:21:18: note: `(` opened here
import type { Diagnostic, SourceRange } from './diagnostics.ts';
import { SourceText } from './source-text.ts';

export function formatDiagnostic(d: Diagnostic, sourceText: string): string {
  const source = new SourceText(d.range.file, sourceText);
  const lines = [`${where(d.range)}: ${d.severity} ${d.code}: ${d.message}`, ...excerpt(d.range, source)];
  for (const note of d.related ?? []) lines.push(`  ${where(note.range)}: note: ${note.message}`);
  return lines.join('\n');
}

function where(range: SourceRange): string {
  return `${range.file}:${range.start.line}:${range.start.col}`;
}

/** The range's first line and a `^~~~` underline of the part of the range on that line. */
function excerpt(range: SourceRange, source: SourceText): string[] {
  const { line, col } = range.start;
  if (line > source.lineCount) return [];
  const text = source.lineText(line);
  const start = Math.min(col - 1, text.length);
  const end = range.end.line === line ? Math.min(range.end.col - 1, text.length) : text.length;
  // Copy tabs from the source line so the caret lines up however wide the terminal's tabs are.
  const indent = text.slice(0, start).replace(/[^\t]/g, ' ');
  return [text, indent + '^' + '~'.repeat(Math.max(0, end - start - 1))];
}
