// The grammar of .peft files as a chevrotain CstParser: a pure grammar, no actions.
// cst-to-ast.ts turns its concrete syntax tree into the plain AST of ast.ts.
// Rules are typed class properties, so a misspelt rule name is a compile error.
// Newlines are not significant: an expression ends where the next token cannot continue it.
import { CstParser, EOF, type IOrAlt, type IParserErrorMessageProvider, type IRecognitionException, type IToken, type ManySepMethodOpts } from 'chevrotain';
import * as t from './tokens.ts';
import { SyntaxMessages } from './messages.ts';

/**
 * Syntax errors one parse collects before it gives up. Chevrotain's repetition recovery
 * re-enters the rule once per error, so without a bound thousands of errors in one list
 * take seconds each hundred and end in a stack overflow.
 */
export const MAX_SYNTAX_ERRORS = 100;

/** Thrown out of the parser once it has saved MAX_SYNTAX_ERRORS errors. */
export class TooManySyntaxErrors extends Error {
  constructor() {
    super(`more than ${MAX_SYNTAX_ERRORS} syntax errors`);
    this.name = 'TooManySyntaxErrors';
  }
}

export class PeftParser extends CstParser {
  /** Errors saved since the input was last set (chevrotain's own list is copied on each read). */
  private saved = 0;

  override set input(tokens: IToken[]) {
    this.saved = 0;
    super.input = tokens;
  }

  override get input(): IToken[] {
    return super.input;
  }

  // Chevrotain's hook for every recognition error; not in its public typings.
  SAVE_ERROR(error: IRecognitionException): IRecognitionException {
    const saved = (CstParser.prototype as unknown as { SAVE_ERROR(e: IRecognitionException): IRecognitionException }).SAVE_ERROR.call(this, error);
    if (++this.saved >= MAX_SYNTAX_ERRORS) throw new TooManySyntaxErrors();
    return saved;
  }

  constructor(messages: IParserErrorMessageProvider) {
    super([...t.allTokens], {
      recoveryEnabled: true,
      nodeLocationTracking: 'onlyOffset',
      errorMessageProvider: messages,
    });
    this.performSelfAnalysis();
  }

  // ---------------------------------------------------------------- items

  file = this.RULE('file', () => {
    this.MANY(() => this.SUBRULE(this.item));
    // Naming EOF lets chevrotain's repetition recovery skip a stray token between items
    // and carry on with the next one, instead of stopping at "not all input parsed".
    this.CONSUME(EOF);
  });

  item = this.RULE('item', () => {
    this.OR(
      alternatives(
        () => this.SUBRULE(this.importDecl),
        () => this.SUBRULE(this.configDecl),
        () => this.SUBRULE(this.blockDecl),
        () => this.SUBRULE(this.modelDecl),
        () => this.SUBRULE(this.peftDecl),
      ),
    );
  });

