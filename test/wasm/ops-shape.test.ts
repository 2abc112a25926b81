// The wasm backend's slice and pad (runtime/wasm/ops/shape.ts) against the reference's on the
// same operands: copies, so the values must be identical. Every axis, negative axes, empty
// ranges and tensors, float and integer tensors, and the reference's one-line errors.
import { describe, expect, it } from 'vitest';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import type { Tensor } from '../../runtime/cpu/tensor.ts';
import { pad, slice } from '../../runtime/wasm/ops/shape.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { F32 } from '../cpu/helpers.ts';
import { uniform } from './ops-compare.ts';

const f32 = (shape: number[], seed: number): Tensor => ({ shape, data: Float32Array.from(uniform(shape.reduce((a, b) => a * b, 1), seed, -3, 3)) });
const i32 = (shape: number[]): Tensor => ({ shape, data: Int32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i * 7 - 20) });

function same(op: string, inputs: Tensor[], attrs: Record<string, number> = {}): void {
  const got = WASM_KERNELS[op]!(inputs, attrs, F32);
  const want = KERNELS[op]!(inputs, attrs, F32);
  expect(got.shape).toEqual(want.shape);
  expect(got.data.constructor).toBe(want.data.constructor);
  expect([...got.data]).toEqual([...want.data]);
}

describe('wasm slice and pad', () => {
  it('are the wasm table\'s kernels', () => {
    expect(WASM_KERNELS.slice).toBe(slice);
    expect(WASM_KERNELS.pad).toBe(pad);
  });

  it('slice and pad equal the reference on every axis, float and integer', () => {
    for (const x of [f32([3, 4, 10], 9), i32([3, 4, 10])]) {
      for (const [axis, start, size] of [[0, 1, 2], [1, 0, 4], [2, 3, 5], [-1, 9, 1], [-2, 2, 0], [2, 10, 0]] as const) {
        same('slice', [x], { axis, start, size });
      }
      for (const [axis, start, total] of [[0, 2, 6], [1, 0, 4], [2, 5, 15], [-1, 0, 10], [-3, 1, 4]] as const) {
        same('pad', [x], { axis, start, total });
      }
    }
    same('pad', [f32([2, 0, 3], 10)], { axis: 1, start: 1, total: 3 });
  });

  it('a slice or pad out of range is the reference\'s one-line error', () => {
    const x = f32([2, 3], 11);
    expect(() => slice([x], { axis: 1, start: 2, size: 2 }, F32)).toThrow(/^slice: range 2:4 is outside axis 1 of \[2, 3\]$/);
    expect(() => pad([x], { axis: 1, start: 1, total: 3 }, F32)).toThrow(/^pad: cannot place 3 values at 1 in 3 along axis 1$/);
  });
});
