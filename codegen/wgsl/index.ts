// The WGSL kernel generators, one per op of the catalog (compiler/ir/ops.ts) except the leaves
// `input` and `param`, keyed by op name. See docs/webgpu-kernels.md.
//
// A kernel's `bindings` list is authoritative: operands that only give a shape (`like` of
// sum_to and expand_batch, `x` of positions and pool_grad) and absent optional operands are
// not bound, dropout with p > 0 binds `globals`, and out_in's linear_grad_weight binds in1
// before in0.
import { CodegenError } from '../codegen-error.ts';
import { ATTENTION_KERNELS, attentionGradKV as gradKVKernel, attentionWithLse as withLseKernel } from './attention/index.ts';
import { CROSS_ENTROPY_KERNELS, type CrossEntropyFusedKernel, crossEntropyFused as fusedKernel, crossEntropyRows as rowsKernel } from './cross_entropy.ts';
import { DROPOUT_KERNELS } from './dropout.ts';
import { ELEMENTWISE_KERNELS } from './elementwise.ts';
import { EMBEDDING_KERNELS } from './embedding.ts';
import { GATHER_KERNELS } from './gather.ts';
import { LINEAR_KERNELS } from './linear.ts';
import { NORM_KERNELS } from './norm.ts';
import { POOL_KERNELS } from './pool.ts';
import { ROPE_KERNELS } from './rope.ts';
import { ROW_NORM_KERNELS } from './row-norm.ts';
import { SHAPE_KERNELS } from './shape.ts';
import { SOFT_EMBEDDING_KERNELS } from './soft_embedding.ts';
import { checkAttrs } from '../../compiler/ir/attrs.ts';
import { isOp, OPS, opsWithRole, type ComputedOp } from '../../compiler/ir/ops.ts';
import type { GpuCaps, OpKernel, OpKernelGen, OpKernelGenOf, OpKernelRequest, OpKernelTable, PlanAttrs } from './types.ts';
import { storedBytes } from './quant.ts';

export { type CrossEntropyFusedKernel } from './cross_entropy.ts';
export type { GpuCaps, OpKernel, OpKernelGen, OpKernelRequest, TensorSpec } from './types.ts';

/** Every generator, typed by the catalog: an op without one is a type error. */
const GENERATORS: { readonly [K in ComputedOp]: OpKernelGenOf<K> | OpKernelGen } & OpKernelTable = {
  ...LINEAR_KERNELS,
  ...ELEMENTWISE_KERNELS,
  ...NORM_KERNELS,
  ...ROW_NORM_KERNELS,
  ...ATTENTION_KERNELS,
  ...ROPE_KERNELS,
  ...EMBEDDING_KERNELS,
  ...SOFT_EMBEDDING_KERNELS,
  ...SHAPE_KERNELS,
  ...DROPOUT_KERNELS,
  ...POOL_KERNELS,
  ...CROSS_ENTROPY_KERNELS,
  ...GATHER_KERNELS,
};

/**
 * The generators by an op name known at run time (a request's). The cast forgets each generator's
 * attribute type: opKernel checks a request's attributes against its op's schema before the call.
 */
export const OP_KERNELS: Readonly<Record<string, OpKernelGen>> = GENERATORS as Record<string, OpKernelGen>;

/** The attributes a planner's piece request may carry besides its op's (types.ts, PlanAttrs). */
const PLAN_ATTRS: readonly (keyof PlanAttrs)[] = ['row0', 'table_rows', 'accumulate', 'max_position', 'residual'];

/** The first problem of a request's attributes against its op's schema (the planner's own set aside). */
function attrProblem(req: OpKernelRequest): string | undefined {
  if (!isOp(req.op)) return undefined; // not an op of the catalog: opKernel found no generator for it
  const own = Object.fromEntries(Object.entries(req.attrs).filter(([k]) => !(PLAN_ATTRS as readonly string[]).includes(k)));
  return checkAttrs(OPS[req.op].attrs, own);
}

const LEAVES: readonly string[] = opsWithRole('leaf');

/** The kernel of one op for an adapter; throws CodegenError('validation') for leaves and unknown ops. */
export function opKernel(req: OpKernelRequest, caps: GpuCaps): OpKernel {
  const gen = Object.hasOwn(OP_KERNELS, req.op) ? OP_KERNELS[req.op] : undefined;
  if (!gen) {
    const why = LEAVES.includes(req.op)
      ? `${req.op} is a leaf of the graph: its buffer is supplied by the runtime, not computed by a kernel`
      : `no WGSL kernel for op "${req.op}" (not in the op catalog)`;
    throw new CodegenError('validation', why, `${req.op} kernel`);
  }
  const bad = attrProblem(req);
  if (bad) throw new CodegenError('validation', bad, `${req.op} kernel`);
  const k = gen(req, caps);
  checkBindingSizes(req, caps, k.bindings);
  return k;
}

/**
 * Throws CodegenError('limit') when a bound operand or the output is larger than one storage binding
 * may be (maxStorageBufferBindingSize; 128 MiB on llvmpipe). The plan splits the ops that can be
 * split into pieces before asking for a kernel (compiler/lower/split.ts); this check is the backstop.
 */
export function checkBindingSizes(req: OpKernelRequest, caps: GpuCaps, bound: readonly string[]): void {
  const limit = caps.limits.maxStorageBufferBindingSize;
  const all = [...req.inputs.map((t, i) => [`in${i}`, `operand ${i}`, t] as const), ['out', 'the output', req.output] as const];
  for (const [name, what, t] of all) {
    if (!t || !bound.includes(name)) continue;
    const bytes = storedBytes(t);
    if (bytes > limit) {
      throw new CodegenError(
        'limit',
        `${what} [${t.shape.join(', ')}] holds ${bytes} bytes, more than this adapter's maxStorageBufferBindingSize (${limit}); ` +
          `the plan splits matmuls, embeddings, the loss and elementwise ops across bindings, not ${req.op}`,
        `${req.op} kernel`,
      );
    }
  }
}

/**
 * A generator whose requests get the attribute check and whose kernels get the binding-size check
 * (for the kernels the plan calls directly). The cast is what the attribute check established.
 */
const checked =
  <R extends OpKernelRequest, K extends { bindings: readonly string[] }>(gen: (req: R, caps: GpuCaps) => K) =>
  (req: OpKernelRequest, caps: GpuCaps): K => {
    const bad = attrProblem(req);
    if (bad) throw new CodegenError('validation', bad, `${req.op} kernel`);
    const k = gen(req as R, caps);
    checkBindingSizes(req, caps, k.bindings);
    return k;
  };

/** The fused cross-entropy loss and gradient (see cross_entropy.ts). */
export const crossEntropyFused: (req: OpKernelRequest, caps: GpuCaps) => CrossEntropyFusedKernel = checked(fusedKernel);

/** The per-row losses of (a row piece of) the logits (see cross_entropy.ts). */
export const crossEntropyRows: (req: OpKernelRequest, caps: GpuCaps) => CrossEntropyFusedKernel = checked(rowsKernel);

/** attention and its lse in one kernel (`out1` the lse [B,H,S]; see attention.ts). */
export const attentionWithLse: (req: OpKernelRequest, caps: GpuCaps) => OpKernel = checked(withLseKernel);

/** attention_grad_k and _v in one kernel (request: grad_k's; `out1` dv, the shape of `out`). */
export const attentionGradKV: (req: OpKernelRequest, caps: GpuCaps) => OpKernel = checked(gradKVKernel);
