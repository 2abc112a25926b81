// Syntax error messages in the language's own words, for chevrotain's error message provider.
// chevrotain tells us which token it expected, which one it found and in which rule; for a
// missing closing delimiter we also look back through the tokens for the unclosed opener,
// so the message can say what it was meant to close ("the argument list of `Linear`") and
// the diagnostic can point at it.
import { EOF, tokenLabel, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import * as t from './tokens.ts';

/**
 * What a message was about beyond the token chevrotain reports, remembered so the diagnostic
 * can point at it.
 */
export interface ErrorDetail {
  message: string;
  /** For a missing closer: the unclosed opener. */
  opener?: IToken;
  /**
   * For a missing closer with no opener in the text: recovery inserted the opener after an
   * earlier error, so this error is only an echo of that one.
   */
  openerMissing?: boolean;
  /** The token the error is really about, when it is not the one found. */
  at?: IToken;
}

/** What may appear inside each `{ }` body, by the rule that parses it. */
const bodyContents: Record<string, string> = {
  moduleBody: 'a member (`name = ...`), `forward(...) { ... }` or `}`',
  configDecl: 'an entry (`name = value`) or `}`',
  peftDecl: 'a rule (`method(...) on "pattern"` or `train "pattern"`) or `}`',
  forwardDecl: 'a statement (`name = ...` or `return ...`) or `}`',
};

/** Rules whose `)` or `]` closes a comma-separated list, where a `,` could also come next. */
const commaLists = new Set(['args', 'blockParams', 'forwardDecl', 'list']);

/** What an alternation or a mandatory repetition wanted, by the rule it is in. */
const alternatives: Record<string, string> = {
  unary: 'an expression',
  primary: 'an expression',
  patterns: 'a pattern string such as `"h.*.attn"`',
  member: 'a PEFT method such as `lora(rank = 8)`',
};

const topLevel = 'expected `import`, `config`, `block`, `model` or `peft`';

export class SyntaxMessages implements IParserErrorMessageProvider {
  private tokens: readonly IToken[] = [];
  private readonly details = new Map<IToken, ErrorDetail[]>();

  /** Starts a new file: messages look back through `tokens`. */
  reset(tokens: readonly IToken[]): void {
    this.tokens = tokens;
    this.details.clear();
  }

  /** The detail remembered for the error `message` at `token`, if any. */
  detailOf(token: IToken, message: string): ErrorDetail | undefined {
    return this.details.get(token)?.find((n) => n.message === message);
  }

  buildMismatchTokenMessage(o: { expected: TokenType; actual: IToken; previous: IToken; ruleName: string }): string {
    if (o.expected === EOF) return `unexpected ${found(o.actual)} at the top level: ${topLevel}`;
    if (t.openerOf.has(o.expected)) return this.unclosed(o.expected, o.actual, o.ruleName);
    if (o.actual.tokenType === t.Equals && t.keywords.includes(o.previous.tokenType)) {
      const message = `\`${o.previous.image}\` is a keyword and cannot be used as a name`;
      this.remember(o.actual, { message, at: o.previous });
      return message;
    }
    return `expected ${tokenLabel(o.expected)}${after(o.previous)}, found ${found(o.actual)}`;
  }

  buildNotAllInputParsedMessage(o: { firstRedundant: IToken }): string {
    return `unexpected ${found(o.firstRedundant)} at the top level: ${topLevel}`;
  }

  buildNoViableAltMessage(o: { actual: IToken[]; previous: IToken; ruleName: string }): string {
    return this.wanted(o.ruleName, o.actual[0], o.previous);
  }

  buildEarlyExitMessage(o: { actual: IToken[]; previous: IToken; ruleName: string }): string {
    return this.wanted(o.ruleName, o.actual[0], o.previous);
  }

  private wanted(ruleName: string, actual: IToken | undefined, previous: IToken): string {
    const what = alternatives[ruleName] ?? 'something else';
    return `expected ${what}${after(previous)}, found ${actual ? found(actual) : 'the end of the file'}`;
  }

  /** A closing delimiter was expected but `actual` came instead. */
  private unclosed(closer: TokenType, actual: IToken, ruleName: string): string {
    const openerIndex = findOpener(this.tokens, indexOf(this.tokens, actual), closer);
    const context = openerIndex === undefined ? undefined : describeOpener(this.tokens, openerIndex);
    const contents = bodyContents[ruleName];
    // A stray token inside a body is more likely than a forgotten `}`, unless what follows
    // could only come after the body (the end of the file, the next top-level item).
    if (closer === t.RCurly && contents && !endsBody(actual)) {
      const dotted = this.dottedBareTarget(actual);
      if (dotted) return dotted;
      return `unexpected ${found(actual)}${context ? ` in ${context}` : ''}: expected ${contents}`;
    }
    const comma = closer !== t.RCurly && commaLists.has(ruleName) ? '`,` or ' : '';
    const purpose = context ? ` to close ${context}` : '';
    const message = `expected ${comma}${tokenLabel(closer)}${purpose}, found ${found(actual)}`;
    const opener = openerIndex === undefined ? undefined : this.tokens[openerIndex];
    this.remember(actual, opener ? { message, opener } : { message, openerMissing: true });
    return message;
  }

  /** `on h.attn`: a bare name in a target list is a selector, so a dotted path needs quotes. */
  private dottedBareTarget(actual: IToken): string | undefined {
    const i = indexOf(this.tokens, actual);
    const [before, name] = [this.tokens[i - 2], this.tokens[i - 1]];
    if (actual.tokenType !== t.Dot || name?.tokenType !== t.Identifier || (before?.tokenType !== t.On && before?.tokenType !== t.Comma)) return undefined;
    return `expected a pattern string such as \`"h.*.attn"\` after ${quote(before.image)}, found ${quote(`${name.image}.`)}: a module path is quoted`;
  }

  private remember(token: IToken, detail: ErrorDetail): void {
    const list = this.details.get(token);
    if (list) list.push(detail);
    else this.details.set(token, [detail]);
  }
}

function endsBody(token: IToken): boolean {
  return token.tokenType === EOF || t.itemStarts.has(token.tokenType);
}

/** How a found token reads in a message. */
export function found(token: IToken): string {
  if (token.tokenType === EOF) return 'the end of the file';
  return quote(token.image);
}

function after(previous: IToken | undefined): string {
  if (!previous || previous.tokenType === EOF || previous.image === '') return '';
  return ` after ${quote(previous.image)}`;
}

function quote(image: string): string {
  const short = image.length > 30 ? `${image.slice(0, 29)}…` : image;
  return `\`${short}\``;
}

/** The index of `token` in `tokens` (by offset; the end of the file is past the last token). */
export function indexOf(tokens: readonly IToken[], token: IToken): number {
  if (token.tokenType === EOF || Number.isNaN(token.startOffset)) return tokens.length;
  return indexAtOffset(tokens, token.startOffset);
}

/** The index of the first token that starts at or after `offset`. */
export function indexAtOffset(tokens: readonly IToken[], offset: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.startOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The nearest opener of `closer`'s kind before index `before` that is not yet closed. */
export function findOpener(tokens: readonly IToken[], before: number, closer: TokenType): number | undefined {
  const opener = t.openerOf.get(closer);
  let depth = 0;
  for (let i = before - 1; i >= 0; i--) {
    const type = tokens[i]!.tokenType;
    if (type === closer) depth++;
    else if (type === opener) {
      if (depth === 0) return i;
      depth--;
    }
  }
  return undefined;
}

/** What the opener at `i` opens, judged by the tokens just before it. */
function describeOpener(tokens: readonly IToken[], i: number): string {
  const opener = tokens[i]!.tokenType;
  if (opener === t.LParen) return describeParen(tokens, i);
  if (opener === t.LBracket) return 'the list';
  return describeCurly(tokens, i);
}

function describeParen(tokens: readonly IToken[], i: number): string {
  const prev = tokens[i - 1];
  const prev2 = tokens[i - 2];
  if (prev?.tokenType === t.Forward) return 'the parameter list of `forward`';
  if (prev?.tokenType === t.Identifier) {
    if (prev2?.tokenType === t.Block) return `the parameter list of block \`${prev.image}\``;
    return `the argument list of \`${dottedNameEndingAt(tokens, i - 1)}\``;
  }
  if (prev?.tokenType === t.StringLiteral && prev2?.tokenType === t.Override) {
    return `the arguments of \`override ${prev.image}\``;
  }
  return 'the parenthesis';
}

function describeCurly(tokens: readonly IToken[], i: number): string {
  const prev = tokens[i - 1];
  const prev2 = tokens[i - 2];
  if (prev?.tokenType === t.Config) return 'the `config` section';
  if (prev?.tokenType === t.Peft) return 'the `peft` section';
  if (prev?.tokenType === t.Identifier && prev2?.tokenType === t.Model) return `model \`${prev.image}\``;
  if (prev?.tokenType === t.Identifier && prev2?.tokenType === t.Block) return `block \`${prev.image}\``;
  if (prev?.tokenType === t.RParen) {
    const paren = findOpener(tokens, i - 1, t.RParen);
    const head = paren === undefined ? undefined : tokens[paren - 1];
    if (head?.tokenType === t.Forward) return 'the body of `forward`';
    if (head?.tokenType === t.Identifier && tokens[paren! - 2]?.tokenType === t.Block) return `block \`${head.image}\``;
  }
  return 'the braces';
}

/** `h.attn` for the tokens `h . attn` ending at index `end`. */
function dottedNameEndingAt(tokens: readonly IToken[], end: number): string {
  let start = end;
  while (tokens[start - 1]?.tokenType === t.Dot && tokens[start - 2]?.tokenType === t.Identifier) start -= 2;
  return tokens
    .slice(start, end + 1)
    .map((tok) => tok.image)
    .join('');
}
