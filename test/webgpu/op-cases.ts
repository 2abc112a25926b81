// The cases of the WGSL op-kernel tests (op-suite.ts): for every op of the catalog, several
// shapes (odd sizes, vec4-friendly sizes, prefix > 0, grouped kv heads, causal and
// bidirectional, both linear layouts, with and without bias and gamma), seeded random inputs,
// and the tolerance of the comparison with the CPU reference (runtime/cpu/kernels).
//
// A case passes when every element satisfies |gpu − cpu| ≤ abs · m + rel · |cpu|, where the
// CPU reference runs in float64 on the same float32 inputs and m is the case's magnitude:
//   'one'   m = 1;
//   'max'   m = max(1, max |cpu|) over the whole output;
//   'terms' m = Σ_k |x_k·w_k| + |b| + 1 per element (linear: the reference on |x|, |w|, |b|).
// `mask` (dropout): in addition, zero and non-zero outputs must coincide exactly.
import type { Attrs } from '../../compiler/ir/types.ts';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { numel, type Tensor } from '../../runtime/cpu/tensor.ts';

export interface Tolerance {
  abs: number;
  rel: number;
  magnitude: 'one' | 'max' | 'terms';
  mask?: boolean;
}

export interface OpCase {
  /** Op family (the kernels/ file): selects cases for variant runs. */
  family: string;
  op: string;
  name: string;
  attrs: Attrs;
  /** Operands in the op's order; shape-only operands are still passed (the CPU needs them). */
  inputs: (rng: Random) => Tensor[];
  tol: Tolerance;
  /** The training step (dropout). */
  step?: number;
  /**
   * Seconds per kernel on SwiftShader (a long sequence or a 128-wide head). A heavy case runs in
   * its op's own test; the variant passes (fused, hardware-generated, tiny limits) skip it,
   * since the lighter cases of the same op exercise those code paths.
   */
  heavy?: boolean;
  /** The one adapter a case is about (a limit only that adapter has); absent: both. */
  only?: 'swiftshader' | 'llvmpipe';
}

// ------------------------------------------------------------------ input generators

type Gen = (rng: Random) => Tensor;

/** Uniform f32 values in [lo, hi), plus `shift`. */
const u =
  (shape: number[], lo = -1, hi = 1, shift = 0): Gen =>
  (rng) => {
    const data = new Float32Array(numel(shape));
    for (let i = 0; i < data.length; i++) data[i] = rng.uniform(lo, hi) + shift;
    return { shape, data };
  };

/** i32 values in [0, n); with `ignore`, about a quarter of them are that value instead. */
const ints =
  (shape: number[], n: number, ignore?: number): Gen =>
  (rng) => {
    const data = new Int32Array(numel(shape));
    for (let i = 0; i < data.length; i++) data[i] = ignore !== undefined && rng.next() < 0.25 ? ignore : rng.int(n);
    return { shape, data };
  };

/** A tensor whose values do not matter (a shape-only operand). */
const like = (shape: number[], dtype: 'f32' | 'i32' = 'f32'): Gen => () => ({
  shape,
  data: dtype === 'i32' ? new Int32Array(numel(shape)) : new Float32Array(numel(shape)),
});

/** Fixed i32 values. */
const fixed = (shape: number[], values: number[]): Gen => () => ({ shape, data: Int32Array.from(values) });

const all =
  (...gens: Gen[]) =>
  (rng: Random): Tensor[] =>
    gens.map((g) => g(rng));

const fmtShape = (s: number[]): string => `[${s.join(',')}]`;

// ------------------------------------------------------------------ tolerances (see docs/webgpu-kernels.md)

export const TOL = {
  /** add, mul, scale: one f32 rounding (scale's factor is rounded to f32 too). */
  exactish: { abs: 0, rel: 2.5e-7, magnitude: 'one' },
  /** Data movement and lookups: bit-exact. */
  exact: { abs: 0, rel: 0, magnitude: 'one' },
  /** Activations and their gradients: WGSL exp/tanh are a few ulps off, tanh absolutely near 0. */
  activation: { abs: 1e-6, rel: 4e-6, magnitude: 'one' },
  /** Row statistics and sums over rows. */
  norm: { abs: 1e-5, rel: 0, magnitude: 'max' },
  attention: { abs: 1e-5, rel: 0, magnitude: 'max' },
  rope: { abs: 1e-6, rel: 0, magnitude: 'max' },
  sum: { abs: 2e-6, rel: 0, magnitude: 'max' },
  // f32 sums of ~70,000 terms in another order: about u·√K·Σ|x| apart (measured 1.1e-8·Σ|x|)
  longSum: { abs: 1e-7, rel: 0, magnitude: 'terms' },
  dropout: { abs: 0, rel: 2.5e-7, magnitude: 'one', mask: true },
  crossEntropy: { abs: 2e-6, rel: 0, magnitude: 'max' },
} satisfies Record<string, Tolerance>;

