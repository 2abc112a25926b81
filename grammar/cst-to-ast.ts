// CST → AST: turns chevrotain's concrete syntax tree into the plain objects of ast.ts, every
// node with its source range, and reports the syntax errors that are easier to say on the
// tree than in the grammar (argument order, literal values, a second `forward`, …).
//
// After error recovery any part of the CST may be missing, so every child is read as
// optional (see cst-types.ts) and a missing name or expression becomes the placeholder
// identifier `<missing>`, with an empty range where it should have been. The AST stays
// well-formed per ast.ts on any input.
import type { CstNodeLocation, IToken } from 'chevrotain';
import type * as ast from './ast.ts';
import type * as cst from './cst-types.ts';
import { error, type Diagnostic, type RelatedInfo, type SourceRange } from './diagnostics.ts';
import { SyntaxCode } from './codes.ts';
import { numberValue, stringValue } from './literals.ts';
import { peftParser } from './parser.ts';
import type { SourceText } from './source-text.ts';
import * as t from './tokens.ts';

/** The name given to a name or expression that error recovery found missing. */
export const MISSING = '<missing>';

const BaseVisitor = peftParser.getBaseCstVisitorConstructor();

type Loc = CstNodeLocation | undefined;

export class AstBuilder extends BaseVisitor {
  private source!: SourceText;
  private diagnostics: Diagnostic[] = [];
  /** Where a missing piece is placed: just after the last real token seen in the current node. */
  private cursor = 0;

  constructor() {
    super();
    // Fails at start-up if a grammar rule has no builder method below.
    this.validateVisitor();
  }

  build(root: cst.FileCstNode, source: SourceText): { file: ast.SourceFile; diagnostics: Diagnostic[] } {
    this.source = source;
    this.diagnostics = [];
    this.cursor = 0;
    const file = this.file(root.children);
    return { file, diagnostics: this.diagnostics };
  }

  // ---------------------------------------------------------------- items

  file(ctx: cst.FileCstChildren): ast.SourceFile {
    const items = (ctx.item ?? []).flatMap((node) => this.item(node.children) ?? []);
    const range = this.source.range(0, this.source.text.length);
    return { kind: 'file', path: this.source.path, items, range };
  }

  item(ctx: cst.ItemCstChildren): ast.Item | undefined {
    const imp = ctx.importDecl?.[0];
    const config = ctx.configDecl?.[0];
    const block = ctx.blockDecl?.[0];
    const model = ctx.modelDecl?.[0];
    const peft = ctx.peftDecl?.[0];
    if (imp) return this.importDecl(imp.children, imp.location);
    if (config) return this.configDecl(config.children, config.location);
    if (block) return this.blockDecl(block.children, block.location);
    if (model) return this.modelDecl(model.children, model.location);
    if (peft) return this.peftDecl(peft.children, peft.location);
    return undefined;
  }

  /** An import without its path means nothing: it is dropped, sparing the loader a bogus lookup. */
  importDecl(ctx: cst.ImportDeclCstChildren, loc: Loc): ast.ImportDecl | undefined {
    const range = this.range(loc);
    const path = ctx.StringLiteral?.find(isReal);
    return path ? { kind: 'import', path: this.stringOf(path), range } : undefined;
  }

  configDecl(ctx: cst.ConfigDeclCstChildren, loc: Loc): ast.ConfigDecl {
    const range = this.range(loc);
    const entries = (ctx.configEntry ?? []).map((n) => this.configEntry(n.children, n.location));
    return { kind: 'config', entries, range };
  }

  configEntry(ctx: cst.ConfigEntryCstChildren, loc: Loc): ast.ConfigEntry {
    const range = this.range(loc);
    const name = this.ident(ctx.Identifier);
    this.pass(ctx.Equals);
    return { name, value: this.expr(ctx.expression), range };
  }

  blockDecl(ctx: cst.BlockDeclCstChildren, loc: Loc): ast.BlockDecl {
    const range = this.range(loc);
    const name = this.ident(ctx.Identifier);
    const paramsNode = ctx.blockParams?.[0];
    const params = paramsNode ? this.blockParams(paramsNode.children) : [];
    const body = this.body(ctx.moduleBody);
    return { kind: 'block', name, params, ...body, range };
  }

