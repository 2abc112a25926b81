// Scaled dot-product attention with causal + prefix masking and grouped KV heads, and its
// three gradients. Each gradient recomputes the softmax row by row (clarity over speed).
//
// The shapes, the kv head of each query head and the keys each query sees (causal, prefix,
// lengths) are compiler/ir/attention-geometry.ts', shared with the WGSL kernels.
import { attentionGeometry, badLength, kvHeadOf, lengthsMask, lseShape, visibleKeys, type AttentionGeometry } from '../../../compiler/ir/attention-geometry.ts';
import type { KernelAttrs } from '../../../compiler/ir/ops.ts';
import { formatDims } from '../tensor.ts';
import { fail, floatIn, floatOut, intIn, type FloatArray, type FloatTensor, type Kernel, type KernelContext, type KernelOf } from './common.ts';

/** The attributes of attention and of its backward's ops (one schema). */
type AttentionAttrs = KernelAttrs<'attention'>;

/** The shared geometry, with the 1/√hd score scale and the lengths that mask keys. */
interface Geometry extends AttentionGeometry {
  scale: number;
  /** Real positions per row (non-causal attention with a lengths operand), else undefined. */
  lengths?: Int32Array;
}

// The geometry's checks stay: it is the attention's shape contract, which the catalog's rule
// does not repeat (q, k, v and heads agree; prefix + S keys).
function geometry(op: string, q: FloatTensor, k: FloatTensor, v: FloatTensor, a: AttentionAttrs): Geometry {
  const g = attentionGeometry(q.shape, [['k', k.shape], ['v', v.shape]], a, (message) => fail(op, message));
  return { ...g, scale: 1 / Math.sqrt(g.hd) };
}

/** Number of visible keys for query i of row b: keys 0 … n−1 are visible, the rest masked. */
const visibleKeysOf = (g: Geometry, b: number, i: number): number => visibleKeys(g, i, g.lengths?.[b]);

/** The optional lengths operand at `index`: i32 [B], each in 0 … S with at least one visible key. */
function lengthsIn(op: string, inputs: Parameters<Kernel>[0], index: number, g: Geometry): Int32Array | undefined {
  if (!inputs[index]) return undefined;
  const len = intIn(op, inputs, index, 'lengths');
  const t = inputs[index]!;
  if (t.shape.length !== 1 || t.shape[0] !== g.B) fail(op, `lengths must be [${g.B}], got ${formatDims(t.shape)}`);
  for (const n of len) {
    const bad = badLength(g, n);
    if (bad) fail(op, bad);
  }
  return lengthsMask(g, true) ? len : undefined;
}

/**
 * Visits every (batch, head, query) with the softmax row p[0 … n−1] over the visible keys.
 * `qo` is the offset of the query vector in q (and in dy / the output); `ko(j)` = kBase + j·kStride
 * gives key j's vector offset in k and v; `row` = (b·H + h)·S + i indexes lse, the row's log Σ_j e^(s_j).
 */
function forEachRow(
  g: Geometry, q: FloatArray, k: FloatArray,
  visit: (p: Float64Array, n: number, qo: number, kBase: number, kStride: number, row: number, lse: number) => void,
): void {
  const { B, S, Sk, H, KV, hd, scale } = g;
  const qStride = H * hd;
  const kStride = KV * hd;
  const p = new Float64Array(Sk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = kvHeadOf(g, h);
      const kBase = b * Sk * kStride + kvh * hd;
      for (let i = 0; i < S; i++) {
        const qo = (b * S + i) * qStride + h * hd;
        const n = visibleKeysOf(g, b, i);
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          const ko = kBase + j * kStride;
          let s = 0;
          for (let c = 0; c < hd; c++) s += q[qo + c]! * k[ko + c]!;
          s *= scale;
          p[j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j < n; j++) {
          const e = Math.exp(p[j]! - max);
          p[j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let j = 0; j < n; j++) p[j] *= inv;
        visit(p, n, qo, kBase, kStride, (b * H + h) * S + i, max + Math.log(sum));
      }
    }
  }
}

const sameDims = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * The operands of attention (q, k, v, lengths?) or of a gradient (q, k, v, dy, o, lse, lengths?).
 * The gradients check o's and lse's shapes but recompute the softmax from q and k: this is the
 * reference the GPU kernels, which do use them, are compared with.
 */
function operands(op: string, inputs: Parameters<Kernel>[0], attrs: AttentionAttrs, withDy: boolean) {
  const q = floatIn(op, inputs, 0, 'q');
  const k = floatIn(op, inputs, 1, 'k');
  const v = floatIn(op, inputs, 2, 'v');
  const g = geometry(op, q, k, v, attrs);
  let dy: FloatTensor | undefined;
  if (withDy) {
    dy = floatIn(op, inputs, 3, 'dy');
    if (!sameDims(dy.shape, q.shape)) fail(op, `dy ${formatDims(dy.shape)} must match q ${formatDims(q.shape)}`);
    const o = floatIn(op, inputs, 4, 'o');
    if (!sameDims(o.shape, q.shape)) fail(op, `o ${formatDims(o.shape)} must match q ${formatDims(q.shape)}`);
    const lse = floatIn(op, inputs, 5, 'lse');
    if (!sameDims(lse.shape, lseShape(g))) fail(op, `lse must be ${formatDims(lseShape(g))}, got ${formatDims(lse.shape)}`);
  }
  const lengths = lengthsIn(op, inputs, withDy ? 6 : 3, g);
  if (lengths) g.lengths = lengths;
  return { q, k, v, g, dy };
}

