// Diagnostics are data: every phase returns them, none throws on bad input.
// Each has a stable code (see docs/diagnostics.md), a message that says what to do,
// and the source range it is about.

export interface Position {
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
  /** 0-based character offset into the file text. */
  offset: number;
}

export interface SourceRange {
  file: string;
  start: Position;
  /** Exclusive end. */
  end: Position;
  /** Not in any file (a command-line flag): printed without line, column or excerpt. */
  synthetic?: true;
}

export type Severity = 'error' | 'warning';

export interface RelatedInfo {
  message: string;
  range: SourceRange;
}

export interface Diagnostic {
  severity: Severity;
  /** Stable code, e.g. `E0101`; the catalog lives in docs/diagnostics.md. */
  code: string;
  message: string;
  range: SourceRange;
  related?: RelatedInfo[];
}

export function error(code: string, message: string, range: SourceRange, related?: RelatedInfo[]): Diagnostic {
  return related ? { severity: 'error', code, message, range, related } : { severity: 'error', code, message, range };
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/**
 * A range for things that come from no file: `where` names the origin as the user wrote it
 * (`--set n_layer=0x2`), and diagnostics print it in place of `file:line:col`.
 */
export function syntheticRange(where = '<command line>'): SourceRange {
  const p = { line: 1, col: 1, offset: 0 };
  return { file: where, start: p, end: { ...p, col: 2, offset: 1 }, synthetic: true };
}