  blockParams(ctx: cst.BlockParamsCstChildren): ast.BlockParam[] {
    return (ctx.blockParam ?? []).map((n) => this.blockParam(n.children, n.location));
  }

  blockParam(ctx: cst.BlockParamCstChildren, loc: Loc): ast.BlockParam {
    const range = this.range(loc);
    const name = this.ident(ctx.Identifier);
    if (!ctx.Equals) return { name, range };
    this.pass(ctx.Equals);
    return { name, default: this.expr(ctx.expression), range };
  }

  modelDecl(ctx: cst.ModelDeclCstChildren, loc: Loc): ast.ModelDecl {
    const range = this.range(loc);
    const name = this.ident(ctx.Identifier);
    return { kind: 'model', name, ...this.body(ctx.moduleBody), range };
  }

  private body(nodes: cst.ModuleBodyCstNode[] | undefined): Pick<ast.ModelDecl, 'members' | 'forward'> {
    const node = nodes?.[0];
    return node ? this.moduleBody(node.children) : { members: [] };
  }

  /** Members and the one `forward`; a second `forward` is reported and dropped. */
  moduleBody(ctx: cst.ModuleBodyCstChildren): Pick<ast.ModelDecl, 'members' | 'forward'> {
    this.pass(ctx.LCurly);
    const members = (ctx.member ?? []).map((n) => this.member(n.children, n.location));
    const forwards = (ctx.forwardDecl ?? []).map((n) => this.forwardDecl(n.children, n.location));
    const [forward, ...extra] = forwards;
    for (const dup of extra) {
      const first: RelatedInfo = { message: 'the first `forward` is here', range: this.keywordRange(forward!.range) };
      const message = 'a block or model has one `forward`: remove this one or merge the two';
      this.report(SyntaxCode.DuplicateForward, message, this.keywordRange(dup.range), [first]);
    }
    return forward ? { members, forward } : { members };
  }

  member(ctx: cst.MemberCstChildren, loc: Loc): ast.Member {
    const range = this.range(loc);
    const name = this.ident(ctx.Identifier);
    this.pass(ctx.Equals);
    const value = this.expr(ctx.expression);
    const methods = (ctx.call ?? []).map((n) => this.call(n.children, n.location));
    return { kind: 'member', name, value, methods, range };
  }

  // ---------------------------------------------------------------- forward

  forwardDecl(ctx: cst.ForwardDeclCstChildren, loc: Loc): ast.Forward {
    const range = this.range(loc);
    const params = (ctx.Identifier ?? []).filter(isReal).map((tok) => this.identOf(tok));
    const body = (ctx.statement ?? []).flatMap((n) => this.statement(n.children) ?? []);
    return { kind: 'forward', params, body, range };
  }

  statement(ctx: cst.StatementCstChildren): ast.Stmt | undefined {
    const assign = ctx.assignment?.[0];
    if (assign) return this.assignment(assign.children, assign.location);
    const ret = ctx.returnStmt?.[0];
    if (ret) return this.returnStmt(ret.children, ret.location);
    return undefined;
  }

  assignment(ctx: cst.AssignmentCstChildren, loc: Loc): ast.Assign {
    const range = this.range(loc);
    const targets = (ctx.Identifier ?? []).filter(isReal).map((tok) => this.identOf(tok));
    this.pass(ctx.Equals);
    return { kind: 'assign', targets, value: this.expr(ctx.expression), range };
  }

  returnStmt(ctx: cst.ReturnStmtCstChildren, loc: Loc): ast.Return {
    const range = this.range(loc);
    this.pass(ctx.Return);
    return { kind: 'return', value: this.expr(ctx.expression), range };
  }

  // ---------------------------------------------------------------- peft

  peftDecl(ctx: cst.PeftDeclCstChildren, loc: Loc): ast.PeftDecl {
    const range = this.range(loc);
    const train = (ctx.trainRule ?? []).map((n) => this.trainRule(n.children, n.location));
    const methods = (ctx.methodRule ?? []).map((n) => this.methodRule(n.children, n.location));
    // The CST keeps the two kinds apart; the AST keeps source order.
    const rules: ast.Rule[] = [...train, ...methods].sort((a, b) => a.range.start.offset - b.range.start.offset);
    return { kind: 'peft', rules, range };
  }

