// GENERATED from grammar/parser.ts by test/grammar/cst-types.test.ts; do not edit.
// Regenerate with: UPDATE_GOLDEN=1 npx vitest run test/grammar/cst-types.test.ts
// Every child is optional: after error recovery a node may lack any of its parts.
import type { CstNode, ICstVisitor, IToken } from "chevrotain";

export interface FileCstNode extends CstNode {
  name: "file";
  children: FileCstChildren;
}

export type FileCstChildren = {
  item?: ItemCstNode[];
  EOF?: IToken[];
};

export interface ItemCstNode extends CstNode {
  name: "item";
  children: ItemCstChildren;
}

export type ItemCstChildren = {
  importDecl?: ImportDeclCstNode[];
  configDecl?: ConfigDeclCstNode[];
  blockDecl?: BlockDeclCstNode[];
  modelDecl?: ModelDeclCstNode[];
  peftDecl?: PeftDeclCstNode[];
};

export interface ImportDeclCstNode extends CstNode {
  name: "importDecl";
  children: ImportDeclCstChildren;
}

export type ImportDeclCstChildren = {
  Import?: IToken[];
  StringLiteral?: IToken[];
};

export interface ConfigDeclCstNode extends CstNode {
  name: "configDecl";
  children: ConfigDeclCstChildren;
}

export type ConfigDeclCstChildren = {
  Config?: IToken[];
  LCurly?: IToken[];
  configEntry?: ConfigEntryCstNode[];
  RCurly?: IToken[];
};

export interface ConfigEntryCstNode extends CstNode {
  name: "configEntry";
  children: ConfigEntryCstChildren;
}

export type ConfigEntryCstChildren = {
  Identifier?: IToken[];
  Equals?: IToken[];
  expression?: ExpressionCstNode[];
};

export interface BlockDeclCstNode extends CstNode {
  name: "blockDecl";
  children: BlockDeclCstChildren;
}

export type BlockDeclCstChildren = {
  Block?: IToken[];
  Identifier?: IToken[];
  blockParams?: BlockParamsCstNode[];
  moduleBody?: ModuleBodyCstNode[];
};

export interface BlockParamsCstNode extends CstNode {
  name: "blockParams";
  children: BlockParamsCstChildren;
}

export type BlockParamsCstChildren = {
  LParen?: IToken[];
  blockParam?: BlockParamCstNode[];
  Comma?: IToken[];
  RParen?: IToken[];
};

export interface BlockParamCstNode extends CstNode {
  name: "blockParam";
  children: BlockParamCstChildren;
}

export type BlockParamCstChildren = {
  Identifier?: IToken[];
  Equals?: IToken[];
  expression?: ExpressionCstNode[];
};

export interface ModelDeclCstNode extends CstNode {
  name: "modelDecl";
  children: ModelDeclCstChildren;
}

export type ModelDeclCstChildren = {
  Model?: IToken[];
  Identifier?: IToken[];
  moduleBody?: ModuleBodyCstNode[];
};

export interface ModuleBodyCstNode extends CstNode {
  name: "moduleBody";
  children: ModuleBodyCstChildren;
}

export type ModuleBodyCstChildren = {
  LCurly?: IToken[];
  member?: MemberCstNode[];
  forwardDecl?: ForwardDeclCstNode[];
  RCurly?: IToken[];
};

export interface MemberCstNode extends CstNode {
  name: "member";
  children: MemberCstChildren;
}

export type MemberCstChildren = {
  Identifier?: IToken[];
  Equals?: IToken[];
  expression?: ExpressionCstNode[];
  With?: IToken[];
  call?: CallCstNode[];
  Comma?: IToken[];
};

export interface ForwardDeclCstNode extends CstNode {
  name: "forwardDecl";
  children: ForwardDeclCstChildren;
}

export type ForwardDeclCstChildren = {
  Forward?: IToken[];
  LParen?: IToken[];
  Identifier?: IToken[];
  Comma?: IToken[];
  RParen?: IToken[];
  LCurly?: IToken[];
  statement?: StatementCstNode[];
  RCurly?: IToken[];
};

export interface StatementCstNode extends CstNode {
  name: "statement";
  children: StatementCstChildren;
}

export type StatementCstChildren = {
  assignment?: AssignmentCstNode[];
  returnStmt?: ReturnStmtCstNode[];
};

export interface AssignmentCstNode extends CstNode {
  name: "assignment";
  children: AssignmentCstChildren;
}

export type AssignmentCstChildren = {
  Identifier?: IToken[];
  Comma?: IToken[];
  Equals?: IToken[];
  expression?: ExpressionCstNode[];
};

