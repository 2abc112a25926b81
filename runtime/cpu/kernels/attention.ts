// Scaled dot-product attention with causal + prefix masking and grouped KV heads, and its
// three gradients. Each gradient recomputes the softmax row by row.
//
// This is the reference the other backends are compared with, so speed may only come from
// doing the same f64 operations in the same order for each output element: the operands are
// widened to Float64Array once (exact), so the loops read one element type; scores and dy·v are
// summed four keys at a time (four independent sums, each over the head dimension in order);
// outputs and dq take four keys per pass, ((((acc + p₀v₀) + p₁v₁) + p₂v₂) + p₃v₃), the same
// additions in the same order as one key at a time. test/cpu/attention-bits.test.ts checks every
// output bit against the plain per-row order.
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

/** x as f64 values (a copy for f32: widening is exact, and the loops then see one array type). */
const wide = (x: FloatArray): Float64Array => (x instanceof Float64Array ? x : new Float64Array(x));

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
  rowDots(q, qo, k, kBase, kStride, n, g.hd, g.scale, p);
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (p[j]! > max) max = p[j]!;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const e = Math.exp(p[j]! - max);
    p[j] = e;
    sum += e;
  }
  if (normalize) {
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) p[j] *= inv;
  }
  return max + Math.log(sum);
}

/**
 * acc[ao + c] += Σ_j w[j] · y[yBase + j·yStride + c] for c < hd, adding j = 0 … n−1 in order
 * onto the sums so far: four keys per pass, added one after the other.
 */
function accumulateRows(
  w: Float64Array, n: number, y: Float64Array, yBase: number, yStride: number, hd: number,
  acc: Float64Array, ao: number,
): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const y0 = yBase + j * yStride, y1 = y0 + yStride, y2 = y1 + yStride, y3 = y2 + yStride;
    const w0 = w[j]!, w1 = w[j + 1]!, w2 = w[j + 2]!, w3 = w[j + 3]!;
    for (let c = 0; c < hd; c++) acc[ao + c] = acc[ao + c]! + w0 * y[y0 + c]! + w1 * y[y1 + c]! + w2 * y[y2 + c]! + w3 * y[y3 + c]!;
  }
  for (; j < n; j++) {
    const yo = yBase + j * yStride;
    const wj = w[j]!;
    for (let c = 0; c < hd; c++) acc[ao + c] += wj * y[yo + c]!;
  }
}

/**
 * Where each query row's vectors are, row r = (b·H + h)·S + i (its lse index; rows in this
 * order are the order dk and dv accumulate in): qo[r], the query's offset in q (and dy, o);
 * kBase[r], key 0's offset in k and v (key j at kBase + j·kStride); n[r], its visible keys.
 */
interface RowTable {
  qo: Int32Array;
  kBase: Int32Array;
  n: Int32Array;
  kStride: number;
}

function rowTable(g: Geometry): RowTable {
  const { B, S, Sk, H, KV, hd } = g;
  const qStride = H * hd;
  const kStride = KV * hd;
  const t: RowTable = { qo: new Int32Array(B * H * S), kBase: new Int32Array(B * H * S), n: new Int32Array(B * H * S), kStride };
  for (let b = 0, r = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kBase = b * Sk * kStride + kvHeadOf(g, h) * hd;
      for (let i = 0; i < S; i++, r++) {
        t.qo[r] = (b * S + i) * qStride + h * hd;
        t.kBase[r] = kBase;
        t.n[r] = visibleKeysOf(g, b, i);
      }
    }
  }
  return t;
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
  const o = out.data, qd = wide(q.data), kd = wide(k.data);
  const p = new Float64Array(g.Sk);
  const { qo, kBase, n, kStride } = rowTable(g);
  for (let r = 0; r < qo.length; r++) o[r] = softmaxRow(g, qd, qo[r]!, kd, kBase[r]!, kStride, n[r]!, p, false);
  return out;
};

/** attention: out_i = Σ_j softmax_j(q_i·k_j/√hd) v_j over visible keys j. */
export const attention: KernelOf<'attention'> = (inputs, attrs, ctx) => {
  const { q, k, v, g } = operands('attention', inputs, attrs, false);
  const qd = wide(q.data), kd = wide(k.data), vd = wide(v.data);
  const p = new Float64Array(g.Sk);
  const acc = new Float64Array(q.data.length);
  const { qo, kBase, n, kStride } = rowTable(g);
  for (let r = 0; r < qo.length; r++) {
    softmaxRow(g, qd, qo[r]!, kd, kBase[r]!, kStride, n[r]!, p, true);
    accumulateRows(p, n[r]!, vd, kBase[r]!, kStride, g.hd, acc, qo[r]!);
  }
  const out = floatOut(q.shape, ctx);
  out.data.set(acc);
  return out;
};

/**
 * The softmax backward of one row: dS_j = p_j·(dP_j − Σ_l p_l·dP_l) with dP_j = dy_i·v_j,
 * written into ds[0 … n−1] (already multiplied by the 1/√hd score scale).
 */
function scoreGrads(
  p: Float64Array, n: number, dy: Float64Array, qo: number, v: Float64Array, kBase: number, kStride: number,
  hd: number, scale: number, ds: Float64Array,
): void {
  rowDots(dy, qo, v, kBase, kStride, n, hd, 1, ds);
  let dot = 0;
  for (let j = 0; j < n; j++) dot += p[j]! * ds[j]!;
  for (let j = 0; j < n; j++) ds[j] = p[j]! * (ds[j]! - dot) * scale;
}

/** One query row's terms of dk_j (dS_j · q_i) and dv_j (p_j · dy_i), for its visible keys j. */
function addKeyGrads(
  ds: Float64Array, p: Float64Array, n: number, q: Float64Array, dy: Float64Array, qo: number,
  kBase: number, kStride: number, hd: number, dk: Float64Array, dv: Float64Array,
): void {
  for (let j = 0; j < n; j++) {
    const d = ds[j]!;
    const pj = p[j]!;
    const ko = kBase + j * kStride;
    for (let c = 0; c < hd; c++) {
      dk[ko + c] += d * q[qo + c]!;
      dv[ko + c] += pj * dy[qo + c]!;
    }
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
  const p = new Float64Array(g.Sk);
  const qd = wide(q.data), kd = wide(k.data), vd = wide(v.data), dyd = wide(dy!.data);
  const hd = g.hd;
  const dq = new Float64Array(qd.length);
  const dk = new Float64Array(kd.length);
  const dv = new Float64Array(vd.length);
  const rows = rowTable(g);
  const kStride = rows.kStride;
  for (let r = 0; r < rows.qo.length; r++) {
    const qo = rows.qo[r]!, kBase = rows.kBase[r]!, n = rows.n[r]!;
    softmaxRow(g, qd, qo, kd, kBase, kStride, n, p, true);
    scoreGrads(p, n, dyd, qo, vd, kBase, kStride, hd, g.scale, ds);
    // dq_i is this row's own sum over j; dk_j and dv_j get one more term per row, in row order.
    accumulateRows(ds, n, kd, kBase, kStride, hd, dq, qo);
    addKeyGrads(ds, p, n, qd, dyd, qo, kBase, kStride, hd, dk, dv);
  }
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
