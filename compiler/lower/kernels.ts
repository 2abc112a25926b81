// The planner's one question to a code generator: the kernel that computes this. A KernelBackend
// answers it for every kind of work the plan schedules (an op of the catalog, a matrix product,
// the attention and loss pairs, the optimizer's passes); the WGSL generator implements it
// (codegen/wgsl/backend.ts), and so can a stand-in that returns no code at all (the planner's
// tests). The planner never imports a generator: the caller hands it a backend.
//
// Shapes are concrete (a plan is made for one batch and sequence length), so a generator may
// bake sizes into its code as constants. Sizes that change with the batch or the sequence length
// (rows, positions) it may leave open instead: the kernel reads them from `sizes`, so that a plan
// for another length reuses its compiled pipeline (docs/webgpu-runtime.md, "Sizes").
import type { OptimizerConfig } from '../autodiff/backward.ts';
import type { Attrs } from '../ir/types.ts';
import type { KvAttentionSpec, KvKernels } from './kv-cache-spec.ts';
import type { QuantDtype, WeightLayout } from '../quant/weight.ts';
import type { MatmulSpec } from './matmul-spec.ts';

export interface TensorSpec {
  shape: number[];
  /**
   * 'f16': half floats two to a u32; 'int8', 'nf4': codes then scales (compiler/quant/slot.ts),
   * with `layout`. Only frozen weights are stored so, read only as matmul's B and embedding tables.
   */
  dtype: 'f32' | 'i32' | 'f16' | QuantDtype;
  /** A quantized tensor's layout: how its channels and blocks run (compiler/quant/weight.ts). */
  layout?: WeightLayout;
}

export interface OpKernelRequest {
  op: string;
  attrs: Attrs;
  /** Operands in the op's order (optional trailing ones absent). */
  inputs: TensorSpec[];
  output: TensorSpec;
}

/**
 * What a kernel binds, one storage buffer per name, in the kernel's @binding order. One
 * vocabulary for every kernel; whether a name is written is the name's (WRITTEN):
 *   op kernels   `in0`, `in1`, … the operands; `out` the result; `out1` a second result (attention
 *                and its log-sum-exp, say); `globals` u32 [step, …], updated by the runtime each step;
 *   matmul       `a`, `b` (and `a2`, `b2`: a second product), `bias`, `pre` and `res` (epilogue
 *                operands laid out like C), `globals`, `c` the result, `activated` a second result;
 *   loss         `loss`: the per-row losses;
 *   optimizer    `p` the parameters, `g` their gradients, `m` and `v` its state, `decay` the
 *                weight-decay mask, `hyper` the step's hyper-parameters, `clip` the clipping factor
 *                (its reductions are op kernels: `in0` → `out`).
 */
export type OpBinding = `in${number}` | 'out' | 'out1' | 'globals';
export type MatmulBinding = 'a' | 'b' | 'a2' | 'b2' | 'bias' | 'pre' | 'res' | 'globals' | 'c' | 'activated';
export type OptimizerBinding = 'p' | 'g' | 'm' | 'v' | 'decay' | 'hyper' | 'clip';
export type BindingName = OpBinding | MatmulBinding | 'loss' | OptimizerBinding;

/** The binding names a kernel writes (read_write); every other binding is read-only. */
export const WRITTEN: ReadonlySet<BindingName> = new Set<BindingName>(['out', 'out1', 'c', 'activated', 'loss', 'p', 'm', 'v']);

export interface Kernel<B extends BindingName = BindingName> {
  label: string;
  wgsl: string;
  bindings: readonly B[];
  workgroups: [number, number, number];
  /**
   * Up to 4 u32 values the source leaves open (SIZES_UNIFORM: a `vec4<u32>` uniform bound after
   * the storage bindings, at @binding(bindings.length)); absent when every size is a constant.
   */
  sizes?: number[];
}

/** The WGSL declaration of a kernel's open sizes (Kernel.sizes), bound after its `storage` bindings. */
export const SIZES_UNIFORM = (storage: number): string => `@group(0) @binding(${storage}) var<uniform> sizes: vec4<u32>;`;

/** The limits a plan must respect (a WebGPU adapter's, or WebGPU's defaults). */
export interface PlanTarget {
  /** A CPU adapter: recorded in the plan (Plan.gpu). */
  isSoftware: boolean;
  limits: {
    /** The most bytes one binding may span: larger tensors are split into pieces or refused. */
    maxStorageBufferBindingSize: number;
    /** The most bytes one buffer may hold: the frozen arena is stored in parts under it. */
    maxBufferSize: number;
    /** The most storage buffers one kernel binds: fusions that would bind more are not made. */
    maxStorageBuffersPerShaderStage: number;
  };
}

/** The pair fusions whose kernel writes two results (`out`, `out1`) from the head op's request. */
export type PairFusion = 'attention_lse' | 'attention_grad_kv';

export interface KernelBackend {
  readonly target: PlanTarget;
  /** The kernel of one op of the catalog (compiler/ir/ops.ts); leaves and unknown ops are refused. */
  op(req: OpKernelRequest): Kernel;
  /** One matrix product (linear layers and their gradients; LoRA's sum of two products). */
  matmul(spec: MatmulSpec): Kernel;
  /** Whether matmul() computes a second product in the same kernel (MatmulSpec.second). */
  secondProduct(): boolean;
  /** Split-K: the most of K one dispatch of this product should reduce (split.ts), or undefined for all of it. */
  matmulKSlice?(spec: MatmulSpec): number | undefined;
  /** attention with its lse, or attention_grad_k with _v: the request is the head op's. */
  pair(fusion: PairFusion, req: OpKernelRequest): Kernel;
  /**
   * The loss of (a row piece of) the logits, per row into `loss` (`in0` logits, `in1` targets);
   * with `grad`, also dlogits into `out` (cross_entropy and its gradient in one kernel).
   */
  loss(req: OpKernelRequest, grad: boolean): Kernel;
  /** Σg² over `bytes` of gradients (`in0`) into partial sums (`out`), and how many bytes those take. */
  sumSquares(bytes: number): { kernel: Kernel; partialBytes: number };
  /** The global norm and clipping factor from all partial sums (`in0`) into the clip buffer (`out`). */
  clipFactor(clipNorm: number): Kernel;
  /** The update of `bytes` of parameters by the optimizer `config`. */
  update(config: OptimizerConfig, bytes: number): Kernel;
  /** kv_attention's append and attend kernels over a key/value cache (decoding plans; kv-cache.ts). */
  kvAttention?(spec: KvAttentionSpec): KvKernels;
}
