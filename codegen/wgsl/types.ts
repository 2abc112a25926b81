// The op-kernel generators' side of the planner's contract (compiler/lower/kernels.ts): a
// generator is a pure function from one IR op with concrete shapes and the adapter's
// capabilities to WGSL source, a dispatch size and its bindings in @binding order.
import type { OpBinding, OpKernelRequest } from '../../compiler/lower/kernels.ts';
import type { DECODE_OPS } from '../../compiler/decode/ops.ts';
import type { ComputedOp } from '../../compiler/ir/ops.ts';
import type { AdapterCaps } from './caps.ts';

type DecodeOp = keyof typeof DECODE_OPS;

export type { AdapterCaps } from './caps.ts';
export type { OpKernelRequest, TensorSpec } from '../../compiler/lower/kernels.ts';

/** The op kernels' bindings (`in0`, …, `out`, `out1`, `globals`; see compiler/lower/kernels.ts). */
export type BindingName = OpBinding;

export interface OpKernel {
  label: string;
  wgsl: string;
  bindings: BindingName[];
  workgroups: [number, number, number];
}

export type OpKernelGen = (req: OpKernelRequest, caps: AdapterCaps) => OpKernel;

/**
 * A family's generators, keyed by op name: an op of the catalog (compiler/ir/ops.ts) or of decoding
 * graphs (compiler/decode/ops.ts). index.ts joins the families into one table that must name every
 * op of the catalog but the leaves.
 */
export type OpKernelTable = { readonly [K in ComputedOp | DecodeOp]?: OpKernelGen };
