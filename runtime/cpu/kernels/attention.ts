// Scaled dot-product attention with causal + prefix masking and grouped KV heads, and its
// three gradients. Each gradient recomputes the softmax row by row.
//
// This is the reference the other backends are compared with, so speed may only come from
// doing the same f64 operations in the same order for each output element: the operands are
// copied once into head-major Float64Arrays (exact; one element type for the loops, and a head's
// vectors side by side); the dot products q·k and dy·v of a block of up to 64 query rows are one
// gemm (linear.ts: each sum from 0 over the head dimension in order, as the plain loop); outputs
// and dq take four keys per pass, ((((acc + p₀v₀) + p₁v₁) + p₂v₂) + p₃v₃), the same additions
// in the same order as one key at a time; dk and dv take four query rows per pass the same way,
// rows in order. The results are rounded once into the operands' layout.
// test/cpu/attention-bits.test.ts checks every output bit against the plain per-row order.
//
// The operands and their checks are attention-operands.ts' (shared with the wasm backend's
// kernels); the shapes, the kv head of each query head and the keys each query sees (causal,
// prefix, lengths) are compiler/ir/attention-geometry.ts', shared with the WGSL kernels.
import { kvHeadOf, lseShape } from '../../../compiler/ir/attention-geometry.ts';
import { forwardOperands, gradOperands, lseOperands, visibleKeysOf, type AttentionAttrs, type Geometry } from './attention-operands.ts';
import { gemm } from './linear.ts';
import { floatOut, type FloatArray, type FloatTensor, type Kernel, type KernelContext, type KernelOf } from './common.ts';

/**
 * x [B, T, heads·hd] as f64 values in head-major order [B, heads, T, hd] (widening is exact): the
 * loops then read one element type, and a head's vectors lie together instead of a whole row of
 * heads apart (keys hd·heads·8 bytes apart fall into a few L1 sets and evict each other).
 */
function headMajor(x: FloatArray, B: number, T: number, heads: number, hd: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0, o = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < T; t++, o += hd) {
        const src = ((b * T + t) * heads + h) * hd;
        for (let c = 0; c < hd; c++) out[o + c] = x[src + c]!;
      }
    }
  }
  return out;
}

/** A head-major [B, heads, T, hd] result into a tensor shaped like x [B, T, heads·hd], rounded once. */
function rowMajor(x: Float64Array, like: FloatTensor, B: number, T: number, heads: number, hd: number, ctx: KernelContext): FloatTensor {
  const out = floatOut(like.shape, ctx);
  const d = out.data;
  for (let b = 0, o = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < T; t++, o += hd) {
        const dst = ((b * T + t) * heads + h) * hd;
        for (let c = 0; c < hd; c++) d[dst + c] = x[o + c]!;
      }
    }
  }
  return out;
}

/**
 * out[j] = (Σ_c x[xo + c] · y[yBase + j·yStride + c]) · scale for j < n, each sum from 0 over
 * c = 0 … hd−1 in order: four keys per pass, each its own sum.
 */
function rowDots(
  x: Float64Array, xo: number, y: Float64Array, yBase: number, yStride: number, n: number, hd: number,
  scale: number, out: Float64Array,
): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const y0 = yBase + j * yStride, y1 = y0 + yStride, y2 = y1 + yStride, y3 = y2 + yStride;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let c = 0; c < hd; c++) {
      const a = x[xo + c]!;
      s0 += a * y[y0 + c]!;
      s1 += a * y[y1 + c]!;
      s2 += a * y[y2 + c]!;
      s3 += a * y[y3 + c]!;
    }
    out[j] = s0 * scale; out[j + 1] = s1 * scale; out[j + 2] = s2 * scale; out[j + 3] = s3 * scale;
  }
  for (; j < n; j++) {
    const yo = yBase + j * yStride;
    let s = 0;
    for (let c = 0; c < hd; c++) s += x[xo + c]! * y[yo + c]!;
    out[j] = s * scale;
  }
}

/**
 * The softmax row of the query vector q[qo …] over keys 0 … n−1 (key j at kBase + j·kStride)
 * into p[0 … n−1] (left unnormalised when `normalize` is false); returns log Σ_j e^(s_j).
 */
function softmaxRow(
  g: Geometry, q: Float64Array, qo: number, k: Float64Array, kBase: number, kStride: number, n: number,
  p: Float64Array, normalize: boolean,
): number {
  rowDots(q, qo, k, kBase, kStride, n, g.hd, 1, p);
  return softmaxInPlace(p, 0, n, g.scale, normalize);
}

/**
 * p[po + j] = softmax_j(scale · p[po + j]) for j < n, from the row's raw dot products (left
 * unnormalised when `normalize` is false); returns log Σ_j e^(s_j).
 */