export interface ReturnStmtCstNode extends CstNode {
  name: "returnStmt";
  children: ReturnStmtCstChildren;
}

export type ReturnStmtCstChildren = {
  Return?: IToken[];
  expression?: ExpressionCstNode[];
};

export interface PeftDeclCstNode extends CstNode {
  name: "peftDecl";
  children: PeftDeclCstChildren;
}

export type PeftDeclCstChildren = {
  Peft?: IToken[];
  LCurly?: IToken[];
  trainRule?: TrainRuleCstNode[];
  methodRule?: MethodRuleCstNode[];
  RCurly?: IToken[];
};

export interface TrainRuleCstNode extends CstNode {
  name: "trainRule";
  children: TrainRuleCstChildren;
}

export type TrainRuleCstChildren = {
  Train?: IToken[];
  patterns?: PatternsCstNode[];
};

export interface MethodRuleCstNode extends CstNode {
  name: "methodRule";
  children: MethodRuleCstChildren;
}

export type MethodRuleCstChildren = {
  call?: CallCstNode[];
  On?: IToken[];
  patterns?: PatternsCstNode[];
  excludeClause?: ExcludeClauseCstNode[];
  overrideClause?: OverrideClauseCstNode[];
};

export interface ExcludeClauseCstNode extends CstNode {
  name: "excludeClause";
  children: ExcludeClauseCstChildren;
}

export type ExcludeClauseCstChildren = {
  Exclude?: IToken[];
  patterns?: PatternsCstNode[];
};

export interface OverrideClauseCstNode extends CstNode {
  name: "overrideClause";
  children: OverrideClauseCstChildren;
}

export type OverrideClauseCstChildren = {
  Override?: IToken[];
  StringLiteral?: IToken[];
  args?: ArgsCstNode[];
};

export interface PatternsCstNode extends CstNode {
  name: "patterns";
  children: PatternsCstChildren;
}

export type PatternsCstChildren = {
  StringLiteral?: IToken[];
  Identifier?: IToken[];
  Comma?: IToken[];
};

export interface ExpressionCstNode extends CstNode {
  name: "expression";
  children: ExpressionCstChildren;
}

export type ExpressionCstChildren = {
  multiplicative?: (MultiplicativeCstNode)[];
  AdditionOperator?: IToken[];
};

export interface MultiplicativeCstNode extends CstNode {
  name: "multiplicative";
  children: MultiplicativeCstChildren;
}

export type MultiplicativeCstChildren = {
  unary?: (UnaryCstNode)[];
  MultiplicationOperator?: IToken[];
};

export interface UnaryCstNode extends CstNode {
  name: "unary";
  children: UnaryCstChildren;
}

export type UnaryCstChildren = {
  Minus?: IToken[];
  unary?: UnaryCstNode[];
  NumberLiteral?: IToken[];
  StringLiteral?: IToken[];
  True?: IToken[];
  False?: IToken[];
  list?: ListCstNode[];
  parenthesized?: ParenthesizedCstNode[];
  reference?: ReferenceCstNode[];
};

export interface ListCstNode extends CstNode {
  name: "list";
  children: ListCstChildren;
}

export type ListCstChildren = {
  LBracket?: IToken[];
  expression?: ExpressionCstNode[];
  Comma?: IToken[];
  RBracket?: IToken[];
};

export interface ParenthesizedCstNode extends CstNode {
  name: "parenthesized";
  children: ParenthesizedCstChildren;
}

export type ParenthesizedCstChildren = {
  LParen?: IToken[];
  expression?: ExpressionCstNode[];
  RParen?: IToken[];
};

export interface ReferenceCstNode extends CstNode {
  name: "reference";
  children: ReferenceCstChildren;
}

export type ReferenceCstChildren = {
  Identifier?: (IToken)[];
  Dot?: IToken[];
  args?: ArgsCstNode[];
};

export interface CallCstNode extends CstNode {
  name: "call";
  children: CallCstChildren;
}

export type CallCstChildren = {
  Identifier?: IToken[];
  args?: ArgsCstNode[];
};

export interface ArgsCstNode extends CstNode {
  name: "args";
  children: ArgsCstChildren;
}

export type ArgsCstChildren = {
  LParen?: IToken[];
  arg?: ArgCstNode[];
  Comma?: IToken[];
  RParen?: IToken[];
};

export interface ArgCstNode extends CstNode {
  name: "arg";
  children: ArgCstChildren;
}

export type ArgCstChildren = {
  Identifier?: IToken[];
  Equals?: IToken[];
  expression?: ExpressionCstNode[];
};
