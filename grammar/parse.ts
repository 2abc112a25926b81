// parse(): text → AST + diagnostics. Lexing, parsing with recovery, building the AST;
// the diagnostics of all three come back sorted by position. Never throws.
import { EOF, type IRecognitionException, type IToken } from 'chevrotain';
import type { SourceFile } from './ast.ts';
import { error, type Diagnostic, type SourceRange } from './diagnostics.ts';
import { SyntaxCode } from './codes.ts';
import { AstBuilder } from './cst-to-ast.ts';
import type { FileCstNode } from './cst-types.ts';
import { lex } from './lexer.ts';
import { findExcessiveNesting, MAX_NESTING } from './nesting.ts';
import { indexAtOffset, indexOf, type ErrorDetail } from './messages.ts';
import { MAX_SYNTAX_ERRORS, peftParser, syntaxMessages, TooManySyntaxErrors } from './parser.ts';
import { SourceText } from './source-text.ts';

export interface ParseResult {
  file: SourceFile;
  diagnostics: Diagnostic[];
}

const builder = new AstBuilder();

/** Parses one .peft file. On errors the AST is partial but well-formed. */
export function parse(text: string, path: string): ParseResult {
  const source = new SourceText(path, text);
  try {
    return parseSource(source);
  } catch (e) {
    // A bug, not bad input: report it as a diagnostic rather than crash the caller.
    const message = `internal error in the parser: ${e instanceof Error ? e.message : String(e)}`;
    const file: SourceFile = { kind: 'file', path, items: [], range: source.range(0, text.length) };
    return { file, diagnostics: [error(SyntaxCode.InternalError, message, source.range(0, 0))] };
  }
}

function parseSource(source: SourceText): ParseResult {
  const lexed = lex(source);
  const tooDeep = findExcessiveNesting(lexed.tokens);
  if (tooDeep) return tooDeeplyNested(source, tooDeep, lexed.diagnostics);
  if (lexed.diagnostics.length >= MAX_SYNTAX_ERRORS) return tooManyErrors(source, lexed.diagnostics);
  syntaxMessages.reset(lexed.tokens);
  peftParser.input = lexed.tokens;
  let cst: FileCstNode;
  try {
    cst = peftParser.file() as FileCstNode;
  } catch (e) {
    if (!(e instanceof TooManySyntaxErrors)) throw e;
    const parseErrors = parserDiagnostics(peftParser.errors, lexed.diagnostics, lexed.tokens, source);
    return tooManyErrors(source, [...lexed.diagnostics, ...parseErrors]);
  }
  const parseErrors = parserDiagnostics(peftParser.errors, lexed.diagnostics, lexed.tokens, source);
  const built = builder.build(cst, source);
  const diagnostics = sortByPosition([...lexed.diagnostics, ...parseErrors, ...built.diagnostics]);
  return { file: built.file, diagnostics };
}

/** Gives up on a file with too many errors: the first ones, then where it stopped. */
function tooManyErrors(source: SourceText, found: Diagnostic[]): ParseResult {
  const first = sortByPosition(found).slice(0, MAX_SYNTAX_ERRORS);
  const last = first[first.length - 1]!.range;
  const message = `too many syntax errors (${MAX_SYNTAX_ERRORS} or more); stopped here: fix these first`;
  const diagnostics = [...first, error(SyntaxCode.TooManyErrors, message, last)];
  return { file: { kind: 'file', path: source.path, items: [], range: source.range(0, source.text.length) }, diagnostics };
}

/** Refuses to parse: the recursive parser would overflow the stack on this input. */
function tooDeeplyNested(source: SourceText, at: IToken, lexical: Diagnostic[]): ParseResult {
  const message = `this expression nests more than ${MAX_NESTING} levels deep; split it into named parts`;
  const range = source.range(at.startOffset, at.startOffset + at.image.length);
  const diagnostics = sortByPosition([...lexical, error(SyntaxCode.TooDeeplyNested, message, range)]);
  return { file: { kind: 'file', path: source.path, items: [], range: source.range(0, source.text.length) }, diagnostics };
}

/**
 * Fewer tokens than this between two errors make the second an echo of the first. Bison and
 * yacc use the same rule: after an error, report nothing until three tokens have parsed.
 */
const ECHO_DISTANCE = 3;

/**
 * The parser's errors as diagnostics, minus the echoes of an earlier error (lexical or
 * syntactic) that recovery produces: errors close behind another one, and a missing closer
 * whose opener recovery had to invent.
 */
function parserDiagnostics(errors: IRecognitionException[], lexical: Diagnostic[], tokens: readonly IToken[], source: SourceText): Diagnostic[] {
  const lexicalAt = lexical.map((d) => ({ index: indexAtOffset(tokens, d.range.start.offset), e: undefined }));
  const parsingAt = errors.map((e) => ({ index: indexOf(tokens, e.token), e }));
  const all = [...lexicalAt, ...parsingAt].sort((a, b) => a.index - b.index);
  const kept: Diagnostic[] = [];
  let last = -Infinity;
  for (const { index, e } of all) {
    const detail = e && syntaxMessages.detailOf(e.token, e.message);
    const echo = index - last <= ECHO_DISTANCE || (detail?.openerMissing === true && last > -Infinity);
    last = index;
    if (e && !echo) kept.push(parserDiagnostic(e, detail, tokens, source));
  }
  return kept;
}

function parserDiagnostic(
  e: IRecognitionException,
  detail: ErrorDetail | undefined,
  tokens: readonly IToken[],
  source: SourceText,
): Diagnostic {
  const range = tokenRange(detail?.at ?? e.token, tokens, source);
  const opener = detail?.opener;
  if (!opener) return error(SyntaxCode.UnexpectedToken, e.message, range);
  const note = { message: `\`${opener.image}\` opened here`, range: tokenRange(opener, tokens, source) };
  return error(SyntaxCode.UnexpectedToken, e.message, range, [note]);
}

/** A token's range; the end of the file is placed just after the last token. */
function tokenRange(token: IToken, tokens: readonly IToken[], source: SourceText): SourceRange {
  if (token.tokenType === EOF || !Number.isFinite(token.startOffset)) {
    const last = tokens[tokens.length - 1];
    const end = last ? last.startOffset + last.image.length : 0;
    return source.range(end, end);
  }
  return source.range(token.startOffset, token.startOffset + token.image.length);
}

function sortByPosition(diagnostics: Diagnostic[]): Diagnostic[] {
  // Array.prototype.sort is stable, so diagnostics at one position keep their phase order.
  return diagnostics.sort((a, b) => a.range.start.offset - b.range.start.offset);
}