function softmaxInPlace(p: Float64Array, po: number, n: number, scale: number, normalize: boolean): number {
  let max = -Infinity;
  for (let j = po; j < po + n; j++) {
    const s = p[j]! * scale;
    p[j] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let j = po; j < po + n; j++) {
    const e = Math.exp(p[j]! - max);
    p[j] = e;
    sum += e;
  }
  if (normalize) {
    const inv = 1 / sum;
    for (let j = po; j < po + n; j++) p[j] *= inv;
  }
  return max + Math.log(sum);
}

/**
 * out[t·keys + j] = Σ_c x[xo0 + t·hd + c] · y[yBase + j·hd + c] for t < len, j < keys: the raw
 * dot products of a block of consecutive query rows with the keys (or dy with v), by the gemm,
 * which sums each from 0 over c in order as rowDots does (its f64 result plus 0 is the same
 * number: a sum from +0 is never −0).
 */
function blockDots(x: Float64Array, xo0: number, y: Float64Array, yBase: number, len: number, keys: number, hd: number, out: Float64Array): void {
  gemm(len, keys, hd, x.subarray(xo0, xo0 + len * hd), hd, 1, y.subarray(yBase, yBase + keys * hd), 1, hd, out);
}

/**
 * acc[ao + c] += Σ_j w[wo + j] · y[yBase + j·yStride + c] for c < hd, adding j = 0 … n−1 in order
 * onto the sums so far: four keys per pass, added one after the other.
 */
function accumulateRows(
  w: Float64Array, wo: number, n: number, y: Float64Array, yBase: number, yStride: number, hd: number,
  acc: Float64Array, ao: number,
): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const y0 = yBase + j * yStride, y1 = y0 + yStride, y2 = y1 + yStride, y3 = y2 + yStride;
    const w0 = w[wo + j]!, w1 = w[wo + j + 1]!, w2 = w[wo + j + 2]!, w3 = w[wo + j + 3]!;
    for (let c = 0; c < hd; c++) acc[ao + c] = acc[ao + c]! + w0 * y[y0 + c]! + w1 * y[y1 + c]! + w2 * y[y2 + c]! + w3 * y[y3 + c]!;
  }
  for (; j < n; j++) {
    const yo = yBase + j * yStride;
    const wj = w[wo + j]!;
    for (let c = 0; c < hd; c++) acc[ao + c] += wj * y[yo + c]!;
  }
}

/**
 * Where each query row's vectors are in the head-major copies, row r = (b·H + h)·S + i (its lse
 * index; rows in this order are the order dk and dv accumulate in): qo[r], the query's offset in
 * q (and dy, o); kBase[r], key 0's offset in k and v (key j at kBase + j·hd); n[r], its visible keys.
 */
interface RowTable {
  qo: Int32Array;
  kBase: Int32Array;
  n: Int32Array;
}

function rowTable(g: Geometry): RowTable {
  const { B, S, Sk, H, KV, hd } = g;
  const t: RowTable = { qo: new Int32Array(B * H * S), kBase: new Int32Array(B * H * S), n: new Int32Array(B * H * S) };
  for (let b = 0, r = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kBase = (b * KV + kvHeadOf(g, h)) * Sk * hd;
      for (let i = 0; i < S; i++, r++) {
        t.qo[r] = r * hd;
        t.kBase[r] = kBase;
        t.n[r] = visibleKeysOf(g, b, i);
      }
    }
  }
  return t;
}

/** q, k, v (and dy) of an attention op in head-major f64. */
function headMajorOperands(g: Geometry, q: FloatArray, k: FloatArray, v?: FloatArray, dy?: FloatArray) {
  const { B, S, Sk, H, KV, hd } = g;
  return {
    qd: headMajor(q, B, S, H, hd),
    kd: headMajor(k, B, Sk, KV, hd),
    vd: v ? headMajor(v, B, Sk, KV, hd) : new Float64Array(0),
    dyd: dy ? headMajor(dy, B, S, H, hd) : new Float64Array(0),
  };
}

/**
 * The softmax rows' log-sum-exps the forward computed, by its q operand's array: attention_lse
 * (emitted for the backward with the forward's q, k and lengths) returns them instead of
 * recomputing the same numbers. Forgotten with the arrays, and at each run (clearAttentionCache).
 */
interface ForwardLse {
  k: FloatArray;
  lengths: unknown;
  attrs: string;
  lse: Float64Array;
}
let forwardLse = new WeakMap<FloatArray, ForwardLse>();

