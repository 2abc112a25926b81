// The SIMD loops of runtime/wasm/ops/vector.wat through vector.ts: the embedded bytes are the
// text's as assembled now, the exps are within 2.5e-7 relative of Math.exp (f32 rounding of the
// argument and ~1 ulp), below −87.3 they are the clamp's 1.2e-38 and NaN stays NaN, and the
// chunked GELU covers lengths that are not multiples of 4 or of a chunk.
import { describe, expect, it } from 'vitest';
import { assemble, WASM_VECTOR } from '../../scripts/build-wasm.ts';
import { VECTOR_WASM_BASE64 } from '../../runtime/wasm/ops/vector-bytes.ts';
import { simd } from '../../runtime/wasm/ops/vector.ts';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import { F64 } from '../cpu/helpers.ts';
import { uniform } from './ops-compare.ts';

describe('vector.wat', () => {
  it('embeds the bytes of runtime/wasm/ops/vector.wat as assembled now (npm run build:wasm)', async () => {
    expect(Buffer.from(await assemble(WASM_VECTOR)).toString('base64')).toBe(VECTOR_WASM_BASE64);
  });

  it('a softmax row: its max, the sum of exp(x − max) and softmax/count within 3e-7 relative down to −87, a tail of n mod 4', () => {
    const v = simd()!;
    expect(v).toBeDefined();
    const xs = Float32Array.from([...uniform(40001, 1, -87, 0), ...uniform(4003, 2, -1e-3, 1e-3)]);
    xs[7] = 0.25; // the row's max
    const out = new Float32Array(xs.length + 2);
    const count = 3;
    const { max, sum } = v.expRow(xs, 0, xs.length, out, count);
    expect(max).toBe(0.25);
    const exps = Array.from(xs, (x) => Math.exp(Math.fround(x - max)));
    const want = exps.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum / want - 1)).toBeLessThan(3e-7);
    let worst = 0;
    for (let i = 0; i < xs.length; i++) {
      const p = exps[i]! / (want * count);
      // below f32's normal range (1.2e-38) the result is subnormal: absolute, not relative, precision
      worst = Math.max(worst, Math.abs(out[i]! - p) / (3e-7 * p + 1e-44));
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect(out[xs.length]).toBe(0); // nothing written past n
  });

  it('below −87.3 gives the clamp\'s 1.2e-38; NaN makes the row NaN; the offset and count are honoured', () => {
    const v = simd()!;
    const nanOut = new Float32Array(7);
    const { max, sum } = v.expRow(Float32Array.from([7, 7, -100, -1000, NaN, 0, -Infinity]), 2, 5, nanOut, 1);
    expect(max).toBe(0); // NaN skipped, as the reference's max does
    expect(sum).toBeNaN();
    expect([...nanOut.subarray(2)].every(Number.isNaN)).toBe(true);
    // exps 1.2e-38, 1.2e-38, 1, 1, 1.2e-38: sum 2, and with count 1/2 the softmax/count is the exps
    const out = new Float32Array(7);
    const row = v.expRow(Float32Array.from([7, 7, -100, -1000, 0, 0, -Infinity]), 2, 5, out, 1 / 2);
    expect(row.sum).toBeCloseTo(2, 12);
    expect([out[0], out[1]]).toEqual([0, 0]);
    expect(out[2]).toBeGreaterThan(1.1e-38);
    expect(out[2]).toBeLessThan(1.2e-38);
    expect(out[3]).toBe(out[2]);
    expect([out[4], out[5]]).toEqual([1, 1]);
    expect(out[6]).toBe(out[2]);
    expect(v.expRow(Float32Array.from([NaN, NaN, NaN, NaN, NaN]), 0, 5, undefined, 1).max).toBe(-Infinity);
    expect(v.expRow(Float32Array.from([-Infinity, -Infinity, -Infinity]), 0, 3, undefined, 1).max).toBe(-Infinity);
  });

  it('both GELUs and their gradients over lengths around a chunk and not multiples of 4', () => {
    const v = simd()!;
    for (const [op, n] of [['gelu', 1], ['gelu', 3], ['gelu_erf', 5], ['gelu', 16383], ['gelu_erf', 16384], ['gelu', 16385], ['gelu_erf', 40001]] as const) {
      const x = Float32Array.from(uniform(n, n, -6, 6));
      const dy = Float32Array.from(uniform(n, n + 1, -2, 2));
      const y = new Float32Array(n), g = new Float32Array(n);
      v.unary(op, x, y);
      v.binary(`${op}_grad`, x, dy, g);
      const ref = KERNELS[op]!([{ shape: [n], data: Float64Array.from(x) }], {}, F64).data;
      const refG = KERNELS[`${op}_grad`]!([{ shape: [n], data: Float64Array.from(x) }, { shape: [n], data: Float64Array.from(dy) }], {}, F64).data;
      for (let i = 0; i < n; i++) {
        expect(Math.abs(y[i]! - ref[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(ref[i]!) + 1e-7);
        expect(Math.abs(g[i]! - refG[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(refG[i]!) + 5e-7);
      }
    }
  });
});