/** The matmul tolerance of gpu-suite.ts: 1e-6·√K + 2e-6, relative to Σ|terms| + 1. */
export const linearTolerance = (K: number): Tolerance => ({ abs: 1e-6 * Math.sqrt(K) + 2e-6, rel: 0, magnitude: 'terms' });

// ------------------------------------------------------------------ cases

const cases: OpCase[] = [];
const add = (c: OpCase): void => void cases.push(c);

// elementwise
for (const op of ['add', 'mul']) {
  const pairs: [number[], number[]][] = [
    [[2, 3, 5], [3, 5]],
    [[4, 8], [4, 8]],
    [[2, 3, 8], [8]],
    [[7], []],
    [[2, 8], []],
    [[5], [2, 5]],
    [[], [3, 4]],
  ];
  for (const [a, b] of pairs) {
    add({ family: 'elementwise', op, name: `${fmtShape(a)} ${op} ${fmtShape(b)}`, attrs: {}, inputs: all(u(a, -2, 2), u(b, -2, 2)), tol: TOL.exactish });
  }
}
for (const [shape, factor] of [[[3, 7], 0.3], [[4, 16], -1.7], [[1], 1e-3]] as const) {
  add({ family: 'elementwise', op: 'scale', name: `${fmtShape([...shape])} × ${factor}`, attrs: { factor }, inputs: all(u([...shape])), tol: TOL.exactish });
}
for (const op of ['gelu', 'gelu_erf', 'relu', 'silu', 'tanh']) {
  for (const [shape, lo, hi] of [[[3, 7], -3, 3], [[2, 64], -8, 8], [[5, 4], -60, 60]] as [number[], number, number][]) {
    add({ family: 'elementwise', op, name: `${fmtShape(shape)} in [${lo}, ${hi}]`, attrs: {}, inputs: all(u(shape, lo, hi)), tol: TOL.activation });
    add({ family: 'elementwise', op: `${op}_grad`, name: `${fmtShape(shape)} in [${lo}, ${hi}]`, attrs: {}, inputs: all(u(shape, lo, hi), u(shape)), tol: TOL.activation });
  }
}

// norms
const NORM_SHAPES: [number[], number][] = [
  [[5, 7], 0],
  [[2, 3, 16], 3],
  [[4, 33], -2],
  [[3, 768], 0.5],
];
// DoRA's reciprocal weight norms: rows shorter and longer than the unrolled step, and a layer's size.
for (const shape of [[5, 3], [4, 33], [96, 32]]) add({ family: 'norm', op: 'inv_row_norm', name: fmtShape(shape), attrs: {}, inputs: all(u(shape, -1, 1)), tol: TOL.norm });
for (const [shape, shift] of NORM_SHAPES) {
  const D = shape[shape.length - 1]!;
  const x = u(shape, -1, 1, shift);
  const n = fmtShape(shape);
  const eps = 1e-5;
  add({ family: 'norm', op: 'layernorm', name: `${n} no gamma`, attrs: { eps }, inputs: all(x), tol: TOL.norm });
  add({ family: 'norm', op: 'layernorm', name: `${n} gamma`, attrs: { eps }, inputs: all(x, u([D], 0.5, 1.5)), tol: TOL.norm });
  add({ family: 'norm', op: 'layernorm', name: `${n} gamma beta`, attrs: { eps }, inputs: all(x, u([D], 0.5, 1.5), u([D])), tol: TOL.norm });
  add({ family: 'norm', op: 'layernorm_grad_x', name: `${n} no gamma`, attrs: { eps }, inputs: all(x, u(shape)), tol: TOL.norm });
  add({ family: 'norm', op: 'layernorm_grad_x', name: `${n} gamma`, attrs: { eps }, inputs: all(x, u(shape), u([D], 0.5, 1.5)), tol: TOL.norm });
  add({ family: 'norm', op: 'layernorm_grad_gamma', name: n, attrs: { eps }, inputs: all(x, u(shape)), tol: TOL.norm });
  add({ family: 'norm', op: 'rmsnorm', name: n, attrs: { eps: 1e-6 }, inputs: all(x, u([D], 0.5, 1.5)), tol: TOL.norm });
  add({ family: 'norm', op: 'rmsnorm_grad_x', name: n, attrs: { eps: 1e-6 }, inputs: all(x, u(shape), u([D], 0.5, 1.5)), tol: TOL.norm });
  add({ family: 'norm', op: 'rmsnorm_grad_gamma', name: n, attrs: { eps: 1e-6 }, inputs: all(x, u(shape)), tol: TOL.norm });
}
add({ family: 'norm', op: 'layernorm_grad_gamma', name: '[64,40] many rows', attrs: { eps: 1e-5 }, inputs: all(u([64, 40]), u([64, 40])), tol: TOL.norm });
// 70,000 rows: one invocation walking every row would pass llvmpipe's 65,535 loop iterations
// (the generator switches to one workgroup per feature)
add({ family: 'norm', op: 'layernorm_grad_gamma', name: '[70000,4] rows past the loop budget', attrs: { eps: 1e-5 }, inputs: all(u([70000, 4]), u([70000, 4])), tol: TOL.norm });

