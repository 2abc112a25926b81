// The vocabulary of .peft files, as one ordered list of token types.
// Order matters: chevrotain's lexer takes the first pattern that matches, so keywords come
// before Identifier (each keyword has `longer_alt: Identifier`, so `modelName` is one name),
// and the closed string before the unterminated one.
import { createToken, Lexer, type TokenType } from 'chevrotain';

// ---------------------------------------------------------------- trivia

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  // \uFEFF: a byte-order mark left at the start of a file by some editors.
  pattern: /[ \t\r\n\f\v\uFEFF]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});

export const Comment = createToken({ name: 'Comment', pattern: /#[^\n\r]*/, group: Lexer.SKIPPED });

// ---------------------------------------------------------------- names and keywords

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });

function keyword(word: string): TokenType {
  const name = word[0]!.toUpperCase() + word.slice(1);
  return createToken({ name, pattern: new RegExp(word), longer_alt: Identifier, label: `\`${word}\`` });
}

export const Import = keyword('import');
export const Config = keyword('config');
export const Block = keyword('block');
export const Model = keyword('model');
export const Peft = keyword('peft');
export const Forward = keyword('forward');
export const Return = keyword('return');
export const With = keyword('with');
export const On = keyword('on');
export const Exclude = keyword('exclude');
export const Override = keyword('override');
export const Train = keyword('train');
export const True = keyword('true');
export const False = keyword('false');

export const keywords: readonly TokenType[] = [
  Import, Config, Block, Model, Peft, Forward, Return, With, On, Exclude, Override, Train, True, False,
];

// ---------------------------------------------------------------- literals

/**
 * Deliberately greedy: `1.2.3`, `1e` and `2x` lex as one number token, so the AST builder
 * can report one clear "malformed number" instead of a confusing run of tokens.
 * The exponent alternative comes first so that `1e-5` keeps its sign.
 */
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /\d(?:[eE][+-]\d|[A-Za-z0-9_.])*/,
  label: 'a number',
});

export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/,
  label: 'a string',
});

/**
 * A string that reaches the end of its line without a closing quote. It is a StringLiteral
 * by category, so the parser carries on as if the quote were there; the lexer reports it.
 */
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r]?)*/,
  categories: [StringLiteral],
  label: 'a string',
});

/**
 * 'text' in single quotes, as other languages allow. Not part of the language: the lexer
 * reports it, and the parser takes it as the string that was meant, so one slip is one error.
 */
export const SingleQuotedString = createToken({
  name: 'SingleQuotedString',
  pattern: /'(?:[^'\\\n\r]|\\[^\n\r])*'?/,
  categories: [StringLiteral],
  label: 'a string',
});

// ---------------------------------------------------------------- punctuation

function punctuation(name: string, text: string, categories: TokenType[] = []): TokenType {
  const escaped = text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  return createToken({ name, pattern: new RegExp(escaped), label: `\`${text}\``, categories });
}

// Operator categories, as in chevrotain's calculator example: the CST keeps `+` and `-`
// under one name, in source order, so the AST builder can fold them left to right.
export const AdditionOperator = createToken({ name: 'AdditionOperator', pattern: Lexer.NA });
export const MultiplicationOperator = createToken({ name: 'MultiplicationOperator', pattern: Lexer.NA });

export const LParen = punctuation('LParen', '(');
export const RParen = punctuation('RParen', ')');
export const LCurly = punctuation('LCurly', '{');
export const RCurly = punctuation('RCurly', '}');
export const LBracket = punctuation('LBracket', '[');
export const RBracket = punctuation('RBracket', ']');
export const Comma = punctuation('Comma', ',');
export const Dot = punctuation('Dot', '.');
export const Equals = punctuation('Equals', '=');
export const Plus = punctuation('Plus', '+', [AdditionOperator]);
export const Minus = punctuation('Minus', '-', [AdditionOperator]);
export const Star = punctuation('Star', '*', [MultiplicationOperator]);
export const Slash = punctuation('Slash', '/', [MultiplicationOperator]);

/** Every token type, in lexing order. */
export const allTokens: readonly TokenType[] = [
  WhiteSpace,
  Comment,
  ...keywords,
  Identifier,
  NumberLiteral,
  StringLiteral,
  UnterminatedString,
  SingleQuotedString,
  LParen, RParen, LCurly, RCurly, LBracket, RBracket,
  Comma, Dot, Equals, Plus, Minus, Star, Slash,
  AdditionOperator, MultiplicationOperator,
];

/** The keywords that begin a top-level item. */
export const itemStarts: ReadonlySet<TokenType> = new Set([Import, Config, Block, Model, Peft]);

/** Closing delimiters and the opening ones they match. */
export const openerOf: ReadonlyMap<TokenType, TokenType> = new Map([
  [RParen, LParen],
  [RCurly, LCurly],
  [RBracket, LBracket],
]);
