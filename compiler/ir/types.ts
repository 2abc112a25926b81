// The Model IR: one graph of typed tensor ops. Parameters carry a dotted path,
// a partition (frozen | trainable) and an origin (base | lora | adapter | …).
// See docs/ir.md for the text form.
import type { SourceRange } from '../../grammar/diagnostics.ts';

/**
 * A dimension: a concrete size, or a symbolic affine expression over the batch
 * `B` and the sequence `T` (`"B"`, `"T"`, `"T+20"` when 20 soft tokens are prepended).
 */
export type Dim = number | string;
export type Shape = Dim[];
export type DType = 'f32' | 'i32';

export type Partition = 'frozen' | 'trainable';
export type Origin = 'base' | 'lora' | 'adapter' | 'prefix' | 'prompt' | 'ia3' | 'head';

/** How a parameter is initialised when no checkpoint provides it. */
export type InitRule =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'normal'; std: number }
  /** uniform(-bound, bound); LoRA A uses kaiming-uniform with a = √5, i.e. bound = 1/√fan_in. */
  | { kind: 'uniform'; bound: number }
  /** Rows sampled from a vocabulary embedding table (prompt tuning). */
  | { kind: 'vocab'; table: string }
  /** Embeddings of the tokens of a text, repeated to fill (prompt tuning). */
  | { kind: 'text'; table: string; text: string }
  /** The norm of each output feature's weights in `weight` (DoRA's magnitude, `layout` as the Linear's). */
  | { kind: 'row_norm'; weight: string; layout: 'in_out' | 'out_in' }
  /**
   * A LoRA factor from a decomposition of the frozen `weight` (PiSSA: SVD, OLoRA: QR), which the
   * initialisation then replaces by its residual W − scale·B·A (runtime/lora-init.ts); PiSSA with
   * `niter`: torch.svd_lowrank's randomised SVD with that many power iterations.
   */
  | { kind: 'pissa' | 'olora'; weight: string; layout: 'in_out' | 'out_in'; factor: 'A' | 'B'; scale: number; niter?: number };

/** A PEFT method as applied to one module, with its settings resolved. */
export interface MethodInfo {
  name: 'lora' | 'adapter' | 'prefix' | 'prompt' | 'ia3' | 'train';
  /** The module path it was applied to. */
  module: string;
  settings: Record<string, number | string | boolean>;
}

export interface Param {
  /** Dotted path, e.g. `h.0.attn.c_attn.lora_A.weight`. */
  path: string;
  shape: number[];
  dtype: 'f32';
  init: InitRule;
  partition: Partition;
  origin: Origin;
  /** The module the parameter belongs to (`h.0.attn.c_attn`). */
  module: string;
  method?: MethodInfo;
  /**
   * True for parameters that exist only during training and are discarded
   * afterwards (the prefix-tuning reparameterisation MLP).
   */
  transient?: boolean;
  src?: SourceRange;
}

export type AttrValue = number | string | boolean | number[];
export type Attrs = Record<string, AttrValue>;

export interface Node {
  id: number;
  op: string;
  inputs: number[];
  attrs: Attrs;
  shape: Shape;
  dtype: DType;
  /** Module path this node was created in (`h.3.attn`); `` for the root. */
  scope: string;
  src?: SourceRange;
}

export type Task = 'causal_lm' | 'classification';

export interface Graph {
  params: Param[];
  /** Topologically ordered: every input id is smaller than the node's id. */
  nodes: Node[];
  /** Named graph inputs (`tokens`, `targets`) → node id (an `input` node). */
  inputs: Record<string, number>;
  /** The logits node and the scalar loss node. */
  outputs: { logits: number; loss: number };
  task: Task;
  /** Number of soft tokens prepended at the input (prompt tuning), 0 if none. */
  promptLength: number;
  /**
   * The node computing the prefix table [P, 2·L·kvd] from the reparameterisation MLP, when
   * there is one: after training its value is kept and the MLP discarded.
   */
  prefixTable?: number;
  /** Resolved config constants, for printing and checkpoints. */
  config: Record<string, number | string | boolean>;
}

/**
 * The graph input `lengths` i32 [B]: each row's real sequence positions (soft prompt positions
 * included), read by non-causal attention and pool to mask padding; the tracer adds it only for
 * them. A batch that leaves it out gets the full sequence length.
 */
export const LENGTHS = 'lengths';

/**
 * The graph input `token_types` i32 [B, S]: each position's segment (BERT's token_type_ids: 0 for
 * a sentence pair's first text, 1 for its second), S the embedded sequence with any soft prompt
 * (whose positions are type 0). Added by the builtin `token_types(x)`; a batch that leaves it out
 * gets type 0 everywhere.
 */
export const TOKEN_TYPES = 'token_types';
