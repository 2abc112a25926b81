// The wasm backend's f32 attention kernels (runtime/wasm/attention) against the reference's in
// f64 on the same values: forward, lse and the three gradients across causal and not, prefix
// keys, grouped kv heads, lengths shorter than S, several batch rows, one query, odd head sizes,
// more queries than one block; one GPT-2-small-sized case. Tolerance: |Δ| ≤ TOL·(1 + |ref|).
import { describe, expect, it } from 'vitest';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import type { FloatArray, Tensor } from '../../runtime/cpu/tensor.ts';
import { clearWasmAttentionCache } from '../../runtime/wasm/attention/index.ts';
import { KEEP_VALUES, runCache } from '../../runtime/wasm/attention/cache.ts';
import { ROWS } from '../../runtime/wasm/attention/heads.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { F32, F64 } from '../cpu/helpers.ts';
import { mulberry32 } from '../prng.ts';

interface Case {
  name: string;
  B: number; S: number; H: number; KV: number; hd: number; prefix: number; causal: boolean;
  lengths?: number[];
}

/** f32 arithmetic against f64: sums of up to a few hundred terms of size ~1 each. */
const TOL = 2e-6;

const CASES: Case[] = [
  { name: 'causal, one head', B: 1, S: 5, H: 1, KV: 1, hd: 3, prefix: 0, causal: true },
  { name: 'causal, several heads, batch 2', B: 2, S: 9, H: 4, KV: 4, hd: 8, prefix: 0, causal: true },
  { name: 'causal with a prefix', B: 2, S: 6, H: 2, KV: 2, hd: 5, prefix: 3, causal: true },
  { name: 'grouped kv heads (H = 6, KV = 2) with a prefix', B: 1, S: 7, H: 6, KV: 2, hd: 4, prefix: 2, causal: true },
  { name: 'bidirectional, one kv head', B: 2, S: 6, H: 3, KV: 1, hd: 7, prefix: 0, causal: false },
  { name: 'bidirectional with lengths and a prefix', B: 3, S: 6, H: 2, KV: 2, hd: 6, prefix: 2, causal: false, lengths: [6, 1, 4] },
  { name: 'lengths without a prefix, grouped', B: 2, S: 5, H: 4, KV: 2, hd: 9, prefix: 0, causal: false, lengths: [3, 5] },
  { name: 'lengths given to causal attention (ignored)', B: 2, S: 5, H: 2, KV: 1, hd: 4, prefix: 1, causal: true, lengths: [2, 5] },
  { name: 'one query (T = 1)', B: 2, S: 1, H: 2, KV: 2, hd: 5, prefix: 0, causal: true },
  { name: 'one query with a prefix, bidirectional', B: 1, S: 1, H: 3, KV: 3, hd: 3, prefix: 4, causal: false },
  { name: 'causal, more queries than a block (dk, dv summed over blocks), grouped, prefix', B: 1, S: ROWS + 22, H: 4, KV: 2, hd: 5, prefix: 3, causal: true },
  { name: '131 queries with lengths', B: 2, S: 131, H: 2, KV: 1, hd: 3, prefix: 1, causal: false, lengths: [131, 67] },
];

function random(n: number, seed: number, scale = 1): Float64Array {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => scale * (2 * r() - 1));
}

/** Largest |got − want| / (1 + |want|). */
function relErr(got: Tensor, want: Tensor): number {
  return relErrOf(got.data as FloatArray, want.data as FloatArray);
}

function relErrOf(got: FloatArray, want: FloatArray): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  return worst;
}

const f32 = (t: Tensor): Tensor => ({ shape: t.shape, data: Float32Array.from(t.data) });
const call = (table: typeof KERNELS, op: string, inputs: Tensor[], attrs: object, ctx = F32): Tensor =>
  table[op]!(inputs, attrs as never, ctx);

