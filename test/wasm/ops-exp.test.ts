// fastExp (runtime/wasm/ops/exp.ts), the exp of the wasm backend's softmax and GELU kernels,
// against Math.exp: relative error ≤ 1e-12 over the whole double range on seeded values, and
// the edges (±0, tiny arguments, the overflow and subnormal ends, ±Infinity, NaN) exactly.
import { describe, expect, it } from 'vitest';
import { fastExp } from '../../runtime/wasm/ops/exp.ts';
import { uniform } from './ops-compare.ts';

describe('fastExp', () => {
  it('is within 1e-12 relative of Math.exp from −745 to 709.7 and near 0', () => {
    const xs = [...uniform(200000, 91, -745, 709.7), ...uniform(20000, 92, -1e-3, 1e-3), ...uniform(20000, 93, -20, 20)];
    let worst = 0;
    for (const x of xs) worst = Math.max(worst, Math.abs(fastExp(x) / Math.exp(x) - 1));
    expect(worst).toBeLessThan(1e-12);
  });

  it('keeps the edges of the range', () => {
    for (const x of [0, -0, 1e-300, -1e-300, 707.9, 708, 709.78, 710, -707.9, -708, -745, -745.2, -746, -1e9, 1e9]) {
      // Past ±708 it is Math.exp itself; inside, the polynomial.
      if (Math.abs(x) >= 708) expect(fastExp(x)).toBe(Math.exp(x));
      else expect(Math.abs(fastExp(x) / Math.exp(x) - 1)).toBeLessThanOrEqual(1e-12);
    }
    expect(fastExp(Infinity)).toBe(Infinity);
    expect(fastExp(-Infinity)).toBe(0);
    expect(fastExp(NaN)).toBeNaN();
  });
});
