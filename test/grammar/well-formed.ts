// Checks that an AST is well-formed whatever the input: every node is an object of a known
// kind with a range inside the text, nested in its parent's range.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { SourceFile } from '../../grammar/ast.ts';

/** Returns the problems found (empty when the AST is well-formed). */
export function checkWellFormed(file: SourceFile, text: string): string[] {
  const problems: string[] = [];
  visit(file, 'file', undefined, text.length, problems);
  return problems;
}

function visit(value: unknown, path: string, parent: SourceRange | undefined, length: number, problems: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => visit(v, `${path}[${i}]`, parent, length, problems));
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const node = value as { range?: SourceRange; kind?: unknown };
  if (!node.range) {
    problems.push(`${path}: no range`);
    return;
  }
  checkRange(node.range, path, parent, length, problems);
  for (const [key, child] of Object.entries(node)) {
    if (key !== 'range') visit(child, `${path}.${key}`, node.range, length, problems);
  }
}

function checkRange(r: SourceRange, path: string, parent: SourceRange | undefined, length: number, problems: string[]): void {
  const { start, end } = r;
  const valid = [start.offset, end.offset, start.line, start.col, end.line, end.col].every(Number.isInteger);
  if (!valid || start.offset < 0 || end.offset > length || start.offset > end.offset) {
    problems.push(`${path}: bad range ${JSON.stringify(r)}`);
  } else if (parent && (start.offset < parent.start.offset || end.offset > parent.end.offset)) {
    problems.push(`${path}: range ${start.offset}-${end.offset} outside its parent's ${parent.start.offset}-${parent.end.offset}`);
  }
}
