// The syntax layer's public API: text → AST + diagnostics, and both back to text.
export { parse, type ParseResult } from './parse.ts';
export { formatDiagnostic } from './format.ts';
export { printAst } from './print-ast.ts';
export { SyntaxCode } from './codes.ts';
export { MISSING } from './cst-to-ast.ts';
export type * from './ast.ts';
export * from './diagnostics.ts';