/**
 * The operands of an attention gradient from (q, k, v, dy, lengths?): the forward's output o and
 * lse, computed from q, k, v by the CPU reference in f32 (what the forward kernels hand the
 * backward), inserted after dy.
 */
const withForward =
  (gen: (rng: Random) => Tensor[], attrs: Attrs) =>
  (rng: Random): Tensor[] => {
    const [q, k, v, dy, len] = gen(rng) as [Tensor, Tensor, Tensor, Tensor, Tensor | undefined];
    const f32 = { precision: 'f32' as const, step: 0, training: true };
    const o = KERNELS.attention!(len ? [q, k, v, len] : [q, k, v], attrs, f32);
    const lse = KERNELS.attention_lse!(len ? [q, k, len] : [q, k], attrs, f32);
    return len ? [q, k, v, dy, o, lse, len] : [q, k, v, dy, o, lse];
  };

// attention: [B, S, H, KV, hd, causal, prefix]
export const ATTENTION_CONFIGS: [number, number, number, number, number, boolean, number][] = [
  [1, 1, 1, 1, 4, true, 0],
  [2, 5, 4, 2, 6, true, 3],
  [2, 7, 4, 1, 8, false, 0],
  [1, 9, 3, 3, 5, false, 2],
  [2, 16, 2, 2, 16, true, 0],
  [1, 24, 2, 1, 64, true, 5],
  // software query blocks (4 rows for hd 32, 2 for hd 64, 1 for hd 128) and key blocks of 4:
  // S not a multiple of either, odd head sizes, a prefix, grouped kv heads
  [2, 13, 4, 2, 32, true, 2],
  [1, 6, 2, 1, 3, true, 0],
  [1, 10, 1, 1, 128, true, 1],
  [2, 11, 2, 1, 12, false, 3],
  // 1024 keys seen by every query of 4 heads sharing a kv head: the software key-gradient blocks
  // (32 keys, 2 at a time, over 4 × 1024 queries) would loop past llvmpipe's 65,535 iterations per
  // invocation (they fall back to the workgroup variant)
  [1, 1024, 4, 1, 64, false, 0],
];
for (const [B, S, H, KV, hd, causal, prefix] of ATTENTION_CONFIGS) {
  const Sk = S + prefix;
  const q = u([B, S, H * hd], -2, 2);
  const kv = u([B, Sk, KV * hd], -2, 2);
  const name = `B${B} S${S} H${H} KV${KV} hd${hd} ${causal ? 'causal' : 'bidirectional'} prefix ${prefix}`;
  const attrs = { heads: H, kv_heads: KV, causal, prefix };
  // The 1024-key case is about llvmpipe's loop limit; 128-wide heads compile for seconds.
  const cost = { ...(S >= 1024 || hd >= 128 ? { heavy: true } : {}), ...(S >= 1024 ? { only: 'llvmpipe' as const } : {}) };
  add({ family: 'attention', op: 'attention', name, attrs, inputs: all(q, kv, kv), tol: TOL.attention, ...cost });
  add({ family: 'attention', op: 'attention_lse', name, attrs, inputs: all(q, kv), tol: TOL.attention, ...cost });
  for (const g of ['q', 'k', 'v']) {
    add({ family: 'attention', op: `attention_grad_${g}`, name, attrs, inputs: withForward(all(q, kv, kv, u([B, S, H * hd])), attrs), tol: TOL.attention, ...cost });
  }
}
// bidirectional attention with lengths (padding keys masked): [B, S, H, KV, hd, prefix, lengths]
export const ATTENTION_LENGTHS_CONFIGS: [number, number, number, number, number, number, number[]][] = [
  [3, 7, 4, 1, 8, 0, [7, 3, 1]],
  [2, 9, 3, 3, 5, 2, [4, 0]],
  [2, 70, 2, 2, 16, 0, [70, 33]],
];
for (const [B, S, H, KV, hd, prefix, lengths] of ATTENTION_LENGTHS_CONFIGS) {
  const Sk = S + prefix;
  const q = u([B, S, H * hd], -2, 2);
  const kv = u([B, Sk, KV * hd], -2, 2);
  const len = fixed([B], lengths);
  const name = `B${B} S${S} H${H} KV${KV} hd${hd} bidirectional prefix ${prefix} lengths ${lengths.join(',')}`;
  const attrs = { heads: H, kv_heads: KV, causal: false, prefix };
  add({ family: 'attention', op: 'attention', name, attrs, inputs: all(q, kv, kv, len), tol: TOL.attention });
  add({ family: 'attention', op: 'attention_lse', name, attrs, inputs: all(q, kv, len), tol: TOL.attention });
  for (const g of ['q', 'k', 'v']) {
    add({ family: 'attention', op: `attention_grad_${g}`, name, attrs, inputs: withForward(all(q, kv, kv, u([B, S, H * hd]), len), attrs), tol: TOL.attention });
  }
}