/** Every op of case c on both backends: the largest relative error of each. */
function compare(c: Case, seed: number, scale = 1) {
  const { B, S, H, KV, hd, prefix, causal } = c;
  const Sk = prefix + S;
  const t = (shape: number[], s: number): Tensor => ({ shape, data: random(shape.reduce((a, b) => a * b), s, scale) });
  // Rounded to f32 first, so both backends see the same values.
  const [q, k, v, dy] = [t([B, S, H * hd], seed), t([B, Sk, KV * hd], seed + 1), t([B, Sk, KV * hd], seed + 2), t([B, S, H * hd], seed + 3)].map((x) => ({ ...x, data: Float64Array.from(Float32Array.from(x.data)) }));
  const len = c.lengths ? [{ shape: [B], data: Int32Array.from(c.lengths) }] : [];
  const attrs = { heads: H, kv_heads: KV, causal, prefix };
  const ref = {
    o: call(KERNELS, 'attention', [q!, k!, v!, ...len], attrs, F64),
    lse: call(KERNELS, 'attention_lse', [q!, k!, ...len], attrs, F64),
  };
  const [q2, k2, v2, dy2] = [q!, k!, v!, dy!].map(f32);
  const ctx = { ...F32 };
  const o = call(WASM_KERNELS, 'attention', [q2!, k2!, v2!, ...len], attrs, ctx);
  const lse = call(WASM_KERNELS, 'attention_lse', [q2!, k2!, ...len], attrs, ctx);
  const gradRef = (op: string) => call(KERNELS, op, [q!, k!, v!, dy!, ref.o, ref.lse, ...len], attrs, F64);
  // In the forward's run (its probabilities reused), in a run whose forward had another v array
  // (its lse reused) and in a run of their own (the softmax taken again).
  const grad = (op: string, run: typeof ctx) => call(WASM_KERNELS, op, [q2!, k2!, v2!, dy2!, o, lse, ...len], attrs, run);
  const own = { ...F32 }, lseRun = { ...F32 };
  call(WASM_KERNELS, 'attention', [q2!, k2!, f32(v2!), ...len], attrs, lseRun);
  expect(o.data).toBeInstanceOf(Float32Array);
  const dk = gradRef('attention_grad_k'), dq = gradRef('attention_grad_q'), dv = gradRef('attention_grad_v');
  return {
    o: relErr(o, ref.o),
    lse: relErr(lse, ref.lse),
    // _k first: each gradient must be right on its own, not only after _q filled the cache.
    dk: relErr(grad('attention_grad_k', ctx), dk),
    dq: relErr(grad('attention_grad_q', ctx), dq),
    dv: relErr(grad('attention_grad_v', ctx), dv),
    'dv (own run)': relErr(grad('attention_grad_v', own), dv),
    'dq (own run)': relErr(grad('attention_grad_q', own), dq),
    'dk (own run)': relErr(grad('attention_grad_k', own), dk),
    'dq (forward lse)': relErr(grad('attention_grad_q', lseRun), dq),
    'dk (forward lse)': relErr(grad('attention_grad_k', lseRun), dk),
    'dv (forward lse)': relErr(grad('attention_grad_v', lseRun), dv),
  };
}

describe('wasm attention kernels against the reference (f64)', () => {
  CASES.forEach((c, n) => {
    it(c.name, () => {
      const err = compare(c, 100 + 17 * n);
      for (const [what, e] of Object.entries(err)) expect(e, what).toBeLessThanOrEqual(TOL);
    });
  });

  // Scaled scores up to ~36 (e^36 would lose the small ones without the max subtraction) and a
  // softmax near one-hot, where p·(dP − Σ p·dP) cancels: the probabilities must sum to 1 with the
  // backward's own f32 scores (an f32-rounded lse gave relative errors of 3e-5 here).
  it('large scores', () => {
    const err = compare({ name: 'large', B: 1, S: 6, H: 2, KV: 1, hd: 4, prefix: 1, causal: true }, 7, 6);
    for (const [what, e] of Object.entries(err)) expect(e, what).toBeLessThanOrEqual(TOL);
  });

  it('GPT-2 small: 12 heads × 64, 128 causal queries', () => {
    const err = compare({ name: 'gpt2s', B: 1, S: 128, H: 12, KV: 12, hd: 64, prefix: 0, causal: true }, 5, 0.5);
    for (const [what, e] of Object.entries(err)) expect(e, what).toBeLessThanOrEqual(TOL);
  });
});

