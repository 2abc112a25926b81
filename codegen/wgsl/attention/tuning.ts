// The blocking of the attention kernels and the choice of variant per adapter, in one place.
// The measurements behind these numbers: docs/webgpu-kernels.md, "Attention kernel tuning".
import { LOOP_BUDGET, ceilDiv, widthFor } from '../common.ts';
import type { GpuCaps } from '../types.ts';
import type { Geometry } from './spec.ts';

/** Register vectors (of hd/w values) one query row may keep in the software kernels: q and the output (attention), q, dy and dq (grad_q). */
const ROW_REG_VECTORS = { attention: 64, grad_q: 64 } as const;
/** Keys per block of the online softmax: one max and one rescale per block, not per key. */
export const KEY_BLOCK = 4;

/** Query rows per block in the software kernels, for a head of hd: the rows shrink as the head grows. */
export function queryBlock(hd: number, use: keyof typeof ROW_REG_VECTORS): number {
  const n = hd / widthFor(hd);
  return Math.max(1, Math.min(8, Math.floor(ROW_REG_VECTORS[use] / n)));
}

/** Which variant attention, attention_lse and attention_grad_q use on an adapter. */
export function queryVariantFor(caps: Pick<GpuCaps, 'isSoftware'>): 'block' | 'row' {
  return caps.isSoftware ? 'block' : 'row';
}

/** The key gradients a kernel computes: dk, dv, or both (attentionGradKV: dk in `out`, dv in `out1`). */
export type KeyGrads = 'k' | 'v' | 'kv';

/** Software grad_k / grad_v: about this many invocations, each walking every query that sees its keys. */
const KEY_GRAD_INVOCATIONS = 32;
/** Queries whose lse and dy·o an invocation keeps at a time (private arrays). */
const QUERY_CHUNK = 128;
/**
 * Keys updated together in registers, so that each loaded q / dy vector serves all of them: R keys
 * hold R·hd/w vectors each of k, v and the gradients, so R shrinks as the head grows.
 */
const KEY_REG_VECTORS = 32;

/** Keys per invocation of grad_k / grad_v. */
export function keyBlock(g: Pick<Geometry, 'B' | 'KV' | 'Sk'>, caps: Pick<GpuCaps, 'isSoftware'>): number {
  const target = caps.isSoftware ? KEY_GRAD_INVOCATIONS : 4096;
  return Math.min(g.Sk, Math.max(1, ceilDiv(g.B * g.KV * g.Sk, target)));
}

/** Register vectors per key: fewer on SwiftShader when dk and dv are computed together (k, v and both gradients). */
const keyRegVectors = (which: KeyGrads, caps: Pick<GpuCaps, 'gpuClass'>): number => (which === 'kv' && caps.gpuClass === 'swiftshader' ? 24 : KEY_REG_VECTORS);

/** The software key gradients' blocking: keys per invocation J (NB blocks), queries per chunk C, keys per register block R. */
export function perKeyBlockShape(g: Geometry, caps: Pick<GpuCaps, 'isSoftware' | 'gpuClass'>, which: KeyGrads): { J: number; NB: number; C: number; R: number } {
  const n = g.hd / widthFor(g.hd);
  const J = keyBlock(g, caps);
  return { J, NB: ceilDiv(g.Sk, J), C: Math.max(1, Math.min(QUERY_CHUNK, g.S)), R: Math.max(1, Math.min(Math.floor(keyRegVectors(which, caps) / n), J)) };
}

/** Keys per workgroup (= queries per chunk) of the workgroup variant of grad_k / grad_v. */
export const KEY_GRAD_WG = 64;

/**
 * Loop iterations of one invocation (upper bounds, counting every loop): the key-block variant
 * zeroes J keys, then per head of the group and chunk of C queries reads their lse (C) and walks
 * its keys R at a time over the chunk; the workgroup variant walks WG queries per chunk.
 */
export function keyGradLoops(g: Geometry, caps: Pick<GpuCaps, 'isSoftware' | 'gpuClass'>, variant: 'invocation' | 'workgroup', which: KeyGrads): number {
  const G = g.H / g.KV;
  if (variant === 'workgroup') return G * ceilDiv(g.S, KEY_GRAD_WG) * KEY_GRAD_WG;
  const { J, C, R } = perKeyBlockShape(g, caps, which);
  return J + G * ceilDiv(g.S, C) * (C + ceilDiv(J, R) * C);
}

/**
 * Which variant the key gradients use: the per-invocation key blocks on software adapters while
 * an invocation stays within LOOP_BUDGET (llvmpipe stops longer loops silently), else the
 * workgroup variant, which spreads the queries of a chunk over the workgroup.
 */
export function keyGradVariantFor(caps: Pick<GpuCaps, 'isSoftware' | 'gpuClass'>, g?: Geometry, which: KeyGrads = 'k'): 'invocation' | 'workgroup' {
  if (!caps.isSoftware) return 'workgroup';
  return g && keyGradLoops(g, caps, 'invocation', which) > LOOP_BUDGET ? 'workgroup' : 'invocation';
}
