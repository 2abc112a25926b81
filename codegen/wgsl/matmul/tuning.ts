// The matmul's variant per adapter and its block shapes, in one place. The measurements behind
// these numbers: BENCHMARKS.md, "Kernel tuning" (matmul).

import type { MatmulSpec } from '../../../compiler/lower/matmul-spec.ts';
import type { GpuCaps } from '../caps.ts';
import { type MatmulLimits, type MatmulVariant, ceilDiv } from './spec.ts';

/** The variant for an adapter: no workgroup memory on CPU adapters. */
export function matmulVariantFor(info: Pick<GpuCaps, 'isSoftware'>): MatmulVariant {
  return info.isSoftware ? 'regblock' : 'tiled';
}

/** regblock's defaults: a workgroup of 16 × 4 invocations, each 8 rows (2 blocks of 4) × 4 columns. */
export const REGBLOCK_DEFAULTS = { workgroup: [16, 4] as const, rowBlocks: 2 };

/** tiled's defaults: 16 × 16 invocations (a 64 × 64 block of C), steps of 16 along K. */
export const TILED_DEFAULTS = { workgroup: [16, 16] as const, BK: 16 };

/**
 * regblock's workgroup for a product whose N is under half the default's 16 columns of 4 (LoRA's
 * x·Aᵀ, dy·B and dyᵀ·(x·Aᵀ), N = rank): enough columns to cover N (a power of two), 16
 * invocations in all, so that few of them return at once.
 */
export function regblockWorkgroup(spec: Pick<MatmulSpec, 'N'>): readonly [number, number] {
  const [x] = REGBLOCK_DEFAULTS.workgroup;
  const cols = ceilDiv(spec.N, 4);
  if (cols >= x / 2) return REGBLOCK_DEFAULTS.workgroup;
  const nx = 2 ** Math.ceil(Math.log2(cols));
  return [nx, 16 / nx];
}

/**
 * regblock's rows per invocation (in blocks of 4) for a product on an adapter class: 16 rows on
 * llvmpipe for products whose A is not transposed and whose M is large, else the default 8.
 */
export function regblockRowBlocks(spec: Pick<MatmulSpec, 'M' | 'transA'>, gpuClass?: string): number {
  return gpuClass === 'llvmpipe' && !spec.transA && spec.M >= 256 ? 4 : REGBLOCK_DEFAULTS.rowBlocks;
}

/** Picks a workgroup shape that fits the adapter's invocation limits. */
export function fitWorkgroup(want: readonly [number, number], limits: MatmulLimits): [number, number] {
  let [x, y] = want;
  x = Math.min(x, limits.maxComputeWorkgroupSizeX);
  y = Math.min(y, limits.maxComputeWorkgroupSizeY);
  while (x * y > limits.maxComputeInvocationsPerWorkgroup) {
    if (y >= x) y = Math.max(1, y >> 1);
    else x = Math.max(1, x >> 1);
  }
  return [x, y];
}

/**
 * Split-K on llvmpipe: products whose K is at least `from` are dispatched as slices of `slice`
 * along K, each adding into C in turn (compiler/lower/split.ts). Over a long K, the rows of A and
 * columns of B that the SIMD chunks of one workgroup share no longer stay in the core's cache
 * from one chunk to the next, and the rate falls to half (GPT-2's lm_head input gradient,
 * K = 50,257). SwiftShader runs that product at the forward's rate in one K loop (slices: no gain).
 */
export const LONG_K = { from: 8192, slice: 2048 };

/** The most of K one dispatch of this product should reduce on this adapter, or undefined for all of it. */
export function matmulKSlice(spec: Pick<MatmulSpec, 'K'>, gpuClass?: string): number | undefined {
  return gpuClass === 'llvmpipe' && spec.K >= LONG_K.from ? LONG_K.slice : undefined;
}