  trainRule(ctx: cst.TrainRuleCstChildren, loc: Loc): ast.TrainRule {
    const range = this.range(loc);
    this.pass(ctx.Train);
    return { kind: 'train_rule', targets: this.patternsOf(ctx.patterns), range };
  }

  methodRule(ctx: cst.MethodRuleCstChildren, loc: Loc): ast.MethodRule {
    const range = this.range(loc);
    const callNode = ctx.call?.[0];
    const method = callNode ? this.call(callNode.children, callNode.location) : this.missingCall();
    const targets = this.patternsOf(ctx.patterns);
    const exclude = (ctx.excludeClause ?? []).flatMap((n) => this.excludeClause(n.children));
    const overrides = (ctx.overrideClause ?? []).map((n) => this.overrideClause(n.children, n.location));
    // `on` with its patterns missing is a parse error already; this is for no `on` at all.
    if (!ctx.On) this.reportFiltersWithoutTargets(ctx);
    return { kind: 'method_rule', method, targets, exclude, overrides, range };
  }

  private reportFiltersWithoutTargets(ctx: cst.MethodRuleCstChildren): void {
    const keywords = [
      ...(ctx.excludeClause ?? []).map((n) => n.children.Exclude?.[0]),
      ...(ctx.overrideClause ?? []).map((n) => n.children.Override?.[0]),
    ];
    for (const keyword of keywords) {
      if (!keyword) continue;
      const message = `\`${keyword.image}\` narrows the rule's \`on\` targets, but this rule has none: add \`on "pattern"\` before it`;
      this.report(SyntaxCode.FilterWithoutTargets, message, this.tokenRange(keyword));
    }
  }

  excludeClause(ctx: cst.ExcludeClauseCstChildren): ast.StringLit[] {
    this.pass(ctx.Exclude);
    return this.patternsOf(ctx.patterns);
  }

  overrideClause(ctx: cst.OverrideClauseCstChildren, loc: Loc): ast.Override {
    const range = this.range(loc);
    this.pass(ctx.Override);
    const pattern = this.string(ctx.StringLiteral);
    const argsNode = ctx.args?.[0];
    return { pattern, args: argsNode ? this.args(argsNode.children) : [], range };
  }

  private patternsOf(nodes: cst.PatternsCstNode[] | undefined): ast.StringLit[] {
    const node = nodes?.[0];
    return node ? this.patterns(node.children) : [];
  }

  patterns(ctx: cst.PatternsCstChildren): ast.StringLit[] {
    // Strings and bare selector names, in source order.
    const strings = (ctx.StringLiteral ?? []).filter(isReal).map((tok) => this.stringOf(tok));
    const names = (ctx.Identifier ?? []).filter(isReal).map((tok) => ({ kind: 'string' as const, value: tok.image, range: this.tokenRange(tok), bare: true }));
    return [...strings, ...names].sort((a, b) => a.range.start.offset - b.range.start.offset);
  }

  // ---------------------------------------------------------------- expressions

  private expr(nodes: cst.ExpressionCstNode[] | undefined): ast.Expr {
    const node = nodes?.[0];
    return node ? this.expression(node.children) : this.missingIdent();
  }

  expression(ctx: cst.ExpressionCstChildren): ast.Expr {
    return this.fold(ctx.multiplicative ?? [], ctx.AdditionOperator ?? [], (n) => this.multiplicative(n.children));
  }

  multiplicative(ctx: cst.MultiplicativeCstChildren): ast.Expr {
    return this.fold(ctx.unary ?? [], ctx.MultiplicationOperator ?? [], (n) => this.unary(n.children, n.location));
  }

  /**
   * Folds `a op b op c` to the left. Each partial result spans from the first operand's CST
   * start to the current operand's CST end, so `(a + b) * c` includes its parentheses.
   */
  private fold<N extends { location?: CstNodeLocation }>(operands: N[], operators: IToken[], build: (n: N) => ast.Expr): ast.Expr {
    const first = operands[0];
    if (!first) return this.missingIdent();
    let left = build(first);
    // The first operand may be a placeholder for a missing one, placed just before the CST's start.
    const start = Math.min(validStart(first.location) ?? Infinity, left.range.start.offset);
    for (let i = 0; i < operators.length; i++) {
      const next = operands[i + 1];
      const right = next ? build(next) : this.missingIdent();
      const end = Math.max(validEnd(next?.location) ?? right.range.end.offset, left.range.end.offset);
      const range = this.source.range(start, end);
      left = { kind: 'binary', op: operators[i]!.image as ast.BinaryOp, left, right, range };
    }
    return left;
  }

