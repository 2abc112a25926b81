// Diagnostics as text for a terminal, in the shape compilers have taught people to read:
//
//   gpt2.peft:21:28: error E0101: expected `,` or `)` to close the argument list of `Linear`, found `{`
//     c_attn = Linear(d, 3 * d {
//                              ^
//     gpt2.peft:21:18: note: `(` opened here
//
// Output stays bounded whatever the input: a long source line is cut to a window around the
// range, a long message is shortened in the middle. A diagnostic about no file (a `--set`
// flag) names its origin and has no excerpt.
import type { Diagnostic, SourceRange } from './diagnostics.ts';
import { cut, elide } from './elide.ts';
import { SourceText } from './source-text.ts';

/** The widest excerpt of a source line; a longer line shows a window around the range. */
export const MAX_EXCERPT_COLUMNS = 120;
/** How much of the line before the range a cut excerpt keeps. */
const CONTEXT_BEFORE = 40;
/** The longest message printed in full. */
export const MAX_MESSAGE_LENGTH = 400;

export function formatDiagnostic(d: Diagnostic, sourceText: string): string {
  const lines = [`${where(d.range)}: ${d.severity} ${d.code}: ${elide(d.message, MAX_MESSAGE_LENGTH)}`];
  if (!d.range.synthetic) lines.push(...excerpt(d.range, new SourceText(d.range.file, sourceText)));
  for (const note of d.related ?? []) lines.push(`  ${where(note.range)}: note: ${elide(note.message, MAX_MESSAGE_LENGTH)}`);
  return lines.join('\n');
}

function where(range: SourceRange): string {
  return range.synthetic ? range.file : `${range.file}:${range.start.line}:${range.start.col}`;
}

/** The range's first line and a `^~~~` underline of the part of the range on that line. */
function excerpt(range: SourceRange, source: SourceText): string[] {
  const { line, col } = range.start;
  if (line > source.lineCount) return [];
  const text = source.lineText(line);
  const start = Math.min(col - 1, text.length);
  const end = range.end.line === line ? Math.min(range.end.col - 1, text.length) : text.length;
  const { from, to } = visible(text.length, start);
  const shown = (from > 0 ? '…' : '') + cut(text, from, to) + (to < text.length ? '…' : '');
  // Copy tabs from the source line so the caret lines up however wide the terminal's tabs are.
  const indent = (from > 0 ? ' ' : '') + cut(text, from, start).replace(/[^\t]/g, ' ');
  return [shown, indent + '^' + '~'.repeat(Math.max(0, Math.min(end, to) - start - 1))];
}

/** The columns [from, to) of a line of `length` shown for a range starting at `start`. */
function visible(length: number, start: number): { from: number; to: number } {
  if (length <= MAX_EXCERPT_COLUMNS) return { from: 0, to: length };
  const from = Math.max(0, Math.min(start - CONTEXT_BEFORE, length - MAX_EXCERPT_COLUMNS));
  return { from, to: from + MAX_EXCERPT_COLUMNS };
}
