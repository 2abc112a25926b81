// The CPU reference: one kernel per op of the catalog (compiler/ir/ops.ts), keyed by op name.
// `input` and `param` are leaves that the executor supplies; every other op is here.
import { attention, attentionGradK, attentionGradQ, attentionGradV, attentionLse } from './attention.ts';
import type { Kernel, KernelOf } from './common.ts';
import type { ComputedOp } from '../../../compiler/ir/ops.ts';
import { crossEntropy, crossEntropyGrad } from './cross_entropy.ts';
import { dropout } from './dropout.ts';
import { add, gelu, geluErf, geluErfGrad, geluGrad, mul, relu, reluGrad, scale, silu, siluGrad, tanh, tanhGrad } from './elementwise.ts';
import { embedding, embeddingGrad, positions } from './embedding.ts';
import { linearGather, linearGatherGradBias, linearGatherGradWeight } from './gather.ts';
import { linear, linearGradWeight } from './linear.ts';
import { layernorm, layernormGradGamma, layernormGradX, rmsnorm, rmsnormGradGamma, rmsnormGradX } from './norm.ts';
import { pool, poolGrad } from './pool.ts';
import { rope } from './rope.ts';
import { invRowNorm } from './row-norm.ts';
import { concat, expandBatch, pad, slice, sumTo, transpose } from './shape.ts';
import { softEmbedding, softEmbeddingGrad } from './soft_embedding.ts';

export { KernelError, type Kernel, type KernelContext } from './common.ts';
export { gemm } from './linear.ts';
export { clearAttentionCache } from './attention.ts';

/** One kernel per op of the catalog but the leaves, typed by it: a missing kernel is a type error. */
const TYPED: { [K in ComputedOp]: KernelOf<K> } = {
  // forward
  embedding,
  soft_embedding: softEmbedding,
  positions,
  linear,
  add,
  mul,
  scale,
  layernorm,
  rmsnorm,
  gelu,
  gelu_erf: geluErf,
  relu,
  silu,
  tanh,
  slice,
  concat,
  rope,
  attention,
  expand_batch: expandBatch,
  inv_row_norm: invRowNorm,
  transpose,
  dropout,
  pool,
  cross_entropy: crossEntropy,
  // backward
  linear_grad_weight: linearGradWeight,
  sum_to: sumTo,
  layernorm_grad_x: layernormGradX,
  layernorm_grad_gamma: layernormGradGamma,
  rmsnorm_grad_x: rmsnormGradX,
  rmsnorm_grad_gamma: rmsnormGradGamma,
  gelu_grad: geluGrad,
  gelu_erf_grad: geluErfGrad,
  relu_grad: reluGrad,
  silu_grad: siluGrad,
  tanh_grad: tanhGrad,
  pad,
  attention_lse: attentionLse,
  attention_grad_q: attentionGradQ,
  attention_grad_k: attentionGradK,
  attention_grad_v: attentionGradV,
  embedding_grad: embeddingGrad,
  soft_embedding_grad: softEmbeddingGrad,
  pool_grad: poolGrad,
  cross_entropy_grad: crossEntropyGrad,
  // several adapters in one batch (gather.ts)
  linear_gather: linearGather,
  linear_gather_grad_weight: linearGatherGradWeight,
  linear_gather_grad_bias: linearGatherGradBias,
};

/**
 * The kernels by an op name known at run time (a verified node's). The cast forgets each kernel's
 * attribute type: the verifier (compiler/ir/verify.ts) has checked a verified node's attributes.
 */
export const KERNELS: Readonly<Record<string, Kernel>> = TYPED as unknown as Record<string, Kernel>;
