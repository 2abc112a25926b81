// The catalog of syntax diagnostics. Codes are stable: a code keeps its meaning forever,
// so tests, docs and users can refer to it. docs/diagnostics.md documents each one
// (a test checks that every code here appears there).

export const SyntaxCode = {
  /** The parser met a token it cannot use here. */
  UnexpectedToken: 'E0101',
  /** A string literal reaches the end of its line without a closing `"`. */
  UnterminatedString: 'E0102',
  /** A character that is not part of the language (`@`, `;`, `'`, …). */
  InvalidCharacter: 'E0103',
  /** `f(a = 1, b)`: positional arguments must come before named ones. */
  PositionalAfterNamed: 'E0104',
  /** An escape sequence other than `\"`, `\\` and `\n` in a string. */
  InvalidEscape: 'E0105',
  /** A number such as `1.2.3`, `1e` or `2x`, or one too large to represent. */
  InvalidNumber: 'E0106',
  /** A block or model with more than one `forward`. */
  DuplicateForward: 'E0107',
  /** `exclude` or `override` in a peft rule that has no `on` targets. */
  FilterWithoutTargets: 'E0108',
  /** Brackets, minus signs or operators nested deeper than the parser's limit (128). */
  TooDeeplyNested: 'E0109',
  /** More syntax errors in one file than are worth reporting; the parser stopped there. */
  TooManyErrors: 'E0110',
  /** A bug in the parser itself; the message says what went wrong. */
  InternalError: 'E0199',
} as const;

export type SyntaxCode = (typeof SyntaxCode)[keyof typeof SyntaxCode];
