// formatDiagnostic: `file:line:col: severity CODE: message`, the line, a `^~~~` underline, notes.
import { describe, expect, it } from 'vitest';
import { elide, error, formatDiagnostic, MAX_EXCERPT_COLUMNS, syntheticRange, type Diagnostic } from '../../grammar/index.ts';
import { SourceText } from '../../grammar/source-text.ts';

const text = 'config {\n\td = Linear(8,\n  8)\n}\n';
const source = new SourceText('f.peft', text);
const at = (start: number, end = start) => source.range(start, end);
const offsetOf = (needle: string) => text.indexOf(needle);

describe('formatDiagnostic', () => {
  it('underlines the range on its line, keeping tabs so the caret lines up', () => {
    const start = offsetOf('Linear');
    const d = error('E0101', 'something is wrong', at(start, start + 'Linear'.length));
    expect(formatDiagnostic(d, text)).toBe(['f.peft:2:6: error E0101: something is wrong', '\td = Linear(8,', '\t    ^~~~~~'].join('\n'));
  });

  it('marks an empty range with a caret alone', () => {
    const d = error('E0101', 'missing', at(offsetOf('}')));
    expect(formatDiagnostic(d, text).split('\n').slice(1)).toEqual(['}', '^']);
  });

  it('underlines only the first line of a multi-line range', () => {
    const d = error('E0101', 'spans lines', at(offsetOf('Linear'), offsetOf('8)') + 2));
    expect(formatDiagnostic(d, text).split('\n')[2]).toBe('\t    ^~~~~~~~~');
  });

  it('adds related information as notes', () => {
    const d = error('E0104', 'main', at(offsetOf('8,'), offsetOf('8,') + 1), [{ message: 'see here', range: at(0, 6) }]);
    expect(formatDiagnostic(d, text).split('\n').slice(3)).toEqual(['  f.peft:1:1: note: see here']);
  });

  it('writes the severity as given', () => {
    const d: Diagnostic = { ...error('E0101', 'careful', at(0, 6)), severity: 'warning' };
    expect(formatDiagnostic(d, text).split('\n')[0]).toBe('f.peft:1:1: warning E0101: careful');
  });

  it('handles the end of the file and \\r\\n line breaks', () => {
    const crlf = 'a\r\nb';
    const end = new SourceText('g.peft', crlf).range(crlf.length, crlf.length);
    expect(formatDiagnostic(error('E0101', 'at the end', end), crlf)).toBe('g.peft:2:2: error E0101: at the end\nb\n ^');
    const afterLastLine = new SourceText('g.peft', 'a\n').range(2, 2);
    expect(formatDiagnostic(error('E0101', 'x', afterLastLine), 'a\n')).toBe('g.peft:2:1: error E0101: x\n\n^');
  });
});

describe('formatDiagnostic on hostile input', () => {
  const long = `x = ${Array.from({ length: 400 }, (_, i) => `a${i}`).join(' + ')}`;
  const src = new SourceText('l.peft', long);

  it('cuts a long line to a window around the range, the caret under the same character', () => {
    const start = long.indexOf('a200 ');
    const [, line, caret] = formatDiagnostic(error('E0201', 'unknown', src.range(start, start + 4)), long).split('\n');
    expect([...line!].length).toBeLessThanOrEqual(MAX_EXCERPT_COLUMNS + 2);
    expect(line!.startsWith('…') && line!.endsWith('…')).toBe(true);
    expect(caret!.trimStart()).toBe('^~~~');
    expect(line!.slice(caret!.indexOf('^'), caret!.indexOf('^') + 4)).toBe('a200');
  });

  it('keeps a short line whole and cuts only the side that is long', () => {
    const [, line, caret] = formatDiagnostic(error('E0201', 'unknown', src.range(4, 6)), long).split('\n');
    expect(line!.startsWith('x = a0 + ')).toBe(true);
    expect(line!.endsWith('…')).toBe(true);
    expect(caret).toBe('    ^~');
  });

  it('shortens a huge message in the middle', () => {
    const message = `unknown name \`${'n'.repeat(50_000)}\``;
    const head = formatDiagnostic(error('E0201', message, src.range(0, 1)), long).split('\n')[0]!;
    expect(head.length).toBeLessThan(500);
    expect(head).toContain('…');
  });

  it('prints a diagnostic about a flag with the flag as its location and no excerpt', () => {
    const d = error('E0501', '`0x2` is not a number (use decimal, e.g. 2)', syntheticRange('--set n_layer=0x2'));
    expect(formatDiagnostic(d, '')).toBe('--set n_layer=0x2: error E0501: `0x2` is not a number (use decimal, e.g. 2)');
  });

  it('elide keeps the head and tail and never splits a surrogate pair', () => {
    expect(elide('short', 60)).toBe('short');
    const cut = elide('😀'.repeat(100), 21);
    expect(cut).toContain('…');
    expect(cut.length).toBeLessThanOrEqual(21);
    expect([...cut].every((c) => c === '😀' || c === '…')).toBe(true);
  });
});
