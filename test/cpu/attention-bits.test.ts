// The CPU attention kernels (runtime/cpu/kernels/attention.ts) are the reference every other
// backend is compared with, so a faster formulation must give the same bits: each output element
// the same f64 operations in the same order. This file holds that order written plainly (one
// query row at a time: scores summed over the head dimension in order, scaled, the max, exps and
// their sum in key order, normalised; outputs and gradients accumulated in key order, dk and dv
// over (head, query) in order) and checks the kernels against it with Object.is on every element:
// forward, lse and the three gradients; causal, prefix, grouped KV heads, lengths; f32 and f64.
import { describe, expect, it } from 'vitest';
import { clearAttentionCache } from '../../runtime/cpu/kernels/attention.ts';
import type { FloatArray, Tensor } from '../../runtime/cpu/tensor.ts';
import { F32, F64, run } from './helpers.ts';
import { mulberry32 } from '../prng.ts';

interface Case {
  name: string;
  B: number; S: number; H: number; KV: number; hd: number; prefix: number; causal: boolean;
  lengths?: number[];
}

/** The plain per-row order: returns o, lse, dq, dk, dv (f64, before rounding). */
function reference(c: Case, q: FloatArray, k: FloatArray, v: FloatArray, dy: FloatArray) {
  const { B, S, H, KV, hd, prefix, causal } = c;
  const Sk = prefix + S, scale = 1 / Math.sqrt(hd);
  const o = new Float64Array(q.length), lse = new Float64Array(B * H * S);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) {
    const kvh = Math.floor((h * KV) / H);
    const n = causal ? prefix + i + 1 : c.lengths ? prefix + c.lengths[b]! : Sk;
    const qo = (b * S + i) * H * hd + h * hd;
    const ko = (j: number) => (b * Sk + j) * KV * hd + kvh * hd;
    const p: number[] = [];
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let x = 0; x < hd; x++) s += q[qo + x]! * k[ko(j) + x]!;
      s *= scale;
      p.push(s);
      if (s > max) max = s;
    }
    let sum = 0;
    for (let j = 0; j < n; j++) { p[j] = Math.exp(p[j]! - max); sum += p[j]!; }
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) p[j] = p[j]! * inv;
    lse[(b * H + h) * S + i] = max + Math.log(sum);
    for (let x = 0; x < hd; x++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += p[j]! * v[ko(j) + x]!;
      o[qo + x] = acc;
    }
    const ds: number[] = [];
    let dot = 0;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let x = 0; x < hd; x++) s += dy[qo + x]! * v[ko(j) + x]!;
      ds.push(s);
      dot += p[j]! * s;
    }
    for (let j = 0; j < n; j++) ds[j] = p[j]! * (ds[j]! - dot) * scale;
    for (let j = 0; j < n; j++) for (let x = 0; x < hd; x++) {
      dq[qo + x] += ds[j]! * k[ko(j) + x]!;
      dk[ko(j) + x] += ds[j]! * q[qo + x]!;
      dv[ko(j) + x] += p[j]! * dy[qo + x]!;
    }
  }
  return { o, lse, dq, dk, dv };
}

const CASES: Case[] = [
  { name: 'causal, one head', B: 1, S: 5, H: 1, KV: 1, hd: 3, prefix: 0, causal: true },
  { name: 'causal, GPT-2-like heads', B: 2, S: 9, H: 4, KV: 4, hd: 8, prefix: 0, causal: true },
  { name: 'causal with a prefix', B: 2, S: 6, H: 2, KV: 2, hd: 5, prefix: 3, causal: true },
  { name: 'grouped kv heads (H = 6, KV = 2)', B: 1, S: 7, H: 6, KV: 2, hd: 4, prefix: 2, causal: true },
  { name: 'bidirectional', B: 2, S: 6, H: 3, KV: 1, hd: 7, prefix: 0, causal: false },
  { name: 'bidirectional with lengths and a prefix', B: 3, S: 6, H: 2, KV: 2, hd: 6, prefix: 2, causal: false, lengths: [6, 1, 4] },
  { name: 'lengths without a prefix, grouped', B: 2, S: 5, H: 4, KV: 2, hd: 9, prefix: 0, causal: false, lengths: [3, 5] },
  // More queries than the gradients' block of 64 rows: dk / dv carried from one block to the next.
  { name: 'causal, 70 queries, grouped, prefix', B: 1, S: 70, H: 4, KV: 2, hd: 5, prefix: 3, causal: true },
  { name: '131 queries with lengths', B: 2, S: 131, H: 2, KV: 1, hd: 3, prefix: 1, causal: false, lengths: [131, 67] },
];

function random(n: number, seed: number, f64: boolean, scale = 2): FloatArray {
  const r = mulberry32(seed);
  const x = f64 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = scale * (2 * r() - 1);
  return x;
}

/** The first element where the kernel's output is not the reference's rounded one, or -1. */
function firstDifference(got: Tensor, want: Float64Array, f64: boolean): number {
  const rounded = f64 ? want : Float32Array.from(want);
  return Array.from(got.data).findIndex((x, i) => !Object.is(x, rounded[i]));
}

