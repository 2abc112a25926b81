// The WGSL generators behind the planner's KernelBackend (compiler/lower/kernels.ts): one
// backend per adapter's capabilities. buildPlan(t, dims, wgslBackend(caps)) is a WebGPU plan.
import type { OptimizerConfig } from '../../compiler/autodiff/backward.ts';
import type { KernelBackend, OpKernelRequest, PairFusion } from '../../compiler/lower/kernels.ts';
import type { MatmulSpec } from '../../compiler/lower/matmul-spec.ts';
import type { GpuCaps } from './caps.ts';
import { attentionGradKV, attentionWithLse, crossEntropyFused, crossEntropyRows, opKernel } from './index.ts';
import { kvAppend, kvAttend, type KvAttentionSpec } from './kv-attention.ts';
import { matmulKSlice, matmulKernel, matmulVariantFor, regblockRowBlocks } from './matmul/index.ts';
import { clipFactorKernel, sumSquaresKernel, updateKernel } from './optimizer.ts';

export function wgslBackend(caps: GpuCaps): KernelBackend {
  const variant = matmulVariantFor(caps);
  return {
    target: caps,
    op: (req: OpKernelRequest) => opKernel(req, caps),
    matmul: (spec: MatmulSpec) => matmulKernel(spec, { variant, limits: caps.limits, rowBlocks: regblockRowBlocks(spec, caps.gpuClass), openRows: true }),
    // Only the register-blocked variant adds a second product in the same kernel.
    secondProduct: () => variant === 'regblock',
    matmulKSlice: (spec: MatmulSpec) => matmulKSlice(spec, caps.gpuClass),
    pair: (fusion: PairFusion, req: OpKernelRequest) => (fusion === 'attention_lse' ? attentionWithLse(req, caps) : attentionGradKV(req, caps)),
    loss: (req: OpKernelRequest, grad: boolean) => (grad ? crossEntropyFused(req, caps) : crossEntropyRows(req, caps)),
    sumSquares: (bytes: number) => sumSquaresKernel(bytes),
    clipFactor: (clipNorm: number) => clipFactorKernel(clipNorm),
    update: (config: OptimizerConfig, bytes: number) => updateKernel(config, bytes),
    kvAttention: (spec: KvAttentionSpec) => ({ append: kvAppend(spec), attend: kvAttend(spec) }),
  };
}