/** attention_lse: lse[b,h,i] = log Σ_j exp(q_i·k_j/√hd) over the visible keys j. */
export const attentionLse: KernelOf<'attention_lse'> = (inputs, attrs, ctx) => {
  const op = 'attention_lse';
  const { q, k, g } = lseOperands(op, inputs, attrs);
  const out = floatOut(lseShape(g), ctx);
  const seen = forwardLse.get(q.data);
  if (seen && seen.k === k.data && seen.lengths === inputs[2]?.data && seen.attrs === JSON.stringify(attrs)) {
    out.data.set(seen.lse);
    return out;
  }
  const o = out.data;
  const { qd, kd } = headMajorOperands(g, q.data, k.data);
  const p = new Float64Array(g.Sk);
  const { qo, kBase, n } = rowTable(g);
  for (let r = 0; r < qo.length; r++) o[r] = softmaxRow(g, qd, qo[r]!, kd, kBase[r]!, g.hd, n[r]!, p, false);
  return out;
};

/** attention: out_i = Σ_j softmax_j(q_i·k_j/√hd) v_j over visible keys j. */
export const attention: KernelOf<'attention'> = (inputs, attrs, ctx) => {
  const { q, k, v, g } = forwardOperands('attention', inputs, attrs);
  const { B, S, Sk, H, hd } = g;
  const { qd, kd, vd } = headMajorOperands(g, q.data, k.data, v.data);
  const acc = new Float64Array(q.data.length);
  const rows = rowTable(g);
  const lse = new Float64Array(rows.qo.length);
  const block = Math.min(ROWS, S);
  const P = new Float64Array(block * Sk);
  for (let head = 0; head < B * H; head++) {
    for (let i0 = 0; i0 < S; i0 += block) {
      const len = Math.min(block, S - i0);
      const r0 = head * S + i0;
      const kBase = rows.kBase[r0]!;
      const keys = rows.n[r0 + len - 1]!;
      blockDots(qd, rows.qo[r0]!, kd, kBase, len, keys, hd, P);
      for (let t = 0; t < len; t++) {
        const n = rows.n[r0 + t]!;
        lse[r0 + t] = softmaxInPlace(P, t * keys, n, g.scale, true);
        accumulateRows(P, t * keys, n, vd, kBase, hd, hd, acc, rows.qo[r0 + t]!);
      }
    }
  }
  forwardLse.set(q.data, { k: k.data, lengths: inputs[3]?.data, attrs: JSON.stringify(attrs), lse });
  return rowMajor(acc, q, B, S, H, hd, ctx);
};

/**
 * The softmax backward of one row: dS_j = p_j·(dP_j − Σ_l p_l·dP_l) with dP_j = dy_i·v_j given
 * in ds[o + j], overwritten with dS_j (already multiplied by the 1/√hd score scale).
 */
function scoreGrads(p: Float64Array, ds: Float64Array, o: number, n: number, scale: number): void {
  let dot = 0;
  for (let j = o; j < o + n; j++) dot += p[j]! * ds[j]!;
  for (let j = o; j < o + n; j++) ds[j] = p[j]! * (ds[j]! - dot) * scale;
}

/** Query rows whose softmax and score-gradient rows are kept for the dk / dv pass (ROWS·Sk f64 each). */
const ROWS = 64;

/**
 * dk_j += Σ_t dS_tj · q_t and dv_j += Σ_t p_tj · dy_t over the rows t = 0 … len−1 of a block
 * (consecutive queries of one head, query t's vector at qo0 + t·hd, its rows at ds / p + t·Sk)
 * that see key j, added in row order: the same terms in the same order as row after row, but
 * each key's sums stay in registers and L1 over four rows at a time. Visible keys never shrink
 * from one query to the next (causal: prefix + i + 1; otherwise fixed), so the rows that see key j
 * are the block's last ones, from the first t with n[t] > j.
 */
function addKeyGrads(
  ds: Float64Array, p: Float64Array, Sk: number, n: Int32Array, r0: number, len: number,
  q: Float64Array, dy: Float64Array, qo0: number, kBase: number, hd: number, dk: Float64Array, dv: Float64Array,
): void {
  const keys = n[r0 + len - 1]!;
  let t0 = 0;
  for (let j = 0; j < keys; j++) {
    while (n[r0 + t0]! <= j) t0++;
    const ko = kBase + j * hd;
    addColumn(ds, Sk, j, t0, len, q, qo0, hd, dk, ko);
    addColumn(p, Sk, j, t0, len, dy, qo0, hd, dv, ko);
  }
}

