// What a rewrite needs from the tracer, as an interface the tracer implements (trace.ts).
// The PEFT methods (peft/*.ts) and the built-in functions (functions.ts) are called by the
// tracer and build graph nodes through it; they import this file, never trace.ts, so the
// tracer can import them without an import circle.
import type { Expr } from '../grammar/ast.ts';
import type { SourceRange } from '../grammar/diagnostics.ts';
import type { Reporter } from './evaluate.ts';
import type { GraphBuilder } from './ir/builder.ts';
import type { Attrs, InitRule, Origin, Shape } from './ir/types.ts';
import type { ModuleInst } from './modules.ts';
import type { Value } from './values.ts';

export type Tensor = Extract<Value, { kind: 'tensor' }>;

/** The method application a parameter belongs to (peft/assign.ts's MethodApp fits it). */
export interface MethodRef {
  method: string;
  module: { path: string };
  settings: Record<string, number | string | boolean>;
}

export interface ParamOptions {
  origin: Origin;
  module: string;
  init: InitRule;
  method?: MethodRef;
  transient?: boolean;
  src?: SourceRange;
}

/** Prefix keys and values [B, P, kvd] for one attention call. */
export interface PrefixKV {
  k: Tensor;
  v: Tensor;
  length: number;
}

/** Where the attention function finds prefix tuning's keys and values (peft/prefix.ts). */
export interface PrefixSource {
  /** The number of prefix positions, 0 without prefix tuning. */
  readonly length: number;
  kv(t: MethodHost, block: ModuleInst, q: Tensor, kvd: number, range: SourceRange): PrefixKV | undefined;
}

/** The graph-building surface a method's rewrite uses. */
export interface MethodHost {
  readonly b: GraphBuilder;
  readonly r: Reporter;
  readonly root: ModuleInst;
  /** Graph inputs besides `tokens` and `targets` (LoRA rank masks, `lengths`), by name. */
  readonly inputs: Record<string, number>;
  /** Soft tokens prepended at the input (prompt tuning). */
  promptLength: number;
  /** Adds an op; a shape error becomes a diagnostic at `range` and yields POISON. */
  op(op: string, inputs: Tensor[], attrs: Attrs, range: SourceRange, what?: string): Value;
  param(path: string, shape: number[], o: ParamOptions): Tensor;
  /** A declared parameter of a layer (`weight`, `bias`). */
  moduleParam(m: ModuleInst, name: string): Tensor;
  dropout(x: Value, p: number, range: SourceRange): Value;
  shapeOf(t: Tensor): Shape;
}

/** What the built-in functions (functions.ts) use besides the method surface. */
export interface TracerHost extends MethodHost {
  readonly prefix: PrefixSource;
  /** Blocks whose forward is running, innermost last. */
  readonly stack: ModuleInst[];
  /** How many `attention` calls each block made (prefix targets must make one). */
  readonly attentionCalls: Map<string, number>;
  lengths(): Tensor;
  expr(m: ModuleInst, e: Expr, env: Map<string, Value>): Value;
}
