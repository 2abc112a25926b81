// f32 mode against f64 mode on medium shapes.
//  (a) Same inputs: every kernel accumulates in f64 and rounds its output once, so the f32
//      result is the f64 result rounded to float32: |f32 − f64| ≤ 2⁻²⁴·|f64| elementwise.
//  (b) Inputs rounded to f32 first (what an f32 pipeline sees), against unrounded f64 inputs:
//      max |f32 − f64| ≤ 1e-5 · max(1, max |f64|).
import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../compiler/ir/types.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { ints, randomInts, randomNormal, toPrecision, type Tensor } from '../../runtime/cpu/tensor.ts';
import { F32, F64, run, scaledErr } from './helpers.ts';

const rng = new Random(7);
const r = (shape: number[], std = 1) => randomNormal(shape, rng, std);
const [B, S, H, KV, hd, D, V] = [2, 48, 4, 2, 16, 64, 500];
const attn = { heads: H, kv_heads: KV, causal: true, prefix: 8 };

/** q, k, v, dy, and the attention output and log-sum-exp the gradients read. */
function attentionGradInputs(): Tensor[] {
  const [q, k, v, dy] = [r([B, S, H * hd]), r([B, 8 + S, KV * hd]), r([B, 8 + S, KV * hd]), r([B, S, H * hd])];
  return [q, k, v, dy, run('attention', [q, k, v], attn), run('attention_lse', [q, k], attn)];
}

const CASES: [string, string, Tensor[], Attrs][] = [
  ['linear in_out', 'linear', [r([B, S, D]), r([D, 96], 0.2), r([96])], { layout: 'in_out' }],
  ['linear out_in', 'linear', [r([B, S, D]), r([96, D], 0.2)], { layout: 'out_in' }],
  ['linear_grad_weight', 'linear_grad_weight', [r([B, S, D]), r([B, S, 96])], { layout: 'in_out' }],
  ['layernorm', 'layernorm', [r([B, S, D], 3), r([D]), r([D])], { eps: 1e-5 }],
  ['layernorm_grad_x', 'layernorm_grad_x', [r([B, S, D], 3), r([B, S, D]), r([D])], { eps: 1e-5 }],
  ['rmsnorm', 'rmsnorm', [r([B, S, D], 3), r([D])], { eps: 1e-6 }],
  ['rmsnorm_grad_x', 'rmsnorm_grad_x', [r([B, S, D], 3), r([B, S, D]), r([D])], { eps: 1e-6 }],
  ['gelu', 'gelu', [r([B, S, D], 3)], {}],
  ['silu_grad', 'silu_grad', [r([B, S, D], 3), r([B, S, D])], {}],
  ['rope', 'rope', [r([B, S, H * hd])], { heads: H, theta: 10000, inverse: false }],
  ['attention', 'attention', [r([B, S, H * hd]), r([B, 8 + S, KV * hd]), r([B, 8 + S, KV * hd])], attn],
  ['attention_lse', 'attention_lse', [r([B, S, H * hd]), r([B, 8 + S, KV * hd])], attn],
  ...(['q', 'k', 'v'] as const).map((x): [string, string, Tensor[], Attrs] => [`attention_grad_${x}`, `attention_grad_${x}`, attentionGradInputs(), attn]),
  ['cross_entropy', 'cross_entropy', [r([B, S, V], 3), randomInts([B, S], rng, V)], { ignore_index: -100 }],
  ['cross_entropy_grad', 'cross_entropy_grad', [r([B, S, V], 3), randomInts([B, S], rng, V)], { ignore_index: -100 }],
  ['embedding_grad', 'embedding_grad', [randomInts([B, S], rng, 50), r([B, S, D])], { rows: 50 }],
  ['sum_to', 'sum_to', [r([B, S, D]), r([D])], {}],
  ['dropout', 'dropout', [r([B, S, D])], { p: 0.1, seed: 5 }],
  ['pool mean', 'pool', [r([B, S, D])], { mode: 'mean' }],
];

const asF32 = (t: Tensor) => (t.data instanceof Int32Array ? t : toPrecision(t, 'f32'));

describe('f32 mode agrees with f64 mode', () => {
  for (const [name, op, inputs, attrs] of CASES) {
    it(name, () => {
      const inF32 = inputs.map(asF32);
      const ref = run(op, inputs, attrs, F64);
      // (a) the same (f32-representable) inputs in both modes.
      const same64 = run(op, inF32, attrs, F64);
      const same32 = run(op, inF32, attrs, F32);
      expect(same32.data).toBeInstanceOf(Float32Array);
      for (let i = 0; i < same64.data.length; i++) {
        const want = same64.data[i]!;
        expect(Math.abs(same32.data[i]! - want)).toBeLessThanOrEqual(2 ** -24 * Math.abs(want) + 1e-45);
      }
      // (b) rounded inputs against unrounded f64 inputs.
      expect(scaledErr(same32, ref)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('integer operands pass through unchanged', () => {
    expect(run('positions', [ints([1, 3], [0, 0, 0])], {}, F32).data).toBeInstanceOf(Int32Array);
  });
});