describe('CPU attention kernels are bit-identical to the plain per-row order', () => {
  for (const c of CASES) {
    for (const f64 of [false, true]) {
      it(`${c.name} (${f64 ? 'f64' : 'f32'})`, () => {
        const { B, S, H, KV, hd, prefix, causal } = c;
        const Sk = prefix + S, seed = B * 1000 + S * 100 + H * 10 + hd;
        const q = random(B * S * H * hd, seed, f64), k = random(B * Sk * KV * hd, seed + 1, f64);
        const v = random(B * Sk * KV * hd, seed + 2, f64), dy = random(B * S * H * hd, seed + 3, f64);
        const ref = reference(c, q, k, v, dy);
        const qT = { shape: [B, S, H * hd], data: q }, kT = { shape: [B, Sk, KV * hd], data: k }, vT = { shape: [B, Sk, KV * hd], data: v };
        const lenT = c.lengths ? [{ shape: [B], data: Int32Array.from(c.lengths) }] : [];
        const attrs = { heads: H, kv_heads: KV, causal, prefix };
        const ctx = f64 ? F64 : F32;
        const o = run('attention', [qT, kT, vT, ...lenT], attrs, ctx);
        expect(firstDifference(o, ref.o, f64), 'attention').toBe(-1);
        // attention_lse after the forward returns the forward's numbers; after a clear, its own.
        const lse = run('attention_lse', [qT, kT, ...lenT], attrs, ctx);
        expect(firstDifference(lse, ref.lse, f64), 'attention_lse (the forward\'s)').toBe(-1);
        clearAttentionCache();
        expect(firstDifference(run('attention_lse', [qT, kT, ...lenT], attrs, ctx), ref.lse, f64), 'attention_lse').toBe(-1);
        const gradIn = [qT, kT, vT, { shape: [B, S, H * hd], data: dy }, o, lse, ...lenT];
        clearAttentionCache();
        // _k and _v first: each must be right on its own, not only after _q filled the cache.
        expect(firstDifference(run('attention_grad_k', gradIn, attrs, ctx), ref.dk, f64), 'attention_grad_k').toBe(-1);
        clearAttentionCache();
        expect(firstDifference(run('attention_grad_v', gradIn, attrs, ctx), ref.dv, f64), 'attention_grad_v').toBe(-1);
        expect(firstDifference(run('attention_grad_q', gradIn, attrs, ctx), ref.dq, f64), 'attention_grad_q').toBe(-1);
      });
    }
  }

  it('attention_lse with other keys than the forward had computes its own', () => {
    const c: Case = { name: 'other keys', B: 1, S: 4, H: 2, KV: 2, hd: 3, prefix: 0, causal: true };
    const q = random(4 * 6, 21, true), k1 = random(4 * 6, 22, true), k2 = random(4 * 6, 23, true), v = random(4 * 6, 24, true);
    const attrs = { heads: 2, kv_heads: 2, causal: true, prefix: 0 };
    const qT = { shape: [1, 4, 6], data: q };
    clearAttentionCache();
    run('attention', [qT, { shape: [1, 4, 6], data: k1 }, { shape: [1, 4, 6], data: v }], attrs, F64);
    const lse = run('attention_lse', [qT, { shape: [1, 4, 6], data: k2 }], attrs, F64);
    expect(firstDifference(lse, reference(c, q, k2, v, v).lse, true)).toBe(-1);
    const causalOff = run('attention_lse', [qT, { shape: [1, 4, 6], data: k1 }], { ...attrs, causal: false }, F64);
    expect(firstDifference(causalOff, reference({ ...c, causal: false }, q, k1, v, v).lse, true)).toBe(-1);
  });

  // Large scores: the max subtraction matters (exp would overflow without it), and ties and
  // −∞-free masks keep the same max in the same order.
  it('large and tied scores', () => {
    const c: Case = { name: 'large', B: 1, S: 6, H: 2, KV: 1, hd: 4, prefix: 1, causal: true };
    const Sk = 7;
    const q = random(6 * 8, 11, true, 40), k = random(Sk * 4, 12, true, 40), v = random(Sk * 4, 13, true), dy = random(6 * 8, 14, true);
    k.copyWithin(8, 0, 4); // keys 0 and 2 equal: tied scores
    const ref = reference(c, q, k, v, dy);
    const attrs = { heads: 2, kv_heads: 1, causal: true, prefix: 1 };
    const qT = { shape: [1, 6, 8], data: q }, kT = { shape: [1, Sk, 4], data: k }, vT = { shape: [1, Sk, 4], data: v };
    const o = run('attention', [qT, kT, vT], attrs, F64);
    expect(firstDifference(o, ref.o, true)).toBe(-1);
    const lse = run('attention_lse', [qT, kT], attrs, F64);
    expect(firstDifference(lse, ref.lse, true)).toBe(-1);
    clearAttentionCache();
    const dq = run('attention_grad_q', [qT, kT, vT, { shape: [1, 6, 8], data: dy }, o, lse], attrs, F64);
    expect(firstDifference(dq, ref.dq, true)).toBe(-1);
  });
});