  /** import "gpt2.peft" */
  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(t.Import);
    this.CONSUME(t.StringLiteral);
  });

  /** config { name = expr ... } */
  configDecl = this.RULE('configDecl', () => {
    this.CONSUME(t.Config);
    this.CONSUME(t.LCurly);
    this.MANY(() => this.SUBRULE(this.configEntry));
    this.CONSUME(t.RCurly);
  });

  configEntry = this.RULE('configEntry', () => {
    this.CONSUME(t.Identifier);
    this.CONSUME(t.Equals);
    this.SUBRULE(this.expression);
  });

  /** block Name(p1, p2 = default) { members... forward(...) { ... } } */
  blockDecl = this.RULE('blockDecl', () => {
    this.CONSUME(t.Block);
    this.CONSUME(t.Identifier);
    this.OPTION(() => this.SUBRULE(this.blockParams));
    this.SUBRULE(this.moduleBody);
  });

  blockParams = this.RULE('blockParams', () => {
    this.CONSUME(t.LParen);
    this.MANY_SEP(commaSeparated(() => this.SUBRULE(this.blockParam)));
    this.CONSUME(t.RParen);
  });

  blockParam = this.RULE('blockParam', () => {
    this.CONSUME(t.Identifier);
    this.OPTION(() => {
      this.CONSUME(t.Equals);
      this.SUBRULE(this.expression);
    });
  });

  /** model Name { members... forward(tokens) { ... } } */
  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(t.Model);
    this.CONSUME(t.Identifier);
    this.SUBRULE(this.moduleBody);
  });

  /** The body shared by blocks and models: members and `forward`, in any order. */
  moduleBody = this.RULE('moduleBody', () => {
    this.CONSUME(t.LCurly);
    this.MANY(() => {
      this.OR(alternatives(() => this.SUBRULE(this.member), () => this.SUBRULE(this.forwardDecl)));
    });
    this.CONSUME(t.RCurly);
  });

  /** c_attn = Linear(d, 3 * d) with lora(rank = 8), adapter(bottleneck = 16) */
  member = this.RULE('member', () => {
    this.CONSUME(t.Identifier);
    this.CONSUME(t.Equals);
    this.SUBRULE(this.expression);
    this.OPTION(() => {
      this.CONSUME(t.With);
      this.AT_LEAST_ONE_SEP(commaSeparated(() => this.SUBRULE(this.call)));
    });
  });

  // ---------------------------------------------------------------- forward

  forwardDecl = this.RULE('forwardDecl', () => {
    this.CONSUME(t.Forward);
    this.CONSUME(t.LParen);
    this.MANY_SEP(commaSeparated(() => this.CONSUME(t.Identifier)));
    this.CONSUME(t.RParen);
    this.CONSUME(t.LCurly);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(t.RCurly);
  });

  statement = this.RULE('statement', () => {
    this.OR(alternatives(() => this.SUBRULE(this.assignment), () => this.SUBRULE(this.returnStmt)));
  });

  /** x = expr, or q, k, v = expr */
  assignment = this.RULE('assignment', () => {
    this.AT_LEAST_ONE_SEP(commaSeparated(() => this.CONSUME(t.Identifier)));
    this.CONSUME(t.Equals);
    this.SUBRULE(this.expression);
  });

  returnStmt = this.RULE('returnStmt', () => {
    this.CONSUME(t.Return);
    this.SUBRULE(this.expression);
  });

  // ---------------------------------------------------------------- peft

  /** peft { rules } */
  peftDecl = this.RULE('peftDecl', () => {
    this.CONSUME(t.Peft);
    this.CONSUME(t.LCurly);
    this.MANY(() => {
      this.OR(alternatives(() => this.SUBRULE(this.trainRule), () => this.SUBRULE(this.methodRule)));
    });
    this.CONSUME(t.RCurly);
  });

  /** train "score", "h.*.ln_*" */
  trainRule = this.RULE('trainRule', () => {
    this.CONSUME(t.Train);
    this.SUBRULE(this.patterns);
  });

  /**
   * lora(rank = 8) on "a", "b" exclude "c" override "d" (rank = 16).
   * `exclude`/`override` parse even without `on`, so the AST builder can say what is wrong
   * in the language's terms instead of a bare "unexpected `exclude`".
   */
  methodRule = this.RULE('methodRule', () => {
    this.SUBRULE(this.call);
    this.OPTION(() => {
      this.CONSUME(t.On);
      this.SUBRULE1(this.patterns);
    });
    this.MANY(() => {
      this.OR(alternatives(() => this.SUBRULE(this.excludeClause), () => this.SUBRULE(this.overrideClause)));
    });
  });

  excludeClause = this.RULE('excludeClause', () => {
    this.CONSUME(t.Exclude);
    this.SUBRULE(this.patterns);
  });

  overrideClause = this.RULE('overrideClause', () => {
    this.CONSUME(t.Override);
    this.CONSUME(t.StringLiteral);
    this.SUBRULE(this.args);
  });

  /** "h.*.attn", or a bare selector name such as `all_linear` (compiler/peft/selectors.ts). */
  patterns = this.RULE('patterns', () => {
    this.AT_LEAST_ONE_SEP(commaSeparated(() => this.OR(alternatives(() => this.CONSUME(t.StringLiteral), () => this.CONSUME(t.Identifier)))));
  });

  // ---------------------------------------------------------------- expressions
  // Three levels of precedence: `+ -`, then `* /`, then unary minus and the atoms.
  // The rule chain is kept this short on purpose: each rule entered costs time for every
  // name and number in the file.

  /** Sums: `a + b - c`. */
  expression = this.RULE('expression', () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.CONSUME(t.AdditionOperator);
      this.SUBRULE1(this.multiplicative);
    });
  });

  /** Products: `a * b / c`. */
  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.CONSUME(t.MultiplicationOperator);
      this.SUBRULE1(this.unary);
    });
  });

  /** `-x` or an atom. */
  unary = this.RULE('unary', () => {
    this.OR(
      alternatives(
        () => {
          this.CONSUME(t.Minus);
          this.SUBRULE(this.unary);
        },
        () => this.CONSUME(t.NumberLiteral),
        () => this.CONSUME(t.StringLiteral),
        () => this.CONSUME(t.True),
        () => this.CONSUME(t.False),
        () => this.SUBRULE(this.list),
        () => this.SUBRULE(this.parenthesized),
        () => this.SUBRULE(this.reference),
      ),
    );
  });

  list = this.RULE('list', () => {
    this.CONSUME(t.LBracket);
    this.MANY_SEP(commaSeparated(() => this.SUBRULE(this.expression)));
    this.CONSUME(t.RBracket);
  });

  parenthesized = this.RULE('parenthesized', () => {
    this.CONSUME(t.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(t.RParen);
  });

  /** A name (`x`, `h.attn`) or a call of one (`Linear(d, d)`). */
  reference = this.RULE('reference', () => {
    this.CONSUME(t.Identifier);
    this.MANY(() => {
      this.CONSUME(t.Dot);
      this.CONSUME1(t.Identifier);
    });
    this.OPTION(() => this.SUBRULE(this.args));
  });

  /** A call of a PEFT method: `lora(rank = 8)`, or `ia3` with its defaults and no parentheses. */
  call = this.RULE('call', () => {
    this.CONSUME(t.Identifier);
    this.OPTION(() => this.SUBRULE(this.args));
  });

  /** (a, b, name = expr) */
  args = this.RULE('args', () => {
    this.CONSUME(t.LParen);
    this.MANY_SEP(commaSeparated(() => this.SUBRULE(this.arg)));
    this.CONSUME(t.RParen);
  });

  /** Positional or named; the order rule (positional first) is checked on the AST. */
  arg = this.RULE('arg', () => {
    this.OPTION(() => {
      this.CONSUME(t.Identifier);
      this.CONSUME(t.Equals);
    });
    this.SUBRULE(this.expression);
  });
}

// chevrotain takes alternatives as `{ ALT: () => ... }` and separated lists as
// `{ SEP, DEF: () => ... }`. Written inline, every such arrow gets wrapped in a renaming call by
// tsx (esbuild's keepNames names a function after the property it is assigned to) on every rule
// entry, which cost a third of the parse time; these helpers take the functions as arguments.

function alternatives(...alts: (() => unknown)[]): IOrAlt<unknown>[] {
  return alts.map((ALT) => ({ ALT }));
}

function commaSeparated(DEF: () => unknown): ManySepMethodOpts<unknown> {
  return { SEP: t.Comma, DEF };
}

/** The one message provider and parser, built once and reused: analysing the grammar takes ~20 ms. */
export const syntaxMessages = new SyntaxMessages();
export const peftParser = new PeftParser(syntaxMessages);
