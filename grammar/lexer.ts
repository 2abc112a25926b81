// Text → tokens, with the lexical diagnostics: invalid characters (E0103) and
// unterminated strings (E0102). Never throws; the lexer skips what it cannot read.
import { Lexer, type ILexingError, type IToken } from 'chevrotain';
import { allTokens, SingleQuotedString, UnterminatedString } from './tokens.ts';
import { error, type Diagnostic } from './diagnostics.ts';
import { SyntaxCode } from './codes.ts';
import type { SourceText } from './source-text.ts';

export interface LexResult {
  tokens: IToken[];
  diagnostics: Diagnostic[];
}

// Positions come from SourceText, so the lexer only tracks offsets (the fastest mode).
// ensureOptimizations makes a regression to the slow lexing path fail loudly at start-up.
const lexer = new Lexer([...allTokens], {
  positionTracking: 'onlyOffset',
  ensureOptimizations: true,
});

/** Characters people bring from other languages, with what to write instead. */
const hints: Record<string, string> = {
  ';': 'statements need no `;`',
  ':': 'write `name = value`',
};

export function lex(source: SourceText): LexResult {
  const result = lexer.tokenize(source.text);
  // 'onlyOffset' tracking leaves endOffset unset; the parser's node locations need it.
  for (const token of result.tokens) token.endOffset = token.startOffset + token.image.length - 1;
  const diagnostics = result.errors.map((e) => invalidCharacter(e, source));
  for (const token of result.tokens) {
    if (token.tokenType === UnterminatedString) diagnostics.push(unterminatedString(token, source));
    if (token.tokenType === SingleQuotedString) diagnostics.push(singleQuoted(token, source));
  }
  return { tokens: result.tokens, diagnostics };
}

function invalidCharacter(e: ILexingError, source: SourceText): Diagnostic {
  const chars = source.text.slice(e.offset, e.offset + e.length);
  const noun = [...chars].length === 1 ? 'character' : 'characters';
  const hint = hints[chars[0]!];
  const message = `invalid ${noun} \`${chars}\`` + (hint ? `: ${hint}` : '');
  return error(SyntaxCode.InvalidCharacter, message, source.range(e.offset, e.offset + e.length));
}

function unterminatedString(token: IToken, source: SourceText): Diagnostic {
  const end = token.startOffset + token.image.length;
  return error(
    SyntaxCode.UnterminatedString,
    'unterminated string: add a closing `"` before the end of the line',
    source.range(token.startOffset, end),
  );
}

function singleQuoted(token: IToken, source: SourceText): Diagnostic {
  const body = token.image.slice(1).replace(/'$/, '');
  const message = `invalid character \`'\`: strings are written in double quotes, as in \`"${body}"\``;
  return error(SyntaxCode.InvalidCharacter, message, source.range(token.startOffset, token.startOffset + token.image.length));
}
