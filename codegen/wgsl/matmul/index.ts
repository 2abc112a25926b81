// Matrix product kernels: C = act(alpha · op(A)·op(B) [+ alpha2 · op(A2)·op(B2)] + bias) (+ C when
// accumulating), with optional epilogues that fuse the product's elementwise neighbours (an
// activation's gradient, a second output of the activation, dropout, a residual add). The request
// is a MatmulSpec (compiler/lower/matmul-spec.ts).
//
// So a linear layer is one of (x [R,in], dy [R,out], R = batch·sequence rows):
//   forward   in_out: x·W  (W [in,out])          out_in: x·Wᵀ (transB)
//   input grad in_out: dy·Wᵀ (transB)             out_in: dy·W
//   weight grad in_out: xᵀ·dy (transA, K = R)     out_in: dyᵀ·x (transA, K = R)
//
// Sizes are baked into the WGSL as constants (the compiler knows every shape), so every bounds
// check is resolved by the shader compiler; with MatmulOptions.openRows the regblock variant
// reads M (the batch's rows, which change with the length) from a uniform instead. Two variants:
//   regblock.ts  each invocation computes 4·rowBlocks × 4 of C with vec4 loads and no workgroup
//                memory; for CPU adapters (SwiftShader, llvmpipe)
//   tiled.ts     tiles of A and B staged in workgroup memory; for hardware GPUs
// and the pieces they share:
//   spec.ts      the request's checks, bindings, label and WGSL preamble
//   epilogue.ts  bias, activation (or its gradient), dropout, residual, the store
//   tuning.ts    the variant per adapter and the block shapes (measured in BENCHMARKS.md)

import type { MatmulSpec } from '../../../compiler/lower/matmul-spec.ts';
import { CodegenError } from '../../codegen-error.ts';
import { regblockWgsl } from './regblock.ts';
import { type MatmulKernel, type MatmulOptions, bindingsOf, checkSpec, labelOf, openRows, openSizes, workgroupsFor } from './spec.ts';
import { tileBytes, tiledWgsl } from './tiled.ts';
import { REGBLOCK_DEFAULTS, TILED_DEFAULTS, fitWorkgroup, regblockWorkgroup } from './tuning.ts';

export { MATMUL_VARIANTS, type MatmulKernel, type MatmulLimits, type MatmulOptions, type MatmulVariant } from './spec.ts';
export { LONG_K, REGBLOCK_DEFAULTS, matmulKSlice, matmulVariantFor, regblockRowBlocks, regblockWorkgroup } from './tuning.ts';

/** Generates the WGSL and dispatch size of C = act(alpha·op(A)·op(B) + bias) (and its epilogues) for one variant. */
export function matmulKernel(spec: MatmulSpec, opts: MatmulOptions): MatmulKernel {
  checkSpec(spec, opts.limits);
  const open = openRows(spec, opts);
  const label = labelOf(spec, opts.variant, open);
  const flops = 2 * spec.M * spec.N * (spec.K + (spec.second?.K ?? 0));
  const bindings = bindingsOf(spec);
  if (opts.variant === 'regblock') {
    const wg = fitWorkgroup(opts.workgroup ?? regblockWorkgroup(spec), opts.limits);
    const rowBlocks = opts.rowBlocks ?? REGBLOCK_DEFAULTS.rowBlocks;
    const workgroups = workgroupsFor(4 * rowBlocks * wg[1], 4 * wg[0], spec, opts.limits);
    return { wgsl: regblockWgsl(spec, wg, rowBlocks, open), label, variant: 'regblock', bindings, workgroups, flops, ...(open ? { sizes: openSizes(spec) } : {}) };
  }
  if (spec.second) throw new CodegenError('validation', 'the tiled matmul has no second product: dispatch it as a second, accumulating matmul');
  const wg = fitWorkgroup(opts.workgroup ?? TILED_DEFAULTS.workgroup, opts.limits);
  const { BK } = TILED_DEFAULTS;
  const shared = tileBytes(wg, BK);
  if (shared > opts.limits.maxComputeWorkgroupStorageSize) {
    throw new CodegenError('limit', `tiled matmul needs ${shared} bytes of workgroup memory; the adapter allows ${opts.limits.maxComputeWorkgroupStorageSize}`);
  }
  const workgroups = workgroupsFor(4 * wg[1], 4 * wg[0], spec, opts.limits);
  return { wgsl: tiledWgsl(spec, wg, BK), label, variant: 'tiled', bindings, workgroups, flops };
}