describe('wasm attention kernels: runs, f64 and bad operands', () => {
  const B = 2, S = 5, H = 2, KV = 1, hd = 3, prefix = 1, Sk = prefix + S;
  const attrs = { heads: H, kv_heads: KV, causal: true, prefix };
  const f32t = (shape: number[], seed: number): Tensor => ({ shape, data: Float32Array.from(random(shape.reduce((a, b) => a * b), seed)) });
  const operands = () => {
    const q = f32t([B, S, H * hd], 1), k = f32t([B, Sk, KV * hd], 2), v = f32t([B, Sk, KV * hd], 3), dy = f32t([B, S, H * hd], 4);
    return { q, k, v, dy };
  };

  it('the three gradients are computed once per run (the context) and forgotten with it', () => {
    const { q, k, v, dy } = operands();
    const ctx = { ...F32 };
    const o = call(WASM_KERNELS, 'attention', [q, k, v], attrs, ctx);
    const lse = call(WASM_KERNELS, 'attention_lse', [q, k], attrs, ctx);
    const grads = [q, k, v, dy, o, lse];
    const dq = call(WASM_KERNELS, 'attention_grad_q', grads, attrs, ctx);
    const before = Float32Array.from(call(WASM_KERNELS, 'attention_grad_k', grads, attrs, ctx).data);
    (q.data as Float32Array).reverse();
    // Same run: the gradients _q computed (q is the same array).
    expect(call(WASM_KERNELS, 'attention_grad_k', grads, attrs, ctx).data).toEqual(before);
    expect(call(WASM_KERNELS, 'attention_grad_q', grads, attrs, ctx)).toBe(dq);
    // Another run computes them from q as it is now.
    expect(call(WASM_KERNELS, 'attention_grad_k', grads, attrs, { ...F32 }).data).not.toEqual(before);
    clearWasmAttentionCache();
    expect(call(WASM_KERNELS, 'attention_grad_k', grads, attrs, ctx).data).not.toEqual(before);
  });

  it("attention_lse returns the forward's rows only for the same q, k, lengths and attributes in the same run", () => {
    const { q, k, v } = operands();
    const ctx = { ...F32 };
    call(WASM_KERNELS, 'attention', [q, k, v], attrs, ctx);
    const own = (a = attrs, kk = k) => call(KERNELS, 'attention_lse', [q, kk].map(f32), a, F32).data;
    const lse = call(WASM_KERNELS, 'attention_lse', [q, k], attrs, ctx).data;
    expect(relErrOf(lse as FloatArray, own() as FloatArray)).toBeLessThanOrEqual(TOL);
    // Other keys or other attributes: its own rows.
    const k2 = f32t([B, Sk, KV * hd], 9);
    expect(relErrOf(call(WASM_KERNELS, 'attention_lse', [q, k2], attrs, ctx).data as FloatArray, own(attrs, k2) as FloatArray)).toBeLessThanOrEqual(TOL);
    const bi = { ...attrs, causal: false };
    expect(relErrOf(call(WASM_KERNELS, 'attention_lse', [q, k], bi, ctx).data as FloatArray, own(bi) as FloatArray)).toBeLessThanOrEqual(TOL);
    // q changed in place: the same run still returns the forward's rows, another run its own.
    (q.data as Float32Array).reverse();
    expect(call(WASM_KERNELS, 'attention_lse', [q, k], attrs, ctx).data).toEqual(lse);
    expect(relErrOf(call(WASM_KERNELS, 'attention_lse', [q, k], attrs, { ...F32 }).data as FloatArray, own() as FloatArray)).toBeLessThanOrEqual(TOL);
  });

  it("the forward's probabilities are kept for its gradients, within a bound, and dropped by them", () => {
    const { q, k, v, dy } = operands();
    const ctx = { ...F32 };
    const o = call(WASM_KERNELS, 'attention', [q, k, v], attrs, ctx);
    const fwd = runCache(ctx).forward.get(q.data as Float32Array)!;
    expect(fwd.kept?.P.length).toBe(B * H * S * Sk); // one block per head: S ≤ ROWS queries, all Sk keys
    const lse = call(WASM_KERNELS, 'attention_lse', [q, k], attrs, ctx);
    call(WASM_KERNELS, 'attention_grad_v', [q, k, v, dy, o, lse], attrs, ctx);
    expect(fwd.kept).toBeUndefined();
    expect(fwd.lse.length).toBe(B * H * S);
    expect(runCache(ctx).held).toBe(0);
    // A run holds at most KEEP_VALUES: past them a forward keeps its lse only, until gradients
    // drop what an earlier one kept.
    const run = { ...F32 };
    const cache = runCache(run);
    const held = (qx: Tensor) => cache.forward.get(qx.data as Float32Array)!.kept !== undefined;
    call(WASM_KERNELS, 'attention', [q, k, v], attrs, run);
    expect(held(q)).toBe(true);
    cache.held = KEEP_VALUES - 10;
    const q2 = f32t([B, S, H * hd], 11);
    call(WASM_KERNELS, 'attention', [q2, k, v], attrs, run);
    expect(held(q2)).toBe(false);
    cache.held = 10 + (B * S * H * hd + 2 * B * Sk * KV * hd + B * H * S * Sk);
    call(WASM_KERNELS, 'attention_grad_q', [q, k, v, dy, o, lse], attrs, run);
    expect(held(q)).toBe(false);
    expect(cache.held).toBe(10);
    // The same q again replaces what its first forward kept; an evaluation run keeps nothing.
    cache.held = 0;
    call(WASM_KERNELS, 'attention', [q, k, v], attrs, run);
    call(WASM_KERNELS, 'attention', [q, k, v], attrs, run);
    expect(cache.held).toBe(B * S * H * hd + 2 * B * Sk * KV * hd + B * H * S * Sk);
    const evaluation = { ...F32, training: false };
    call(WASM_KERNELS, 'attention', [q, k, v], attrs, evaluation);
    expect(runCache(evaluation).forward.get(q.data as Float32Array)?.kept).toBeUndefined();
  });

  it('empty and degenerate sizes: no queries, no batch rows, heads of width 0 (NaN lse, as the reference)', () => {
    for (const [b, s, h, d, p] of [[1, 3, 2, 0, 0], [1, 0, 2, 3, 0], [0, 3, 2, 3, 0], [1, 0, 2, 3, 2]] as const) {
      const t = (shape: number[]): Tensor => ({ shape, data: new Float32Array(shape.reduce((x, y) => x * y, 1)).fill(0.5) });
      const qx = t([b, s, h * d]), kx = t([b, p + s, h * d]), vx = t([b, p + s, h * d]);
      const a = { heads: h, kv_heads: h, causal: true, prefix: p };
      const ops = (table: typeof KERNELS) => {
        const ctx = { ...F32 };
        const o = call(table, 'attention', [qx, kx, vx], a, ctx), lse = call(table, 'attention_lse', [qx, kx], a, ctx);
        const g = ['attention_grad_q', 'attention_grad_k', 'attention_grad_v'].map((op) => call(table, op, [qx, kx, vx, t(qx.shape), o, lse], a, ctx));
        return [o, lse, ...g].map((x) => ({ shape: x.shape, data: Array.from(x.data) }));
      };
      expect(ops(WASM_KERNELS), `${[b, s, h, d, p]}`).toEqual(ops(KERNELS));
    }
  });

  it('f64 runs are the reference kernels, bit for bit', () => {
    const { q, k, v, dy } = operands();
    const [q6, k6, v6, dy6] = [q, k, v, dy].map((t) => ({ shape: t.shape, data: Float64Array.from(t.data) }));
    const both = (op: string, inputs: Tensor[]) => [call(WASM_KERNELS, op, inputs, attrs, { ...F64 }).data, call(KERNELS, op, inputs, attrs, { ...F64 }).data];
    const [o, oRef] = both('attention', [q6!, k6!, v6!]);
    expect(o).toEqual(oRef);
    expect(o).toBeInstanceOf(Float64Array);
    const [lse, lseRef] = both('attention_lse', [q6!, k6!]);
    expect(lse).toEqual(lseRef);
    const g = [q6!, k6!, v6!, dy6!, { shape: q.shape, data: o! }, { shape: [B, H, S], data: lse! }];
    for (const op of ['attention_grad_q', 'attention_grad_k', 'attention_grad_v']) {
      const [got, want] = both(op, g);
      expect(got, op).toEqual(want);
    }
  });

  it('bad operands fail with the reference\'s one-line messages', () => {
    const { q, k, v, dy } = operands();
    const o = { shape: q.shape, data: new Float32Array(q.data.length) };
    const lse = { shape: [B, H, S], data: new Float32Array(B * H * S) };
    const bad: [string, Tensor[], object][] = [
      ['attention', [q, { ...k, shape: [B, S, KV * hd], data: new Float32Array(B * S * KV * hd) }, v], attrs],
      ['attention', [q, k, v], { ...attrs, heads: 4 }],
      ['attention', [q, k, v, { shape: [B], data: Int32Array.from([5, 6]) }], { ...attrs, causal: false }],
      ['attention', [q, k, v, { shape: [3], data: Int32Array.from([5, 5, 5]) }], { ...attrs, causal: false }],
      ['attention_lse', [{ ...q, shape: [B * S, H * hd] }, k], attrs],
      ['attention_grad_q', [q, k, v, dy, o, { ...lse, shape: [B, S, H] }], attrs],
      ['attention_grad_k', [q, k, v, { ...dy, shape: [B, S * H, hd] }, o, lse], attrs],
      ['attention_grad_v', [q, k, v, dy, { ...o, shape: [S, B, H * hd] }, lse], attrs],
    ];
    for (const [op, inputs, a] of bad) {
      const message = (table: typeof KERNELS): string => {
        try {
          call(table, op, inputs, a, { ...F32 });
        } catch (e) {
          expect((e as Error).name).toBe('KernelError');
          return (e as Error).message;
        }
        return 'no error';
      };
      const want = message(KERNELS);
      expect(want).toMatch(new RegExp(`^${op}: `));
      expect(message(WASM_KERNELS), op).toBe(want);
    }
  });
});
