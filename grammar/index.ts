// The syntax layer's public API: text → AST + diagnostics, and both back to text.
export { parse, type ParseResult } from './parse.ts';
export { formatDiagnostic, MAX_EXCERPT_COLUMNS } from './format.ts';
export { elide } from './elide.ts';
export { printAst } from './print-ast.ts';
export { SyntaxCode } from './codes.ts';
export { MISSING } from './cst-to-ast.ts';
export type * from './ast.ts';
export * from './diagnostics.ts';