// rope: [B, S, heads, hd, offset, theta]
for (const [B, S, heads, hd, offset, theta] of [
  [2, 5, 2, 6, 0, 10000],
  [1, 4, 3, 8, 7, 10000],
  [1, 3, 1, 64, 1000, 10000],
  [2, 9, 2, 16, 4000, 500000],
  [1, 2, 1, 4, 20000, 10000],
] as const) {
  for (const inverse of [false, true]) {
    add({
      family: 'rope',
      op: 'rope',
      name: `[${B},${S},${heads}·${hd}] offset ${offset} theta ${theta}${inverse ? ' inverse' : ''}`,
      attrs: { heads, theta, inverse, offset },
      inputs: all(u([B, S, heads * hd])),
      tol: TOL.rope,
    });
  }
}

// embedding
add({ family: 'embedding', op: 'embedding', name: 'table [11,7], ids [2,5]', attrs: {}, inputs: all(u([11, 7]), ints([2, 5], 11)), tol: TOL.exact });
add({ family: 'embedding', op: 'embedding', name: 'table [50,16], ids [3,4]', attrs: {}, inputs: all(u([50, 16]), ints([3, 4], 50)), tol: TOL.exact });
add({ family: 'embedding', op: 'embedding', name: 'table [5,8], ids [6]', attrs: {}, inputs: all(u([5, 8]), ints([6], 5)), tol: TOL.exact });
add({ family: 'embedding', op: 'positions', name: 'x [2,5,3]', attrs: { offset: 0 }, inputs: all(like([2, 5, 3])), tol: TOL.exact });
add({ family: 'embedding', op: 'positions', name: 'x i32 [3,7] offset 4', attrs: { offset: 4 }, inputs: all(like([3, 7], 'i32')), tol: TOL.exact });
add({ family: 'embedding', op: 'embedding_grad', name: 'rows 11, ids [2,5] (repeats), D 7', attrs: { rows: 11 }, inputs: all(ints([2, 5], 4), u([2, 5, 7])), tol: TOL.sum });
add({ family: 'embedding', op: 'embedding_grad', name: 'rows 6, ids [4,9], D 16', attrs: { rows: 6 }, inputs: all(ints([4, 9], 6), u([4, 9, 16])), tol: TOL.sum });
add({ family: 'embedding', op: 'embedding_grad', name: 'rows 300, ids [64], D 12', attrs: { rows: 300 }, inputs: all(ints([64], 300), u([64, 12])), tol: TOL.sum });
// 1024 ids of 2 tokens, D 768 (GPT-2): each hit adds 192 vec4 units, about 98,000 loop
// iterations for one row as a loop (llvmpipe stops at 65,535); the adds are unrolled
add({ family: 'embedding', op: 'embedding_grad', name: 'rows 300, ids [1024] of 2 tokens, D 768', attrs: { rows: 300 }, inputs: all(ints([1024], 2), u([1024, 768])), tol: TOL.sum });
// soft_embedding (prompt templates): ids 0 … N+V−1, the last V are soft tokens
add({ family: 'soft_embedding', op: 'soft_embedding', name: 'table [11,7], soft [3,7], ids [2,5]', attrs: {}, inputs: all(u([11, 7]), u([3, 7]), ints([2, 5], 14)), tol: TOL.exact });
add({ family: 'soft_embedding', op: 'soft_embedding', name: 'table [50,16], soft [6,16], ids [3,8]', attrs: {}, inputs: all(u([50, 16]), u([6, 16]), ints([3, 8], 56)), tol: TOL.exact });
add({ family: 'soft_embedding', op: 'soft_embedding_grad', name: 'soft rows: offset 11, rows 3, ids [2,5], D 7', attrs: { offset: 11, rows: 3 }, inputs: all(ints([2, 5], 14), u([2, 5, 7])), tol: TOL.sum });
add({ family: 'soft_embedding', op: 'soft_embedding_grad', name: 'table rows: offset 0, rows 50, ids [3,8], D 16', attrs: { offset: 0, rows: 50 }, inputs: all(ints([3, 8], 56), u([3, 8, 16])), tol: TOL.sum });

