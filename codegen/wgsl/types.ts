// The op-kernel generators' side of the planner's contract (compiler/lower/kernels.ts): a
// generator is a pure function from one IR op with concrete shapes and the adapter's
// capabilities to WGSL source, a dispatch size and its bindings in @binding order.
import type { OpBinding, OpKernelRequest } from '../../compiler/lower/kernels.ts';
import type { DECODE_OPS } from '../../compiler/decode/ops.ts';
import type { ComputedOp, KernelAttrs } from '../../compiler/ir/ops.ts';
import type { GpuCaps } from './caps.ts';

type DecodeOp = keyof typeof DECODE_OPS;

export type { GpuCaps } from './caps.ts';
export type { OpKernelRequest, TensorSpec } from '../../compiler/lower/kernels.ts';

/** The op kernels' bindings (`in0`, …, `out`, `out1`, `globals`; see compiler/lower/kernels.ts). */
export type BindingName = OpBinding;

export interface OpKernel {
  label: string;
  wgsl: string;
  bindings: BindingName[];
  workgroups: [number, number, number];
  /** The sizes the source leaves open (compiler/lower/kernels.ts, Kernel.sizes). */
  sizes?: number[];
}

export type OpKernelGen = (req: OpKernelRequest, caps: GpuCaps) => OpKernel;

/** The attributes the planner adds to the request for a piece of an op (compiler/lower/: pieces.ts, loss.ts, kv-cache.ts). */
export interface PlanAttrs {
  /** The first row (of the table, the logits) this piece covers. */
  row0?: number;
  /** The rows of the whole table an embedding piece reads from. */
  table_rows?: number;
  /** A sum_to piece adds to what earlier pieces wrote (1) instead of writing (0). */
  accumulate?: number | boolean;
  /** decode_rope: the largest position the cache holds. */
  max_position?: number;
  /** A norm gradient's request fused with the add of a residual gradient (its last operand). */
  residual?: boolean;
}

/**
 * The request of catalog op K: its attributes as the catalog types them, which opKernel (index.ts)
 * checked against the schema, and any the planner added.
 */
export type OpRequest<K extends ComputedOp> = OpKernelRequest & { attrs: KernelAttrs<K> & PlanAttrs };

/** A generator of catalog op K (or of several ops, K their union), reading typed attributes. */
export type OpKernelGenOf<K extends ComputedOp> = (req: OpRequest<K>, caps: GpuCaps) => OpKernel;

/**
 * A family's generators, keyed by op name: an op of the catalog (compiler/ir/ops.ts) or of decoding
 * graphs (compiler/decode/ops.ts). index.ts joins the families into one table that must name every
 * op of the catalog but the leaves.
 */
export type OpKernelTable = { readonly [K in ComputedOp]?: OpKernelGenOf<K> | OpKernelGen } & { readonly [K in DecodeOp]?: OpKernelGen };
