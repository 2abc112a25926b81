// A guard against inputs nested so deeply that a recursive-descent parser (and every
// recursive walk of the AST after it) would overflow the call stack. No real program comes
// near the limit; a generated or corrupted one might, and it deserves a diagnostic, not a crash.
import type { IToken } from 'chevrotain';
import * as t from './tokens.ts';

/** The deepest nesting parse() accepts: brackets, unary minus signs and chained operators. */
export const MAX_NESTING = 128;

const opening = new Set([t.LParen, t.LBracket, t.LCurly]);
const closing = new Set([t.RParen, t.RBracket, t.RCurly]);
const operators = new Set([t.Plus, t.Minus, t.Star, t.Slash]);

/**
 * The first token at which the AST would nest deeper than MAX_NESTING, if any.
 * It estimates the AST's depth from the tokens: one level per open bracket, plus one per
 * operator chained at each bracket level (`a + b + c` folds into a left-deep tree), counted
 * afresh after every `,`, `=` and keyword, where a new expression starts.
 */
export function findExcessiveNesting(tokens: readonly IToken[]): IToken | undefined {
  const chained = [0]; // operators chained so far at each open bracket level
  let depth = 0; // open brackets plus all chained operators
  for (const token of tokens) {
    const type = token.tokenType;
    if (opening.has(type)) {
      chained.push(0);
      depth++;
    } else if (closing.has(type) && chained.length > 1) {
      depth -= 1 + chained.pop()!;
    } else if (operators.has(type)) {
      chained[chained.length - 1]!++;
      depth++;
    } else if (type === t.Comma || type === t.Equals || t.keywords.includes(type)) {
      depth -= chained[chained.length - 1]!;
      chained[chained.length - 1] = 0;
    }
    if (depth > MAX_NESTING) return token;
  }
  return undefined;
}
