// attention_grad_q, _k and _v on the wasm backend, computed together by whichever runs first
// and remembered for the other two (cache.ts), as the reference does. Per block of a head's
// queries: the probabilities from the scores Q·Kᵀ, dP = dY·Vᵀ, the score gradients (softmax.ts),
// then dQ = dS·K (each query row once), dK += dSᵀ·Q and dV += Pᵀ·dY (summed over the blocks and
// the heads that share the kv head): five products of gemmF32 on strided views.
// The probabilities use the forward's f64 lse where this run's attention computed it on the same
// q, k and lengths (one exp per score, no max or sum pass); otherwise the softmax is taken
// again. The lse operand is not used for them: rounded to f32 it is off from the recomputed
// f32 scores by up to |lse|·2⁻²⁴, which with large scores (a softmax near one-hot) shows in
// p·(dP − Σ p·dP) as relative errors ~1e-5. o is checked but not read: Σ_j p_j·dP_j is taken
// from the block's rows, where it costs one multiply-add per score.
import { attentionGradK as refGradK, attentionGradQ as refGradQ, attentionGradV as refGradV } from '../../cpu/kernels/attention.ts';
import { floatOut, type Kernel, type KernelContext, type KernelOf } from '../../cpu/kernels/common.ts';
import { gemmF32 } from '../gemm.ts';
import { runCache } from './cache.ts';
import { attrKey, forwardLseOf } from './forward.ts';
import { addRows, at, forEachBlock, ROWS, storeRows } from './heads.ts';
import { gradOperands, visibleKeysOf, type AttentionAttrs } from './operands.ts';
import { probabilityRows, scoreGradRows, softmaxRows } from './softmax.ts';

function attentionGrads(op: string, inputs: Parameters<Kernel>[0], attrs: AttentionAttrs, ctx: KernelContext) {
  const { q, k, v, dy, g } = gradOperands(op, inputs, attrs);
  const key = [q.data, k.data, v.data, dy.data, inputs[6]?.data];
  const cache = runCache(ctx);
  const hit = cache.grads;
  if (hit && hit.attrs === attrKey(attrs) && hit.key.every((x, i) => x === key[i])) return hit.grads;
  const { S, Sk, H, KV, hd, scale } = g;
  const dq = floatOut(q.shape, ctx), dk = floatOut(k.shape, ctx), dv = floatOut(v.shape, ctx);
  const rows = Math.min(ROWS, S);
  const P = new Float32Array(rows * Sk), D = new Float32Array(rows * Sk);
  const T = new Float32Array(Math.max(rows, Sk) * hd);
  const known = forwardLseOf(cache, q.data, k.data, inputs[6]?.data, attrs);
  const lse = known ?? new Float64Array(g.B * H * S);
  forEachBlock(g, ({ b, h, i0, len, keys, qOff, kOff }) => {
    const qv = at(q.data, qOff), dyv = at(dy.data, qOff), kv = at(k.data, kOff), vv = at(v.data, kOff);
    gemmF32(len, keys, hd, qv, H * hd, 1, kv, 1, KV * hd, P);
    gemmF32(len, keys, hd, dyv, H * hd, 1, vv, 1, KV * hd, D);
    const visible = (t: number) => visibleKeysOf(g, b, i0 + t), lo = (b * H + h) * S + i0;
    if (known) probabilityRows(P, len, keys, visible, scale, lse, lo);
    else softmaxRows(P, len, keys, visible, scale, lse, lo);
    scoreGradRows(P, D, len, keys, scale);
    gemmF32(len, hd, keys, D, keys, 1, kv, KV * hd, 1, T);
    storeRows(T, len, hd, dq.data, qOff, H * hd);
    gemmF32(keys, hd, len, D, 1, keys, qv, H * hd, 1, T);
    addRows(T, keys, hd, dk.data, kOff, KV * hd);
    gemmF32(keys, hd, len, P, 1, keys, dyv, H * hd, 1, T);
    addRows(T, keys, hd, dv.data, kOff, KV * hd);
  });
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
