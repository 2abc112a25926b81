// Scaled dot-product attention (causal + prefix mask, grouped kv heads), the log-sum-exp of its
// softmax rows, and its gradients, for WebGPU. The geometry (shapes, kv heads, visible keys) is
// compiler/ir/attention-geometry.ts', shared with the CPU reference.
//
// The backward reads the forward's output o and lse (operands 4 and 5 of the gradients), so it
// needs no softmax statistics pass: p_ij = e^(s_ij − lse_i), and the softmax backward's
// Σ_j p_ij·dP_ij (dP_ij = dy_i·v_j) is dy_i·o_i.
//
// Written for CPU adapters first: no workgroup memory, no barriers, no atomics (one exception:
// the hardware variant of the key gradients). Vectors along hd are vec4 when hd % 4 = 0, unrolled
// into named registers (../unroll.ts).
//   spec.ts      the request's geometry, the WGSL preamble, the bindings
//   query.ts     the frame of the per-query kernels (a row per invocation, or a block of rows)
//   forward.ts   attention, attention_lse, and both in one kernel (attentionWithLse)
//   grad-q.ts    attention_grad_q
//   grad-kv.ts   attention_grad_k, _v, and both in one kernel (attentionGradKV)
//   tuning.ts    block sizes and the variant per adapter
import type { OpKernelTable } from '../types.ts';
import { attentionKernel, attentionLseKernel } from './forward.ts';
import { attentionGradKKernel, attentionGradVKernel } from './grad-kv.ts';
import { attentionGradQKernel } from './grad-q.ts';

export { attentionWithLse } from './forward.ts';
export { attentionGradKV } from './grad-kv.ts';
export { keyBlock, keyGradVariantFor, queryBlock, queryVariantFor } from './tuning.ts';

export const ATTENTION_KERNELS = {
  attention: attentionKernel,
  attention_lse: attentionLseKernel,
  attention_grad_q: attentionGradQKernel,
  attention_grad_k: attentionGradKKernel,
  attention_grad_v: attentionGradVKernel,
} satisfies OpKernelTable;
