// CPU kernels of the decoding ops (compiler/decode/ops.ts), bound to one cache. kv_attention
// follows the reference attention kernel (runtime/cpu/kernels/attention.ts): scores and softmax in
// f64, and the same geometry (compiler/ir/attention-geometry.ts: visible keys, kv heads).
import { atPast, cacheGeometry, kvHeadOf, visibleKeys } from '../../compiler/ir/attention-geometry.ts';
import type { DecodeOp, KernelAttrs } from '../../compiler/ir/ops.ts';
import { fail, floatIn, floatOut, intIn, type Kernel, type KernelContext } from '../cpu/kernels/common.ts';
import type { FloatTensor, Tensor } from '../cpu/tensor.ts';
import { KERNELS } from '../cpu/kernels/index.ts';
import type { KvCache } from './kv-cache.ts';

/** A decoding op's kernel, reading the attributes its schema gives (compiler/decode/ops.ts). */
type DecodeKernelOf<K extends DecodeOp> = (inputs: Tensor[], attrs: KernelAttrs<K>, ctx: KernelContext) => Tensor;

/**
 * The kernels of the decoding ops over `cache` (batch row b reads and extends cache row rows[b],
 * an input), with `linear` for the products of a few rows.
 */
export function decodeKernels(cache: KvCache, linear: Kernel): Record<string, Kernel> {
  const typed: { [K in DecodeOp]: DecodeKernelOf<K> } = {
    kv_attention: (inputs, attrs, ctx) => kvAttention(cache, inputs, attrs, ctx),
    decode_positions: (inputs, { offset }) => {
      const past = intIn('decode_positions', inputs, 1, 'past');
      const [B, S] = inputs[0]!.shape as [number, number];
      const data = new Int32Array(B * S);
      for (let b = 0; b < B; b++) for (let i = 0; i < S; i++) data[b * S + i] = offset + past[b]! + i;
      return { shape: [B, S], data };
    },
    decode_rope: (inputs, attrs, ctx) => {
      const x = floatIn('decode_rope', inputs, 0, 'x');
      const past = intIn('decode_rope', inputs, 1, 'past');
      const [B, S, D] = x.shape as [number, number, number];
      const offset = attrs.offset ?? 0;
      const out = floatOut(x.shape, ctx);
      for (let b = 0; b < B; b++) {
        const row = { shape: [1, S, D], data: x.data.subarray(b * S * D, (b + 1) * S * D) };
        out.data.set(KERNELS.rope!([row], { ...attrs, offset: offset + past[b]! }, ctx).data as Float32Array, b * S * D);
      }
      return out;
    },
  };
  // The executor looks kernels up by op name with the node's attributes; the decoding graphs
  // verify against the catalog's schemas (test/decode/graph-verify.test.ts), so each kernel
  // reads its attributes typed, as the reference kernels do (runtime/cpu/kernels/index.ts).
  return { linear, ...(typed as unknown as Record<DecodeOp, Kernel>) };
}

/** kv_attention's operands, checked against each other and the cache geometry. */
export function kvOperands(inputs: Tensor[], attrs: KernelAttrs<'kv_attention'>) {
  const op = 'kv_attention';
  const q = floatIn(op, inputs, 0, 'q');
  const k = floatIn(op, inputs, 1, 'k');
  const v = floatIn(op, inputs, 2, 'v');
  const past = intIn(op, inputs, 3, 'past');
  const rows = intIn(op, inputs, 4, 'rows');
  const { prefix: P, heads, kv_heads } = attrs;
  const geo = cacheGeometry(q.shape, [['k', k.shape], ['v', v.shape]], { heads, kv_heads, prefix: P }, (m) => fail(op, m));
  if (rows.length !== geo.B) fail(op, `${rows.length} cache rows for a batch of ${geo.B}`);
  const pk = inputs[5] ? floatIn(op, inputs, 5, 'prefix_k') : undefined;
  const pv = inputs[6] ? floatIn(op, inputs, 6, 'prefix_v') : undefined;
  return { q, k, v, past, rows, pk, pv, geo, qd: geo.H * geo.hd, kvd: geo.KV * geo.hd, layer: attrs.layer };
}

export type KvOperands = ReturnType<typeof kvOperands>;

/**
 * Writes batch row b's new keys and values into its cache row (and, at its start, the prefix's
 * before them); returns the row's arrays and its geometry (atPast: the visible keys of its queries).
 */
export function kvAppend(cache: KvCache, o: KvOperands, b: number) {
  const { geo, kvd, past, layer } = o;
  const P = geo.prefix, S = geo.S;
  const row = atPast(geo, past[b]!);
  const r = o.rows[b]!;
  if (past[b] === 0 && P > 0) {
    if (!o.pk || !o.pv) fail('kv_attention', `row ${b} starts without its ${P} prefix keys and values`);
    cache.write(r, layer, 0, o.pk.data, o.pv.data, P);
  }
  const chunk = (x: FloatTensor) => x.data.subarray(b * S * kvd, (b + 1) * S * kvd);
  return { ...cache.write(r, layer, row.prefix, chunk(o.k), chunk(o.v), S), row };
}

const kvAttention = (cache: KvCache, inputs: Tensor[], attrs: KernelAttrs<'kv_attention'>, ctx: KernelContext): Tensor => {
  const o = kvOperands(inputs, attrs);
  const { q, past, geo, qd } = o;
  const { B, S, H, hd } = geo;
  const out = floatOut(q.shape, ctx);
  const scale = 1 / Math.sqrt(hd);
  const p = new Float64Array(geo.prefix + past.reduce((a, n) => Math.max(a, n), 0) + S);
  const acc = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    const { k: ck, v: cv, capacity, row } = kvAppend(cache, o, b);
    for (let h = 0; h < H; h++) {
      // head-major cache: key j of this head at base + j·hd
      const base = kvHeadOf(row, h) * capacity * hd;
      for (let i = 0; i < S; i++) {
        const qo = (b * S + i) * qd + h * hd;
        const n = visibleKeys(row, i);
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          const ko = base + j * hd;
          let s = 0;
          for (let c = 0; c < hd; c++) s += q.data[qo + c]! * ck[ko + c]!;
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
        acc.fill(0);
        for (let j = 0; j < n; j++) {
          const pj = p[j]! * inv;
          const vo = base + j * hd;
          for (let c = 0; c < hd; c++) acc[c] += pj * cv[vo + c]!;
        }
        for (let c = 0; c < hd; c++) out.data[qo + c] = acc[c]!;
      }
    }
  }
  return out;
};