// shape ops (f32 and i32)
for (const dtype of ['f32', 'i32'] as const) {
  const x = (shape: number[]): Gen => (dtype === 'f32' ? u(shape) : ints(shape, 1000));
  const t = dtype === 'i32' ? ' i32' : '';
  for (const [shape, axis, start, size] of [
    [[2, 7, 3], 1, 2, 4],
    [[4, 8], -1, 4, 4],
    [[3, 5], 0, 1, 2],
    [[2, 3, 12], 2, 8, 4],
  ] as [number[], number, number, number][]) {
    add({ family: 'shape', op: 'slice', name: `${fmtShape(shape)} axis ${axis} ${start}+${size}${t}`, attrs: { axis, start, size }, inputs: all(x(shape)), tol: TOL.exact });
  }
  for (const [shape, axis, start, total] of [
    [[2, 4, 3], 1, 2, 7],
    [[4, 4], -1, 4, 12],
    [[2, 5], 0, 0, 3],
  ] as [number[], number, number, number][]) {
    add({ family: 'shape', op: 'pad', name: `${fmtShape(shape)} axis ${axis} at ${start} of ${total}${t}`, attrs: { axis, start, total }, inputs: all(x(shape)), tol: TOL.exact });
  }
  if (dtype === 'f32') for (const shape of [[3, 5], [64, 7], [1, 9]]) add({ family: 'shape', op: 'transpose', name: fmtShape(shape), attrs: {}, inputs: all(x(shape)), tol: TOL.exact });
  for (const [a, b, axis] of [
    [[2, 3, 5], [2, 4, 5], 1],
    [[3, 4], [3, 8], -1],
    [[1, 3], [2, 3], 0],
  ] as [number[], number[], number][]) {
    add({ family: 'shape', op: 'concat', name: `${fmtShape(a)} ++ ${fmtShape(b)} axis ${axis}${t}`, attrs: { axis }, inputs: all(x(a), x(b)), tol: TOL.exact });
  }
  for (const [shape, likeShape] of [
    [[3, 5], [2, 9]],
    [[4, 8], [3]],
    [[7], [2, 1, 1]],
  ] as [number[], number[]][]) {
    add({ family: 'shape', op: 'expand_batch', name: `${fmtShape(shape)} like ${fmtShape(likeShape)}${t}`, attrs: {}, inputs: all(x(shape), like(likeShape)), tol: TOL.exact });
  }
}
for (const [shape, to] of [
  [[2, 3, 5], [3, 5]],
  [[6, 8], [8]],
  [[3, 4], []],
  [[2, 3], [2, 3]],
  [[300, 12], [12]],
  // more copies than llvmpipe's 65,535 loop iterations per invocation (a bias gradient over
  // 70,000 tokens), vec4 and scalar with a tail of 7
  [[70000, 4], [4]],
  [[70007, 3], [3]],
] as [number[], number[]][]) {
  add({ family: 'shape', op: 'sum_to', name: `${fmtShape(shape)} → ${fmtShape(to)}`, attrs: {}, inputs: all(u(shape), like(to)), tol: shape[0]! > 10_000 ? TOL.longSum : TOL.sum });
}

