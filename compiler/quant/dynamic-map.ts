// bitsandbytes' signed 8-bit dynamic map (`create_dynamic_map(signed=True)`, Dettmers 2015's
// dynamic tree quantization), the code book nf4dq quantizes NF4's block absmaxes with, and its
// rounding (the CUDA kernel's `dQuantize<0>`).
//
// For each exponent i = 0…6 the map takes the midpoints of `torch.linspace(0.1, 1, 2^i + 1)`
// (f32), scaled by 10^(i−6), positive and negative; then 0 and 1; sorted: 127 negative values,
// 0 at index 127, 127 positive ones, 1 at index 255. Every step is one f32 rounding, as written
// (PyTorch ≥ 2.1's linspace: `start + step·k` below the halfway point, `end − step·(n−1−k)` from
// it). Builds that fuse a multiply-add there, and PyTorch < 2.1's vectorised linspace, differ in
// the last bit of a few entries (docs/quantization.md).

const f = Math.fround;

/** torch.linspace(start, end, steps, dtype=float32) on the CPU, each operation rounded to f32. */
function linspace(start: number, end: number, steps: number): number[] {
  const [s, e] = [f(start), f(end)];
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, k) => (k < half ? f(s + f(step * k)) : f(e - f(step * (steps - 1 - k)))));
}

/** 10^(i−6) as Python's `10 ** (-(7 - 1) + i)`: the correctly rounded double (literals, not Math.pow). */
const POWERS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];

function createDynamicMap(): Float32Array {
  const data: number[] = [];
  POWERS.forEach((p, i) => {
    const b = linspace(0.1, 1, 2 ** i + 1);
    const means = b.slice(1).map((x, j) => f(f(b[j]! + x) / 2));
    const scale = f(p); // a Python float times an f32 tensor: the scalar is taken as f32
    data.push(...means.map((m) => f(scale * m)), ...means.map((m) => f(-scale * m)));
  });
  data.push(0, 1);
  return Float32Array.from(data.sort((a, b) => a - b));
}

/** The 256 values, index = code: DYNAMIC_MAP[127] = 0, DYNAMIC_MAP[255] = 1. */
export const DYNAMIC_MAP: Float32Array = createDynamicMap();

/**
 * The code of x (f32, normally in [−1, 1]) in a sorted 256-entry map, exactly as bitsandbytes'
 * `dQuantize<0>`: a 7-step binary search from index 127, then the nearer of the last probe and
 * its neighbour on x's side; a value exactly at their midpoint keeps the last probe. NaN (a block
 * of zeros scaled by 1/0) codes 0, as on the GPU.
 */
export function dynamicCode(x: number, map: Float32Array = DYNAMIC_MAP): number {
  let pivot = 127;
  let [lowerPivot, upperPivot] = [0, 255];
  let [lower, upper] = [-1, 1];
  let val = map[pivot]!;
  for (let i = 64; i > 0; i >>= 1) {
    if (x > val) {
      [lowerPivot, lower] = [pivot, val];
      pivot += i;
    } else {
      [upperPivot, upper] = [pivot, val];
      pivot -= i;
    }
    val = map[pivot]!;
  }
  if (upperPivot === 255) upper = map[255]!;
  if (lowerPivot === 0) lower = map[0]!;
  if (x > val) return x > f(f(upper + val) * 0.5) ? upperPivot : pivot;
  return x < f(f(lower + val) * 0.5) ? lowerPivot : pivot;
}
