// A file's text with its line table: turns 0-based offsets into the 1-based line/column
// positions of diagnostics, and gives back the text of a line for underlining.
// Line breaks are `\n`, `\r\n` and a lone `\r`, the same everywhere in the front end.
import type { Position, SourceRange } from './diagnostics.ts';

export class SourceText {
  /** Offset of the first character of each line; line N starts at lineStarts[N - 1]. */
  private readonly lineStarts: number[];

  constructor(
    readonly path: string,
    readonly text: string,
  ) {
    this.lineStarts = findLineStarts(text);
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  /** The position of `offset`, clamped into [0, text.length]. */
  position(offset: number): Position {
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    const line = this.lineIndexOf(clamped);
    return { line: line + 1, col: clamped - this.lineStarts[line]! + 1, offset: clamped };
  }

  /** The range [start, end) of this file. */
  range(start: number, end: number): SourceRange {
    const from = this.position(start);
    return { file: this.path, start: from, end: this.position(Math.max(end, from.offset)) };
  }

  /** The text of 1-based `line` without its line break ('' past the end). */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[line] ?? this.text.length;
    return this.text.slice(start, next).replace(/\r?\n$|\r$/, '');
  }

  private lineIndexOf(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function findLineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 /* \r */ && text.charCodeAt(i + 1) === 10) continue; // \r\n breaks at the \n
    if (c === 10 /* \n */ || c === 13) starts.push(i + 1);
  }
  return starts;
}