// dropout
for (const [shape, p, seed, step] of [
  [[3, 7], 0.1, 42, 0],
  [[2, 64], 0.5, 7, 12345],
  [[1000], 0.3, -5, 4294967295],
  [[4, 4], 0, 1, 3],
] as [number[], number, number, number][]) {
  add({ family: 'dropout', op: 'dropout', name: `${fmtShape(shape)} p ${p} seed ${seed} step ${step}`, attrs: { p, seed }, inputs: all(u(shape, 0.5, 1.5)), tol: TOL.dropout, step });
}

// pool
for (const mode of ['first', 'last', 'mean']) {
  for (const shape of [[2, 5, 7], [3, 4, 8]]) {
    const [B, , D] = shape as [number, number, number];
    add({ family: 'pool', op: 'pool', name: `${mode} ${fmtShape(shape)}`, attrs: { mode }, inputs: all(u(shape)), tol: TOL.sum });
    add({ family: 'pool', op: 'pool_grad', name: `${mode} ${fmtShape(shape)}`, attrs: { mode }, inputs: all(u([B, D]), like(shape)), tol: TOL.sum });
  }
  // with lengths (padding left out of last and mean)
  for (const [shape, lengths] of [[[2, 5, 7], [5, 2]], [[3, 4, 8], [1, 4, 3]]] as [number[], number[]][]) {
    const [B, , D] = shape as [number, number, number];
    const len = fixed([B], lengths);
    const name = `${mode} ${fmtShape(shape)} lengths ${lengths.join(',')}`;
    add({ family: 'pool', op: 'pool', name, attrs: { mode }, inputs: all(u(shape), len), tol: TOL.sum });
    add({ family: 'pool', op: 'pool_grad', name, attrs: { mode }, inputs: all(u([B, D]), like(shape), len), tol: TOL.sum });
  }
}

// cross-entropy: logits, targets (some ignored)
export const CROSS_ENTROPY_CASES: { name: string; logits: number[]; V: number; targets: Gen }[] = [
  { name: '[2,5,11], some ignored', logits: [2, 5, 11], V: 11, targets: ints([2, 5], 11, -100) },
  { name: '[7,3]', logits: [7, 3], V: 3, targets: ints([7], 3) },
  { name: '[3,4] all ignored', logits: [3, 4], V: 4, targets: fixed([3], [-100, -100, -100]) },
  { name: '[4,1000], some ignored', logits: [4, 1000], V: 1000, targets: ints([4], 1000, -100) },
  { name: '[67,9], some ignored', logits: [67, 9], V: 9, targets: ints([67], 9, -100) },
  // GPT-2's vocabulary: one invocation per row would loop 3·V > 65,535 times (llvmpipe's limit)
  { name: '[3,50257] GPT-2 vocabulary, some ignored', logits: [3, 50257], V: 50257, targets: ints([3], 50257, -100) },
];
for (const c of CROSS_ENTROPY_CASES) {
  // The one-workgroup mean kernel serves small losses (plans use per-row losses and a sum).
  for (const op of c.V > 10_000 ? ['cross_entropy_grad'] : ['cross_entropy', 'cross_entropy_grad']) {
    add({ family: 'cross_entropy', op, name: c.name, attrs: { ignore_index: -100 }, inputs: all(u(c.logits, -4, 4), c.targets), tol: TOL.crossEntropy });
  }
}

