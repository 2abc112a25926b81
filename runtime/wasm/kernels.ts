// The wasm backend's kernel table: the reference's (runtime/cpu/kernels), with the ops that
// dominate a training step replaced by f32 kernels on WebAssembly SIMD and threads. (slice and pad
// are the reference's: block copies, already as fast as a copy gets.)
import { KERNELS, type Kernel } from '../cpu/kernels/index.ts';
import { linear, linearGradWeight } from './linear.ts';
import { crossEntropy, crossEntropyGrad } from './ops/cross-entropy.ts';
import { add, mul, scale } from './ops/elementwise.ts';
import { gelu, geluErf, geluErfGrad, geluGrad } from './ops/gelu.ts';
import { layernorm, layernormGradGamma, layernormGradX, rmsnorm, rmsnormGradGamma, rmsnormGradX } from './ops/norm.ts';
import { attention, attentionGradK, attentionGradQ, attentionGradV, attentionLse } from './attention/index.ts';

export const WASM_KERNELS: Readonly<Record<string, Kernel>> = {
  ...KERNELS,
  linear: linear as Kernel,
  linear_grad_weight: linearGradWeight as Kernel,
  cross_entropy: crossEntropy as Kernel,
  cross_entropy_grad: crossEntropyGrad as Kernel,
  gelu: gelu as Kernel,
  gelu_grad: geluGrad as Kernel,
  gelu_erf: geluErf as Kernel,
  gelu_erf_grad: geluErfGrad as Kernel,
  layernorm: layernorm as Kernel,
  layernorm_grad_x: layernormGradX as Kernel,
  layernorm_grad_gamma: layernormGradGamma as Kernel,
  rmsnorm: rmsnorm as Kernel,
  rmsnorm_grad_x: rmsnormGradX as Kernel,
  rmsnorm_grad_gamma: rmsnormGradGamma as Kernel,
  add,
  mul,
  scale: scale as Kernel,
  attention: attention as Kernel,
  attention_lse: attentionLse as Kernel,
  attention_grad_q: attentionGradQ as Kernel,
  attention_grad_k: attentionGradK as Kernel,
  attention_grad_v: attentionGradV as Kernel,
};
