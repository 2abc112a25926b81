// linear and linear_grad_weight against a naive triple loop, on shapes that hit every path of
// the packed gemm: fewer than 4 rows, rows and columns not multiples of 4, more columns than
// one packed block (256), and K = 0.
import { describe, expect, it } from 'vitest';
import { Random } from '../../runtime/cpu/random.ts';
import { randomNormal, tensor, type Tensor } from '../../runtime/cpu/tensor.ts';
import { F32, run, scaledErr } from './helpers.ts';

/** y[r,o] = Σ_i x[r,i]·W(i,o) + b[o], W(i,o) = w[i,o] (in_out) or w[o,i] (out_in). */
function naiveLinear(x: Tensor, w: Tensor, b: Tensor | null, layout: 'in_out' | 'out_in'): Tensor {
  const nIn = x.shape[x.shape.length - 1]!;
  const nOut = layout === 'in_out' ? w.shape[1]! : w.shape[0]!;
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const y = new Float64Array(rows * nOut);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < nOut; o++) {
      let s = b ? b.data[o]! : 0;
      for (let i = 0; i < nIn; i++) s += x.data[r * nIn + i]! * (layout === 'in_out' ? w.data[i * nOut + o]! : w.data[o * nIn + i]!);
      y[r * nOut + o] = s;
    }
  }
  return tensor([...x.shape.slice(0, -1), nOut], y);
}

describe('linear against a naive triple loop', () => {
  const rng = new Random(42);
  const shapes: [number, number, number][] = [[1, 7, 5], [2, 3, 9], [3, 16, 16], [4, 4, 4], [7, 5, 9], [13, 33, 300], [65, 17, 257], [6, 0, 5]];
  for (const [rows, nIn, nOut] of shapes) {
    for (const layout of ['in_out', 'out_in'] as const) {
      it(`${rows}×${nIn}→${nOut} ${layout}`, () => {
        const x = randomNormal([rows, nIn], rng);
        const w = randomNormal(layout === 'in_out' ? [nIn, nOut] : [nOut, nIn], rng);
        const b = randomNormal([nOut], rng);
        expect(scaledErr(run('linear', [x, w, b], { layout }), naiveLinear(x, w, b, layout))).toBeLessThan(1e-13);
        expect(scaledErr(run('linear', [x, w], { layout }), naiveLinear(x, w, null, layout))).toBeLessThan(1e-13);
        expect(scaledErr(run('linear', [x, w, b], { layout }, F32), naiveLinear(x, w, b, layout))).toBeLessThan(1e-6);
        // The weight gradient is the transposed product: check against the naive loop too.
        const dy = randomNormal([rows, nOut], rng);
        const gw = run('linear_grad_weight', [x, dy], { layout });
        const want = new Float64Array(nIn * nOut);
        for (let r = 0; r < rows; r++) {
          for (let i = 0; i < nIn; i++) {
            for (let o = 0; o < nOut; o++) {
              const at = layout === 'in_out' ? i * nOut + o : o * nIn + i;
              want[at] += x.data[r * nIn + i]! * dy.data[r * nOut + o]!;
            }
          }
        }
        expect(gw.shape).toEqual(layout === 'in_out' ? [nIn, nOut] : [nOut, nIn]);
        expect(scaledErr(gw, tensor(gw.shape, want))).toBeLessThan(1e-13);
      });
    }
  }

  it('keeps leading dims', () => {
    const y = run('linear', [randomNormal([2, 3, 4], rng), randomNormal([4, 5], rng)], { layout: 'in_out' });
    expect(y.shape).toEqual([2, 3, 5]);
  });
});