// linear: [rows shape, in, out, layout, bias]
export const LINEAR_CONFIGS: [number[], number, number, 'in_out' | 'out_in', boolean][] = [
  [[2, 3], 5, 7, 'in_out', false],
  [[2, 3], 5, 7, 'out_in', true],
  [[4], 8, 12, 'in_out', true],
  [[4], 8, 12, 'out_in', false],
  [[37], 29, 53, 'in_out', true],
  [[2, 16], 64, 48, 'out_in', true],
];
for (const [rows, nIn, nOut, layout, bias] of LINEAR_CONFIGS) {
  const w = layout === 'in_out' ? [nIn, nOut] : [nOut, nIn];
  const name = `x ${fmtShape([...rows, nIn])} w ${fmtShape(w)} ${layout}${bias ? ' bias' : ''}`;
  const gens = [u([...rows, nIn]), u(w)];
  if (bias) gens.push(u([nOut]));
  add({ family: 'linear', op: 'linear', name, attrs: { layout }, inputs: all(...gens), tol: linearTolerance(nIn) });
  if (!bias) {
    const R = numel(rows);
    add({ family: 'linear', op: 'linear_grad_weight', name: `x ${fmtShape([...rows, nIn])} dy ${fmtShape([...rows, nOut])} ${layout}`, attrs: { layout }, inputs: all(u([...rows, nIn]), u([...rows, nOut])), tol: linearTolerance(R) });
  }
}
add({ family: 'linear', op: 'linear_grad_weight', name: 'x [3,33,9] dy [3,33,6] in_out', attrs: { layout: 'in_out' }, inputs: all(u([3, 33, 9]), u([3, 33, 6])), tol: linearTolerance(99) });
add({ family: 'linear', op: 'linear_grad_weight', name: 'x [3,33,9] dy [3,33,6] out_in', attrs: { layout: 'out_in' }, inputs: all(u([3, 33, 9]), u([3, 33, 6])), tol: linearTolerance(99) });

// gathered linear (several adapters in one batch): ids with shared slices, an unused slice, −1 and
// an index past N (no adapter); both layouts, vec4 and odd feature sizes, LoRA-like shapes.
for (const [x, w, ids, layout, bias] of [
  [[3, 5, 8], [4, 6, 8], [2, -1, 0], 'out_in', true],
  [[2, 3, 7], [3, 5, 7], [1, 1], 'out_in', false],
  [[3, 4, 6], [2, 6, 8], [1, 0, 5], 'in_out', true],
  [[2, 7, 5], [3, 5, 3], [2, 0], 'in_out', false],
  [[4, 16, 64], [3, 8, 64], [0, 2, 1, -1], 'out_in', false],
  [[4, 16, 8], [3, 64, 8], [0, 2, 1, -1], 'out_in', false],
  [[5, 3], [2, 3, 4], [0, 1, -1, 1, 0], 'in_out', true],
] as [number[], number[], number[], 'in_out' | 'out_in', boolean][]) {
  const O = layout === 'in_out' ? w[2]! : w[1]!;
  const gens = [u(x), u(w), fixed([ids.length], ids)];
  if (bias) gens.push(u([w[0]!, O]));
  add({ family: 'gather', op: 'linear_gather', name: `x ${fmtShape(x)} w ${fmtShape(w)} ids ${fmtShape(ids)} ${layout}${bias ? ' bias' : ''}`, attrs: { layout }, inputs: all(...gens), tol: linearTolerance(x[x.length - 1]!) });
}
for (const [x, dy, ids, layout, count] of [
  [[4, 5, 8], [4, 5, 6], [2, 0, 2, -1], 'out_in', 3],
  [[3, 4, 7], [3, 4, 8], [1, 1, 0], 'in_out', 2],
  [[4, 16, 64], [4, 16, 8], [0, 2, 1, -1], 'out_in', 3],
  [[3, 5], [3, 3], [0, 2, 0], 'in_out', 3],
] as [number[], number[], number[], 'in_out' | 'out_in', number][]) {
  const R = numel(x.slice(0, -1));
  add({ family: 'gather', op: 'linear_gather_grad_weight', name: `x ${fmtShape(x)} dy ${fmtShape(dy)} ids ${fmtShape(ids)} ${layout} count ${count}`, attrs: { layout, count }, inputs: all(u(x), u(dy), fixed([ids.length], ids)), tol: linearTolerance(R) });
}
for (const [dy, ids, count] of [
  [[4, 5, 8], [2, 0, 2, -1], 3],
  [[3, 2, 7], [0, 1, 1], 2],
] as [number[], number[], number][]) {
  add({ family: 'gather', op: 'linear_gather_grad_bias', name: `dy ${fmtShape(dy)} ids ${fmtShape(ids)} count ${count}`, attrs: { count }, inputs: all(u(dy), fixed([ids.length], ids)), tol: linearTolerance(numel(dy.slice(0, -1))) });
}

export const OP_CASES: readonly OpCase[] = cases;

/** A stable seed per case, so that each case's inputs do not depend on the others. */
export function caseSeed(c: OpCase): number {
  let h = 2166136261;
  for (const ch of `${c.op} ${c.name}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h;
}