/** attention_lse: lse[b,h,i] = log Σ_j exp(q_i·k_j/√hd) over the visible keys j. */
export const attentionLse: KernelOf<'attention_lse'> = (inputs, attrs, ctx) => {
  const op = 'attention_lse';
  const q = floatIn(op, inputs, 0, 'q');
  const k = floatIn(op, inputs, 1, 'k');
  const g = geometry(op, q, k, k, attrs);
  const lengths = lengthsIn(op, inputs, 2, g);
  if (lengths) g.lengths = lengths;
  const out = floatOut(lseShape(g), ctx);
  forEachRow(g, q.data, k.data, (_p, _n, _qo, _kBase, _kStride, row, lse) => (out.data[row] = lse));
  return out;
};

/** attention: out_i = Σ_j softmax_j(q_i·k_j/√hd) v_j over visible keys j. */
export const attention: KernelOf<'attention'> = (inputs, attrs, ctx) => {
  const { q, k, v, g } = operands('attention', inputs, attrs, false);
  const hd = g.hd;
  const acc = new Float64Array(hd);
  const out = floatOut(q.shape, ctx);
  const o = out.data, vd = v.data;
  forEachRow(g, q.data, k.data, (p, n, qo, kBase, kStride) => {
    acc.fill(0);
    for (let j = 0; j < n; j++) {
      const pj = p[j]!;
      const vo = kBase + j * kStride;
      for (let c = 0; c < hd; c++) acc[c] += pj * vd[vo + c]!;
    }
    for (let c = 0; c < hd; c++) o[qo + c] = acc[c]!;
  });
  return out;
};

/**
 * The softmax backward of one row: dS_j = p_j·(dP_j − Σ_l p_l·dP_l) with dP_j = dy_i·v_j,
 * written into ds[0 … n−1] (already multiplied by the 1/√hd score scale).
 */
function scoreGrads(
  p: Float64Array, n: number, dy: FloatArray, qo: number, v: FloatArray, kBase: number, kStride: number,
  hd: number, scale: number, ds: Float64Array,
): void {
  let dot = 0;
  for (let j = 0; j < n; j++) {
    const vo = kBase + j * kStride;
    let s = 0;
    for (let c = 0; c < hd; c++) s += dy[qo + c]! * v[vo + c]!;
    ds[j] = s;
    dot += p[j]! * s;
  }
  for (let j = 0; j < n; j++) ds[j] = p[j]! * (ds[j]! - dot) * scale;
}

/**
 * All three attention gradients in one pass over the softmax rows. The executor runs
 * attention_grad_q, _k and _v as separate nodes with the same operands; the last result is
 * remembered (keyed by the operand arrays themselves), so the rows are computed once, not
 * three times. Each result is still exactly what its own kernel would return.
 */
interface GradCache {
  key: unknown[];
  attrs: string;
  precision: string;
  grads: { q: FloatTensor; k: FloatTensor; v: FloatTensor };
}
let lastGrads: GradCache | undefined;

/** Forgets the remembered gradients (the executor calls it before each run). */
export function clearAttentionCache(): void {
  lastGrads = undefined;
}

function attentionGrads(op: string, inputs: Parameters<Kernel>[0], attrs: AttentionAttrs, ctx: KernelContext) {
  const { q, k, v, g, dy } = operands(op, inputs, attrs, true);
  const key = [q.data, k.data, v.data, dy!.data, inputs[6]?.data];
  const attrKey = JSON.stringify(attrs);
  const hit = lastGrads;
  if (hit && hit.attrs === attrKey && hit.precision === ctx.precision && hit.key.every((x, i) => x === key[i])) return hit.grads;
  const ds = new Float64Array(g.Sk);
  const qd = q.data, kd = k.data, dyd = dy!.data;
  const dq = new Float64Array(qd.length);
  const dk = new Float64Array(kd.length);
  const dv = new Float64Array(v.data.length);
  forEachRow(g, qd, kd, (p, n, qo, kBase, kStride) => {
    scoreGrads(p, n, dyd, qo, v.data, kBase, kStride, g.hd, g.scale, ds);
    for (let j = 0; j < n; j++) {
      const d = ds[j]!;
      const pj = p[j]!;
      const ko = kBase + j * kStride;
      for (let c = 0; c < g.hd; c++) {
        dq[qo + c] += d * kd[ko + c]!;
        dk[ko + c] += d * qd[qo + c]!;
        dv[ko + c] += pj * dyd[qo + c]!;
      }
    }
  });
  const round = (like: FloatTensor, acc: Float64Array) => {
    const out = floatOut(like.shape, ctx);
    out.data.set(acc);
    return out;
  };
  const grads = { q: round(q, dq), k: round(k, dk), v: round(v, dv) };
  lastGrads = { key, attrs: attrKey, precision: ctx.precision, grads };
  return grads;
}

/** attention_grad_q: dq_i = Σ_j dS_ij · k_j / √hd. */
export const attentionGradQ: KernelOf<'attention_grad_q'> = (inputs, attrs, ctx) => attentionGrads('attention_grad_q', inputs, attrs, ctx).q;

/** attention_grad_k: dk_j = Σ over queries (and heads sharing the kv head) of dS_ij · q_i / √hd. */
export const attentionGradK: KernelOf<'attention_grad_k'> = (inputs, attrs, ctx) => attentionGrads('attention_grad_k', inputs, attrs, ctx).k;

/** attention_grad_v: dv_j = Σ over queries (and the heads sharing the kv head) of p_ij · dy_i. */
export const attentionGradV: KernelOf<'attention_grad_v'> = (inputs, attrs, ctx) => attentionGrads('attention_grad_v', inputs, attrs, ctx).v;