  unary(ctx: cst.UnaryCstChildren, loc: Loc): ast.Expr {
    const token = ctx.NumberLiteral?.[0] ?? ctx.StringLiteral?.[0] ?? ctx.True?.[0] ?? ctx.False?.[0];
    if (token && isReal(token)) return this.literal(token);
    if (ctx.reference?.[0]) return this.reference(ctx.reference[0].children, ctx.reference[0].location);
    if (ctx.list?.[0]) return this.list(ctx.list[0].children, ctx.list[0].location);
    if (ctx.parenthesized?.[0]) return this.parenthesized(ctx.parenthesized[0].children);
    if (!ctx.Minus) return this.missingIdent();
    const range = this.range(loc);
    this.pass(ctx.Minus);
    const inner = ctx.unary?.[0];
    const operand = inner ? this.unary(inner.children, inner.location) : this.missingIdent();
    return { kind: 'unary', op: '-', operand, range };
  }

  private literal(token: IToken): ast.Expr {
    if (token.tokenType === t.NumberLiteral) return this.numberOf(token);
    if (token.tokenType === t.True || token.tokenType === t.False) {
      return { kind: 'bool', value: token.tokenType === t.True, range: this.tokenRange(token) };
    }
    return this.stringOf(token);
  }

  list(ctx: cst.ListCstChildren, loc: Loc): ast.ListLit {
    const range = this.range(loc);
    this.pass(ctx.LBracket);
    const items = (ctx.expression ?? []).map((n) => this.expression(n.children));
    return { kind: 'list', items, range };
  }

  /** `(e)` is `e`: the AST has no node for parentheses (binary ranges include them). */
  parenthesized(ctx: cst.ParenthesizedCstChildren): ast.Expr {
    this.pass(ctx.LParen);
    return this.expr(ctx.expression);
  }

  reference(ctx: cst.ReferenceCstChildren, loc: Loc): ast.Ident | ast.Call {
    const range = this.range(loc);
    const callee = this.dottedName(ctx.Identifier ?? []);
    const argsNode = ctx.args?.[0];
    if (!argsNode) return callee;
    return { kind: 'call', callee, args: this.args(argsNode.children), range };
  }

  /** `h.attn` is one Ident whose name has dots (see ast.ts Call). */
  private dottedName(tokens: IToken[]): ast.Ident {
    const parts = tokens.filter(isReal);
    const first = parts[0];
    const last = parts[parts.length - 1];
    if (!first || !last) return this.missingIdent();
    if (first === last) return this.identOf(first);
    const name = parts.map((tok) => tok.image).join('.');
    const range = this.source.range(first.startOffset, last.startOffset + last.image.length);
    this.pass(parts);
    return { kind: 'ident', name, range };
  }

  call(ctx: cst.CallCstChildren, loc: Loc): ast.Call {
    const range = this.range(loc);
    const callee = this.ident(ctx.Identifier);
    const argsNode = ctx.args?.[0];
    return { kind: 'call', callee, args: argsNode ? this.args(argsNode.children) : [], range };
  }

  /** The arguments, with positional-after-named reported (they are kept, in order). */
  args(ctx: cst.ArgsCstChildren): ast.Arg[] {
    this.pass(ctx.LParen);
    const args = (ctx.arg ?? []).map((n) => this.arg(n.children, n.location));
    let firstNamed: ast.Arg | undefined;
    for (const a of args) {
      if (a.name) firstNamed ??= a;
      else if (firstNamed) this.reportPositionalAfterNamed(a, firstNamed);
    }
    return args;
  }

  private reportPositionalAfterNamed(positional: ast.Arg, named: ast.Arg): void {
    const note: RelatedInfo = { message: `the named argument \`${named.name!.name}\` is here`, range: named.range };
    const message = 'positional argument after a named argument: put positional arguments first, or name this one';
    this.report(SyntaxCode.PositionalAfterNamed, message, positional.range, [note]);
  }

