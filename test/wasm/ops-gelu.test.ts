// The wasm backend's GELUs (runtime/wasm/ops/gelu.ts): gelu, gelu_grad (tanh form) and gelu_erf,
// gelu_erf_grad on f32 operands against the reference's in f64 on the same values: seeded
// uniform values over several ranges and shapes, and the edges 0, ±1e-4, ±10, ±30, the far
// negative tail where the values are tiny, and NaN. Tolerance |Δ| ≤ 1e-6·|ref| + 1e-7 for the
// values (f32 rounds to 6e-8 relative; the erfc fit is good to 1.2e-7 relative), + 5e-7 for the
// gradients: gelu' crosses 0 near x = −0.75 as a sum of terms of size ~0.5 computed in f32, and
// dy is up to 2.
import { describe, expect, it } from 'vitest';
import { gelu, geluErf, geluErfGrad, geluGrad } from '../../runtime/wasm/ops/gelu.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { both, uniform, worst } from './ops-compare.ts';

const RTOL = 1e-6;
const ATOL = 1e-7;
const ATOL_GRAD = 5e-7;
const EDGES = [0, -0, 1e-4, -1e-4, 1e-30, -1e-30, 0.5, -0.5, 1, -1, 3, -3, 5, -5, 10, -10, 30, -30, 100, -100, 1e4, -1e4];

const SETS: { name: string; shape: number[]; values: number[] }[] = [
  { name: 'the edges', shape: [EDGES.length], values: EDGES },
  { name: 'uniform in [−1, 1], odd shape [3, 7, 5]', shape: [3, 7, 5], values: uniform(105, 1) },
  { name: 'uniform in [−8, 8], [33, 31]', shape: [33, 31], values: uniform(1023, 2, -8, 8) },
  { name: 'the negative tail [−40, −4]', shape: [257], values: uniform(257, 3, -40, -4) },
  { name: 'near zero [−1e-3, 1e-3]', shape: [129], values: uniform(129, 4, -1e-3, 1e-3) },
  { name: 'where gelu\' crosses 0 [−1, −0.5]', shape: [1000], values: uniform(1000, 5, -1, -0.5) },
  { name: 'GPT-2\'s MLP [128, 3072] in [−6, 6]', shape: [128, 3072], values: uniform(128 * 3072, 6, -6, 6) },
];

describe('wasm GELU kernels', () => {
  it('are the wasm table\'s kernels', () => {
    expect(WASM_KERNELS.gelu).toBe(gelu);
    expect(WASM_KERNELS.gelu_grad).toBe(geluGrad);
    expect(WASM_KERNELS.gelu_erf).toBe(geluErf);
    expect(WASM_KERNELS.gelu_erf_grad).toBe(geluErfGrad);
  });

  for (const op of ['gelu', 'gelu_erf']) {
    for (const [i, s] of SETS.entries()) {
      it(`${op} and ${op}_grad match the reference: ${s.name}`, () => {
        const x = { shape: s.shape, values: s.values };
        const dy = { shape: s.shape, values: uniform(s.values.length, 50 + i, -2, 2) };
        const f = both(op, [x]);
        expect(worst(f.got, f.want, RTOL, ATOL)).toBeLessThanOrEqual(1);
        const g = both(`${op}_grad`, [x, dy]);
        expect(worst(g.got, g.want, RTOL, ATOL_GRAD)).toBeLessThanOrEqual(1);
      });
    }
  }

  it('f64 operands (an f64 run) take the JavaScript loops, to the same tolerances', () => {
    for (const [i, s] of SETS.slice(0, 5).entries()) {
      const x = { shape: s.shape, values: s.values };
      const dy = { shape: s.shape, values: uniform(s.values.length, 70 + i, -2, 2) };
      for (const op of ['gelu', 'gelu_erf']) {
        const f = both(op, [x], {}, true);
        expect(f.got.data).toBeInstanceOf(Float64Array);
        expect(worst(f.got, f.want, RTOL, ATOL)).toBeLessThanOrEqual(1);
        const g = both(`${op}_grad`, [x, dy], {}, true);
        expect(worst(g.got, g.want, RTOL, ATOL_GRAD)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('keeps tiny values of the tanh form near 0 and large x exact', () => {
    const f = both('gelu', [{ shape: [4], values: [1e-4, -1e-4, 30, -30] }]);
    // 0.5·x·(1 + tanh(u)) ≈ x/2 near 0: relative accuracy, not just absolute.
    expect(Math.abs(f.got.data[0]! / f.want.data[0]! - 1)).toBeLessThan(1e-6);
    expect(Math.abs(f.got.data[1]! / f.want.data[1]! - 1)).toBeLessThan(1e-6);
    expect(f.got.data[2]).toBe(30);
    expect(Math.abs(f.got.data[3]!)).toBeLessThan(1e-30);
  });

  it('propagates NaN', () => {
    for (const op of ['gelu', 'gelu_erf']) {
      const f = both(op, [{ shape: [1], values: [NaN] }]);
      expect(f.got.data[0]).toBeNaN();
      const g = both(`${op}_grad`, [{ shape: [1], values: [NaN] }, { shape: [1], values: [1] }]);
      expect(g.got.data[0]).toBeNaN();
    }
  });

  it('a dy of another length is the reference\'s one-line error', () => {
    const x = { shape: [2], data: new Float32Array(2) };
    expect(() => geluGrad([x, { shape: [2], data: new Float32Array(3) }], {}, { precision: 'f32', step: 0, training: true })).toThrow(/^gelu_grad: operand dy: 3 values for shape \[2\]$/);
  });
});