/** acc[ko + c] += Σ_{t = t0 … len−1} w[t·Sk + j] · x[qo0 + t·hd + c], t in order, four rows per pass. */
function addColumn(w: Float64Array, Sk: number, j: number, t0: number, len: number, x: Float64Array, qo0: number, hd: number, acc: Float64Array, ko: number): void {
  let t = t0;
  for (; t + 4 <= len; t += 4) {
    const w0 = w[t * Sk + j]!, w1 = w[(t + 1) * Sk + j]!, w2 = w[(t + 2) * Sk + j]!, w3 = w[(t + 3) * Sk + j]!;
    const x0 = qo0 + t * hd, x1 = x0 + hd, x2 = x1 + hd, x3 = x2 + hd;
    for (let c = 0; c < hd; c++) acc[ko + c] = acc[ko + c]! + w0 * x[x0 + c]! + w1 * x[x1 + c]! + w2 * x[x2 + c]! + w3 * x[x3 + c]!;
  }
  for (; t < len; t++) {
    const wt = w[t * Sk + j]!;
    const xo = qo0 + t * hd;
    for (let c = 0; c < hd; c++) acc[ko + c] += wt * x[xo + c]!;
  }
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

/** Forgets the remembered gradients and log-sum-exps (the executor calls it before each run). */
export function clearAttentionCache(): void {
  lastGrads = undefined;
  forwardLse = new WeakMap();
}

function attentionGrads(op: string, inputs: Parameters<Kernel>[0], attrs: AttentionAttrs, ctx: KernelContext) {
  const { q, k, v, g, dy } = gradOperands(op, inputs, attrs);
  const key = [q.data, k.data, v.data, dy!.data, inputs[6]?.data];
  const attrKey = JSON.stringify(attrs);
  const hit = lastGrads;
  if (hit && hit.attrs === attrKey && hit.precision === ctx.precision && hit.key.every((x, i) => x === key[i])) return hit.grads;
  const { B, S, Sk, H, KV, hd } = g;
  const { qd, kd, vd, dyd } = headMajorOperands(g, q.data, k.data, v.data, dy!.data);
  const dq = new Float64Array(qd.length);
  const dk = new Float64Array(kd.length);
  const dv = new Float64Array(vd.length);
  const rows = rowTable(g);
  // The softmax and score-gradient rows of up to ROWS queries of one head, then their dk, dv terms.
  const block = Math.min(ROWS, S);
  const P = new Float64Array(block * Sk), DS = new Float64Array(block * Sk);
  for (let head = 0; head < B * H; head++) {
    for (let i0 = 0; i0 < S; i0 += block) {
      const len = Math.min(block, S - i0);
      const r0 = head * S + i0;
      const kBase = rows.kBase[r0]!, qo0 = rows.qo[r0]!;
      const keys = rows.n[r0 + len - 1]!;
      blockDots(qd, qo0, kd, kBase, len, keys, hd, P);
      blockDots(dyd, qo0, vd, kBase, len, keys, hd, DS);
      for (let t = 0; t < len; t++) {
        const n = rows.n[r0 + t]!;
        softmaxInPlace(P, t * keys, n, g.scale, true);
        scoreGrads(P, DS, t * keys, n, g.scale);
        // dq_i is this row's own sum over j.
        accumulateRows(DS, t * keys, n, kd, kBase, hd, hd, dq, rows.qo[r0 + t]!);
      }
      // dk_j and dv_j: one more term per row, rows in order (heads sharing a kv head, too).
      addKeyGrads(DS, P, keys, rows.n, r0, len, qd, dyd, qo0, kBase, hd, dk, dv);
    }
  }
  const grads = { q: rowMajor(dq, q, B, S, H, hd, ctx), k: rowMajor(dk, k, B, Sk, KV, hd, ctx), v: rowMajor(dv, v, B, Sk, KV, hd, ctx) };
  lastGrads = { key, attrs: attrKey, precision: ctx.precision, grads };
  return grads;
}

/** attention_grad_q: dq_i = Σ_j dS_ij · k_j / √hd. */
export const attentionGradQ: KernelOf<'attention_grad_q'> = (inputs, attrs, ctx) => attentionGrads('attention_grad_q', inputs, attrs, ctx).q;

/** attention_grad_k: dk_j = Σ over queries (and heads sharing the kv head) of dS_ij · q_i / √hd. */
export const attentionGradK: KernelOf<'attention_grad_k'> = (inputs, attrs, ctx) => attentionGrads('attention_grad_k', inputs, attrs, ctx).k;

/** attention_grad_v: dv_j = Σ over queries (and the heads sharing the kv head) of p_ij · dy_i. */
export const attentionGradV: KernelOf<'attention_grad_v'> = (inputs, attrs, ctx) => attentionGrads('attention_grad_v', inputs, attrs, ctx).v;
