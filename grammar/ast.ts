// The abstract syntax tree of a .peft file. Plain data: every node carries its
// source range, nothing here knows about chevrotain. See docs/language.md.
import type { SourceRange } from './diagnostics.ts';

export interface NodeBase {
  range: SourceRange;
}

// ---------------------------------------------------------------- expressions

export interface NumberLit extends NodeBase {
  kind: 'number';
  value: number;
  /** The literal as written (`1e-5`), for printing. */
  text: string;
}

export interface StringLit extends NodeBase {
  kind: 'string';
  value: string;
  /** A target written as a bare name (`on all_linear`): a selector, not a pattern. */
  bare?: boolean;
}

export interface BoolLit extends NodeBase {
  kind: 'bool';
  value: boolean;
}

export interface Ident extends NodeBase {
  kind: 'ident';
  name: string;
}

export type BinaryOp = '+' | '-' | '*' | '/';

export interface Binary extends NodeBase {
  kind: 'binary';
  op: BinaryOp;
  left: Expr;
  right: Expr;
}

export interface Unary extends NodeBase {
  kind: 'unary';
  op: '-';
  operand: Expr;
}

export interface Arg extends NodeBase {
  /** Present for a named argument `name = value`. */
  name?: Ident;
  value: Expr;
}

/** `f(a, b, k = v)`; `callee` may be a dotted name such as `h.attn` only as an Ident with dots. */
export interface Call extends NodeBase {
  kind: 'call';
  callee: Ident;
  args: Arg[];
}

export interface ListLit extends NodeBase {
  kind: 'list';
  items: Expr[];
}

export type Expr = NumberLit | StringLit | BoolLit | Ident | Binary | Unary | Call | ListLit;

// ---------------------------------------------------------------- statements

/** `x = expr` or `q, k, v = split(...)`. */
export interface Assign extends NodeBase {
  kind: 'assign';
  targets: Ident[];
  value: Expr;
}

export interface Return extends NodeBase {
  kind: 'return';
  value: Expr;
}

export type Stmt = Assign | Return;

export interface Forward extends NodeBase {
  kind: 'forward';
  params: Ident[];
  body: Stmt[];
}

// ---------------------------------------------------------------- declarations

/** A submodule: `c_attn = Linear(d, 3 * d, layout = in_out) with lora(rank = 8)`. */
export interface Member extends NodeBase {
  kind: 'member';
  name: Ident;
  value: Expr;
  /** Inline PEFT methods after `with`, in order. */
  methods: Call[];
}

export interface BlockParam extends NodeBase {
  name: Ident;
  default?: Expr;
}

export interface BlockDecl extends NodeBase {
  kind: 'block';
  name: Ident;
  params: BlockParam[];
  members: Member[];
  forward?: Forward;
}

/** The root module. Its members' paths have no prefix (`wte`, `h.0.attn`, …). */
export interface ModelDecl extends NodeBase {
  kind: 'model';
  name: Ident;
  members: Member[];
  forward?: Forward;
}

export interface ConfigEntry extends NodeBase {
  name: Ident;
  value: Expr;
}

export interface ConfigDecl extends NodeBase {
  kind: 'config';
  entries: ConfigEntry[];
}

export interface ImportDecl extends NodeBase {
  kind: 'import';
  path: StringLit;
}

/** `lora(rank = 8) on "h.*.attn.c_attn" exclude "h.0.*" override "h.11.*" (rank = 16)`. */
export interface MethodRule extends NodeBase {
  kind: 'method_rule';
  method: Call;
  /** Empty when the method needs no target (`prompt(...)` at the input). */
  targets: StringLit[];
  exclude: StringLit[];
  overrides: Override[];
}

export interface Override extends NodeBase {
  pattern: StringLit;
  args: Arg[];
}

/** `train "score", "h.*.ln_*"`: extra modules whose own parameters train (modules_to_save). */
export interface TrainRule extends NodeBase {
  kind: 'train_rule';
  targets: StringLit[];
}

export type Rule = MethodRule | TrainRule;

export interface PeftDecl extends NodeBase {
  kind: 'peft';
  rules: Rule[];
}

export type Item = ImportDecl | ConfigDecl | BlockDecl | ModelDecl | PeftDecl;

export interface SourceFile extends NodeBase {
  kind: 'file';
  path: string;
  items: Item[];
}
