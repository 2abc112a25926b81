// The contract between WGSL kernel generators (one per op family) and the plan that
// schedules them. A generator is a pure function: from one IR op with concrete shapes
// and the adapter's capabilities to WGSL source, a dispatch size and a binding order.
// Shapes are concrete (the plan is compiled for a given batch and sequence length), so
// sizes can be baked into the WGSL as constants.
import type { Attrs } from '../../compiler/ir/types.ts';
import type { AdapterCaps } from './caps.ts';

export type { AdapterCaps } from './caps.ts';

export interface TensorSpec {
  shape: number[];
  /** 'f16': half floats two to a u32 (frozen weights stored in f16; only matmul's B and embedding tables). */
  dtype: 'f32' | 'i32' | 'f16';
}

export interface OpKernelRequest {
  op: string;
  attrs: Attrs;
  /** Operands in the op's order (optional trailing ones absent). */
  inputs: TensorSpec[];
  output: TensorSpec;
}

/**
 * What a kernel binds, in @binding order of @group(0):
 *   `in0`, `in1`, … the operands; `out` the result (read_write); `out1` a second result, for
 *   kernels the plan fuses to write two values (attention and its log-sum-exp, say);
 *   `globals` a storage buffer of u32 [step, …] the runtime updates each step (dropout's step).
 * Every binding is a storage buffer; all are read-only except `out` and `out1`.
 */
export type BindingName = `in${number}` | 'out' | 'out1' | 'globals';

export interface OpKernel {
  label: string;
  wgsl: string;
  bindings: BindingName[];
  workgroups: [number, number, number];
}


export type OpKernelGen = (req: OpKernelRequest, caps: AdapterCaps) => OpKernel;
