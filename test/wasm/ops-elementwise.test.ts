// The wasm backend's add, mul and scale (runtime/wasm/ops/elementwise.ts): on f32 operands of one
// shape in WebAssembly SIMD, which must give the reference's values bit for bit (one rounding of
// the exact result either way); broadcasting, f64 runs and factors not exact in f32 go to the
// reference's kernels. Lengths around the staging chunk and not multiples of 4; ±0, ±Infinity,
// NaN, subnormals and values near overflow.
import { describe, expect, it } from 'vitest';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import type { KernelContext } from '../../runtime/cpu/kernels/index.ts';
import type { Tensor } from '../../runtime/cpu/tensor.ts';
import { add, mul, scale } from '../../runtime/wasm/ops/elementwise.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { F32, F64 } from '../cpu/helpers.ts';
import { uniform } from './ops-compare.ts';

const SPECIAL = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 1.1e-38, -3e38, 3e38, 1, -1, 0.1, 16777217];

function f32(shape: number[], seed: number, special = false): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = uniform(n, seed, -3, 3);
  if (special) for (let i = 0; i < n; i++) if (i % 3 === 0) values[i] = SPECIAL[(i / 3 + seed) % SPECIAL.length]!;
  return { shape, data: Float32Array.from(values) };
}

function expectIdentical(op: string, inputs: Tensor[], attrs: Record<string, number> = {}, ctx: KernelContext = F32): void {
  const got = WASM_KERNELS[op]!(inputs, attrs, ctx);
  const want = KERNELS[op]!(inputs, attrs, ctx);
  expect(got.shape).toEqual(want.shape);
  expect(got.data.constructor).toBe(want.data.constructor);
  expect(got.data.length).toBe(want.data.length);
  for (let i = 0; i < want.data.length; i++) {
    if (!Object.is(got.data[i], want.data[i])) expect(`${op} [${i}] ${got.data[i]}`).toBe(`${op} [${i}] ${want.data[i]}`);
  }
}

describe('wasm add, mul and scale', () => {
  it('are the wasm table\'s kernels', () => {
    expect(WASM_KERNELS.add).toBe(add);
    expect(WASM_KERNELS.mul).toBe(mul);
    expect(WASM_KERNELS.scale).toBe(scale);
  });

  it('equal shapes: the reference\'s values bit for bit, special values included', () => {
    for (const [i, shape] of [[1], [3], [5, 7], [1, 128, 768], [16383], [16384], [16385], [2, 20001]].entries()) {
      for (const special of [false, true]) {
        const a = f32(shape, 10 + i, special), b = f32(shape, 20 + i, special);
        expectIdentical('add', [a, b]);
        expectIdentical('mul', [a, b]);
        expectIdentical('scale', [a], { factor: 2 });
        expectIdentical('scale', [a], { factor: -0.125 });
      }
    }
  });

  it('broadcasting, inexact factors, f64 runs and empty tensors are the reference\'s', () => {
    expectIdentical('add', [f32([3, 5, 7], 1), f32([7], 2)]);
    expectIdentical('mul', [f32([7], 3), f32([3, 5, 7], 4)]);
    expectIdentical('add', [f32([4, 6], 5), f32([], 6)]);
    expectIdentical('scale', [f32([5, 33], 7)], { factor: -0.37 });
    expectIdentical('add', [f32([0, 5], 8), f32([0, 5], 9)]);
    const f64 = (t: Tensor): Tensor => ({ shape: t.shape, data: Float64Array.from(t.data) });
    expectIdentical('add', [f64(f32([9, 5], 10)), f64(f32([9, 5], 11))], {}, F64);
    expectIdentical('scale', [f64(f32([9, 5], 12))], { factor: 2 }, F64);
  });

  it('an operand of the wrong length is the reference\'s one-line error', () => {
    const a = { shape: [2, 2], data: new Float32Array(4) };
    const b = { shape: [2, 2], data: new Float32Array(3) };
    expect(() => add([a, b], {}, F32)).toThrow(/^add: operand b: 3 values for shape \[2, 2\]$/);
  });
});
