// The wasm backend's kernel table: the reference's (runtime/cpu/kernels), with the ops that
// dominate a training step replaced by f32 kernels on WebAssembly SIMD and threads.
import { KERNELS, type Kernel } from '../cpu/kernels/index.ts';
import { linear, linearGradWeight } from './linear.ts';
import { attention, attentionGradK, attentionGradQ, attentionGradV, attentionLse } from './attention/index.ts';

export const WASM_KERNELS: Readonly<Record<string, Kernel>> = {
  ...KERNELS,
  linear: linear as Kernel,
  linear_grad_weight: linearGradWeight as Kernel,
  attention: attention as Kernel,
  attention_lse: attentionLse as Kernel,
  attention_grad_q: attentionGradQ as Kernel,
  attention_grad_k: attentionGradK as Kernel,
  attention_grad_v: attentionGradV as Kernel,
};
