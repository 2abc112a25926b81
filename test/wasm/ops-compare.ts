// Shared by the test/wasm/ops-*.test.ts files: run a wasm kernel on f32 operands and the
// reference kernel on the same values in f64, and measure how far apart they are.
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import type { Tensor } from '../../runtime/cpu/tensor.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { F32, F64 } from '../cpu/helpers.ts';
import { mulberry32 } from '../prng.ts';

/** n uniform values in [lo, hi) from a fixed seed. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** A float operand as f32 (what the wasm backend runs on) and as f64 holding the same values. */
export interface Operand {
  shape: number[];
  values: readonly number[] | Int32Array;
  int?: boolean;
}

function asTensor(o: Operand | undefined, f64: boolean): Tensor {
  if (!o) return undefined as unknown as Tensor; // an optional operand left out before a later one
  if (o.int) return { shape: [...o.shape], data: Int32Array.from(o.values) };
  const f32 = Float32Array.from(o.values);
  return { shape: [...o.shape], data: f64 ? Float64Array.from(f32) : f32 };
}

/**
 * The wasm kernel's f32 result and the reference's f64 result on the same operand values;
 * `wasmF64`: the wasm kernel on f64 arrays in an f64 run (its JavaScript loops) instead.
 */
export function both(op: string, operands: (Operand | undefined)[], attrs: Record<string, number | boolean | string> = {}, wasmF64 = false): { got: Tensor; want: Tensor } {
  const got = WASM_KERNELS[op]!(operands.map((o) => asTensor(o, wasmF64)), attrs, wasmF64 ? F64 : F32);
  const want = KERNELS[op]!(operands.map((o) => asTensor(o, true)), attrs, F64);
  return { got, want };
}

/** max over elements of |got − want| / (atol + rtol·|want|): ≤ 1 means within tolerance. */
export function worst(got: Tensor, want: Tensor, rtol: number, atol: number): number {
  if (got.data.length !== want.data.length) throw new Error(`${got.data.length} values against ${want.data.length}`);
  let w = 0;
  for (let i = 0; i < want.data.length; i++) {
    const a = got.data[i]!, b = want.data[i]!;
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (!(Number.isNaN(a) && Number.isNaN(b))) return Infinity;
      continue;
    }
    if (a === b) continue;
    w = Math.max(w, Math.abs(a - b) / (atol + rtol * Math.abs(b)));
  }
  return w;
}
