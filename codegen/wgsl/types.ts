// The op-kernel generators' side of the planner's contract (compiler/lower/kernels.ts): a
// generator is a pure function from one IR op with concrete shapes and the adapter's
// capabilities to WGSL source, a dispatch size and its bindings in @binding order.
import type { OpBinding, OpKernelRequest } from '../../compiler/lower/kernels.ts';
import type { AdapterCaps } from './caps.ts';

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