  arg(ctx: cst.ArgCstChildren, loc: Loc): ast.Arg {
    const range = this.range(loc);
    const nameToken = ctx.Identifier?.[0];
    const name = nameToken && isReal(nameToken) ? this.identOf(nameToken) : undefined;
    this.pass(ctx.Equals);
    const value = this.expr(ctx.expression);
    return name ? { name, value, range } : { value, range };
  }

  // ---------------------------------------------------------------- leaves

  private ident(tokens: IToken[] | undefined): ast.Ident {
    const token = tokens?.[0];
    return token && isReal(token) ? this.identOf(token) : this.missingIdent();
  }

  private identOf(token: IToken): ast.Ident {
    return { kind: 'ident', name: token.image, range: this.tokenRange(token) };
  }

  private string(tokens: IToken[] | undefined): ast.StringLit {
    const token = tokens?.[0];
    if (token && isReal(token)) return this.stringOf(token);
    return { kind: 'string', value: '', range: this.here() };
  }

  private stringOf(token: IToken): ast.StringLit {
    const range = this.tokenRange(token);
    const { value, badEscapes } = stringValue(token.image);
    for (const bad of badEscapes) {
      const at = token.startOffset + bad.offset;
      const message = `unknown escape \`${bad.text}\` in a string: the escapes are \`\\"\`, \`\\\\\` and \`\\n\``;
      this.report(SyntaxCode.InvalidEscape, message, this.source.range(at, at + bad.text.length));
    }
    return { kind: 'string', value, range };
  }

  private numberOf(token: IToken): ast.NumberLit {
    const range = this.tokenRange(token);
    const value = numberValue(token.image);
    if (typeof value === 'number') return { kind: 'number', value, text: token.image, range };
    const message =
      value === 'too large'
        ? `number \`${token.image}\` is too large to represent`
        : `invalid number \`${token.image}\`: write digits with an optional fraction and exponent, like \`12\`, \`0.02\` or \`1e-5\``;
    this.report(SyntaxCode.InvalidNumber, message, range);
    return { kind: 'number', value: 0, text: token.image, range };
  }

  private missingIdent(): ast.Ident {
    return { kind: 'ident', name: MISSING, range: this.here() };
  }

  private missingCall(): ast.Call {
    return { kind: 'call', callee: this.missingIdent(), args: [], range: this.here() };
  }

  // ---------------------------------------------------------------- ranges

  /**
   * The range of a CST node; an empty one at the cursor if recovery left it without tokens.
   * Entering a node moves the cursor to its start (not just forward): some nodes are built
   * out of source order (members before `forward`), and a placeholder must stay inside its node.
   */
  private range(loc: Loc): SourceRange {
    const start = validStart(loc);
    if (start === undefined) return this.here();
    this.cursor = start;
    return this.source.range(start, validEnd(loc) ?? start);
  }

  private tokenRange(token: IToken): SourceRange {
    const end = token.startOffset + token.image.length;
    this.cursor = Math.max(this.cursor, end);
    return this.source.range(token.startOffset, end);
  }

  /** The `forward` keyword at the start of a forward's range. */
  private keywordRange(range: SourceRange): SourceRange {
    return this.source.range(range.start.offset, range.start.offset + 'forward'.length);
  }

  private here(): SourceRange {
    return this.source.range(this.cursor, this.cursor);
  }

  /** Moves the cursor past punctuation the AST does not keep, so placeholders land after it. */
  private pass(tokens: IToken[] | undefined): void {
    for (const token of tokens ?? []) {
      if (isReal(token)) this.cursor = Math.max(this.cursor, token.startOffset + token.image.length);
    }
  }

  private report(code: string, message: string, range: SourceRange, related?: RelatedInfo[]): void {
    this.diagnostics.push(error(code, message, range, related));
  }
}

/** False for a token that error recovery inserted (it has no place in the text). */
function isReal(token: IToken): boolean {
  return !token.isInsertedInRecovery && Number.isFinite(token.startOffset);
}

function validStart(loc: Loc): number | undefined {
  const start = loc?.startOffset;
  return start === undefined || Number.isNaN(start) ? undefined : start;
}

/** The exclusive end of a CST location (chevrotain's endOffset is inclusive). */
function validEnd(loc: Loc): number | undefined {
  const end = loc?.endOffset;
  return end === undefined || Number.isNaN(end) ? undefined : end + 1;
}
