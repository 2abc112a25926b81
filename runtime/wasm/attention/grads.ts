// attention_grad_q, _k and _v on the wasm backend, computed together by whichever runs first
// and remembered for the other two (cache.ts), as the reference does. Per block of a head's
// queries: the probabilities from the scores Q·Kᵀ, dP = dY·Vᵀ, the score gradients (softmax.ts),
// then dQ = dS·K (each query row once), dK += dSᵀ·Q and dV += Pᵀ·dY (summed over the blocks and
// the heads that share the kv head): five products of gemmF32 on the head-major operands.
// The probabilities are the forward's own where this run's attention kept them (cache.ts: the
// scores product and its exps are not done again), else from the forward's f64 lse where it
// computed that on the same q, k and lengths (one exp per score, no max or sum pass), else the
// softmax is taken again. The lse operand is not used for them: rounded to f32 it is off from
// the recomputed f32 scores by up to |lse|·2⁻²⁴, which with large scores (a softmax near
// one-hot) shows in p·(dP − Σ p·dP) as relative errors ~1e-5. o is checked but not read:
// Σ_j p_j·dP_j is taken from the block's rows, where it costs one multiply-add per score.
import { attentionGradK as refGradK, attentionGradQ as refGradQ, attentionGradV as refGradV } from '../../cpu/kernels/attention.ts';
import { floatOut, type Kernel, type KernelContext, type KernelOf } from '../../cpu/kernels/common.ts';
import { gemmF32 } from '../gemm.ts';
import { dropKept, runCache } from './cache.ts';
import { attrKey, forwardOf } from './forward.ts';
import { addInto, forEachBlock, headMajor, ROWS, rowMajorInto, storeRows, view } from './heads.ts';
import { gradOperands, visibleKeysOf, type AttentionAttrs } from '../../cpu/kernels/attention-operands.ts';
import { probabilityRows, scoreGradRows, softmaxRows } from './softmax.ts';

function attentionGrads(op: string, inputs: Parameters<Kernel>[0], attrs: AttentionAttrs, ctx: KernelContext) {
  const { q, k, v, dy, g } = gradOperands(op, inputs, attrs);
  const key = [q.data, k.data, v.data, dy.data, inputs[6]?.data];
  const cache = runCache(ctx);
  const hit = cache.grads;
  if (hit && hit.attrs === attrKey(attrs) && hit.key.every((x, i) => x === key[i])) return hit.grads;
  const { B, S, Sk, H, KV, hd, scale } = g;
  const fwd = forwardOf(cache, q.data, k.data, inputs[6]?.data, attrs);
  const kept = fwd?.kept?.v === v.data ? fwd.kept : undefined;
  const qh = kept?.qh ?? headMajor(q.data, B, S, H, hd), dyh = headMajor(dy.data, B, S, H, hd);
  const kh = kept?.kh ?? headMajor(k.data, B, Sk, KV, hd), vh = kept?.vh ?? headMajor(v.data, B, Sk, KV, hd);
  const dkh = new Float32Array(kh.length), dvh = new Float32Array(vh.length);
  const dq = floatOut(q.shape, ctx);
  const rows = Math.min(ROWS, S);
  const P = kept?.P ?? new Float32Array(rows * Sk), D = new Float32Array(rows * Sk), T = new Float32Array(Math.max(rows, Sk) * hd);
  const lse = fwd?.lse ?? new Float64Array(B * H * S);
  let at = 0;
  forEachBlock(g, ({ b, i0, len, keys, qh: qo, lo, kh: ko, row, first }) => {
    const Qb = view(qh, qo, len, hd), dYb = view(dyh, qo, len, hd), Kb = view(kh, ko, keys, hd), Vb = view(vh, ko, keys, hd);
    const Pb = view(P, at, len, keys), Db = view(D, 0, len, keys);
    if (kept) at += len * keys;
    else {
      gemmF32(len, keys, hd, Qb, hd, 1, Kb, 1, hd, Pb);
      const visible = (t: number) => visibleKeysOf(g, b, i0 + t);
      if (fwd) probabilityRows(Pb, len, keys, visible, scale, lse, lo);
      else softmaxRows(Pb, len, keys, visible, scale, lse, lo);
    }
    gemmF32(len, keys, hd, dYb, hd, 1, Vb, 1, hd, Db);
    scoreGradRows(Pb, Db, len, keys, scale);
    const Tq = view(T, 0, len, hd);
    gemmF32(len, hd, keys, Db, keys, 1, Kb, hd, 1, Tq);
    storeRows(Tq, len, hd, dq.data, row, H * hd);
    // The first block of a kv head writes its dk, dv rows (the ones past its keys stay 0); the
    // others add theirs.
    const dKb = first ? view(dkh, ko, keys, hd) : view(T, 0, keys, hd);
    gemmF32(keys, hd, len, Db, 1, keys, Qb, hd, 1, dKb);
    if (!first) addInto(dKb, keys * hd, dkh, ko);
    const dVb = first ? view(dvh, ko, keys, hd) : view(T, 0, keys, hd);
    gemmF32(keys, hd, len, Pb, 1, keys, dYb, hd, 1, dVb);
    if (!first) addInto(dVb, keys * hd, dvh, ko);
  });
  const dk = floatOut(k.shape, ctx), dv = floatOut(v.shape, ctx);
  rowMajorInto(dkh, dk.data, B, Sk, KV, hd);
  rowMajorInto(dvh, dv.data, B, Sk, KV, hd);
  // The forward's probabilities are spent: the other two gradient ops find these results.
  if (fwd) dropKept(cache, fwd);
  const grads = { q: dq, k: dk, v: dv };
  cache.grads = { key, attrs: attrKey(attrs), grads };
  return grads;
}

// f64 runs go to the reference kernels (see forward.ts).
/** attention_grad_q: dq_i = Σ_j dS_ij · k_j / √hd. */
export const attentionGradQ: KernelOf<'attention_grad_q'> = (inputs, attrs, ctx) =>
  ctx.precision === 'f64' ? refGradQ(inputs, attrs, ctx) : attentionGrads('attention_grad_q', inputs, attrs, ctx).q;

/** attention_grad_k: dk_j = Σ over queries (and heads sharing the kv head) of dS_ij · q_i / √hd. */
export const attentionGradK: KernelOf<'attention_grad_k'> = (inputs, attrs, ctx) =>
  ctx.precision === 'f64' ? refGradK(inputs, attrs, ctx) : attentionGrads('attention_grad_k', inputs, attrs, ctx).k;

/** attention_grad_v: dv_j = Σ over queries (and the heads sharing the kv head) of p_ij · dy_i. */
export const attentionGradV: KernelOf<'attention_grad_v'> = (inputs, attrs, ctx) =>
  ctx.precision === 'f64' ? refGradV(inputs, attrs, ctx) : attentionGrads('attention_grad_v', inputs, attrs, ctx).v;
