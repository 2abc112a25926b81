// attention and attention_lse on the wasm backend: per block of a head's queries, the scores
// Q·Kᵀ and the output P·V are products of gemmF32 on the head-major operands (heads.ts), the
// softmax one exp per score in between (softmax.ts). f32 results; lse in f64 before its rounding.
import { attention as referenceAttention, attentionLse as referenceLse } from '../../cpu/kernels/attention.ts';
import { floatOut, type KernelContext, type KernelOf } from '../../cpu/kernels/common.ts';
import { lseShape } from '../../../compiler/ir/attention-geometry.ts';
import type { FloatArray } from '../../cpu/tensor.ts';
import { gemmF32 } from '../gemm.ts';
import { dropKept, mayKeep, runCache, type ForwardRun, type RunCache } from './cache.ts';
import { blockScores, forEachBlock, headMajor, ROWS, storeRows, view } from './heads.ts';
import { forwardOperands, lseOperands, visibleKeysOf, type AttentionAttrs, type Geometry } from '../../cpu/kernels/attention-operands.ts';
import { softmaxRows } from './softmax.ts';

/**
 * The softmax rows of every block (and, given v and o, their outputs P·V into o). Returns lse
 * [B·H·S] in f64, and (given the run's cache, where it may hold them) what its backward reuses.
 */
function forwardPass(g: Geometry, q: FloatArray, k: FloatArray, v?: FloatArray, o?: FloatArray, cache?: RunCache): Pick<ForwardRun, 'lse' | 'kept'> {
  const { B, S, Sk, H, KV, hd, scale } = g;
  const lse = new Float64Array(B * H * S);
  const qh = headMajor(q, B, S, H, hd), kh = headMajor(k, B, Sk, KV, hd), vh = v ? headMajor(v, B, Sk, KV, hd) : undefined;
  const scores = blockScores(g);
  const keep = v && vh && cache && mayKeep(cache, qh.length + kh.length + vh.length + scores) ? { v, qh, kh, vh, P: new Float32Array(scores) } : undefined;
  const P = keep ? keep.P : new Float32Array(Math.min(ROWS, S) * Sk), Ot = new Float32Array(Math.min(ROWS, S) * hd);
  let at = 0;
  forEachBlock(g, ({ b, i0, len, keys, qh: qo, lo, kh: ko, row }) => {
    const Pb = view(P, at, len, keys);
    if (keep) at += len * keys;
    gemmF32(len, keys, hd, view(qh, qo, len, hd), hd, 1, view(kh, ko, keys, hd), 1, hd, Pb);
    softmaxRows(Pb, len, keys, (t) => visibleKeysOf(g, b, i0 + t), scale, lse, lo);
    if (!vh || !o) return;
    const Ob = view(Ot, 0, len, hd);
    gemmF32(len, hd, keys, Pb, keys, 1, view(vh, ko, keys, hd), hd, 1, Ob);
    storeRows(Ob, len, hd, o, row, H * hd);
  });
  return { lse, kept: keep };
}

// f64 runs keep the reference's f64 sums: this backend's arithmetic is f32, and an f64 context
// asks for more than f32 products give. So they go to the reference kernels, explicitly.
const isF64 = (ctx: KernelContext): boolean => ctx.precision === 'f64';

/** attention: out_i = Σ_j softmax_j(q_i·k_j/√hd) v_j over visible keys j. */
export const attention: KernelOf<'attention'> = (inputs, attrs, ctx) => {
  if (isF64(ctx)) return referenceAttention(inputs, attrs, ctx);
  const { q, k, v, g } = forwardOperands('attention', inputs, attrs);
  const out = floatOut(q.shape, ctx);
  const cache = runCache(ctx);
  const again = cache.forward.get(q.data);
  if (again) dropKept(cache, again);
  // The context does not say whether a backward follows: training mode is taken as the sign
  // (evaluations run without, and would hold these for nothing; a gradient run without training
  // mode, `peftc grad`, then takes the lse path).
  const { lse, kept } = forwardPass(g, q.data, k.data, v.data, out.data, ctx.training ? cache : undefined);
  cache.forward.set(q.data, { k: k.data, lengths: inputs[3]?.data, attrs: attrKey(attrs), lse, kept });
  return out;
};

/** attention_lse: the forward's lse when it ran on these q, k, lengths and attributes, else its own. */
export const attentionLse: KernelOf<'attention_lse'> = (inputs, attrs, ctx) => {
  if (isF64(ctx)) return referenceLse(inputs, attrs, ctx);
  const { q, k, g } = lseOperands('attention_lse', inputs, attrs);
  const out = floatOut(lseShape(g), ctx);
  out.data.set(forwardOf(runCache(ctx), q.data, k.data, inputs[2]?.data, attrs)?.lse ?? forwardPass(g, q.data, k.data).lse);
  return out;
};

/** What this run's attention kept from q, k, lengths and attrs, if it ran on them. */
export function forwardOf(cache: RunCache, q: FloatArray, k: FloatArray, lengths: unknown, attrs: AttentionAttrs): ForwardRun | undefined {
  const seen = cache.forward.get(q);
  return seen && seen.k === k && seen.lengths === lengths && seen.attrs === attrKey(attrs) ? seen : undefined;
}

/** The attributes as a cache key (the same op attributes give the same string). */
export const attrKey = (a: AttentionAttrs): string => `${a.heads} ${a.kv_heads} ${a.causal} ${a.prefix}`;
