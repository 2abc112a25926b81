// Symmetric int8 with one scale per output channel (LLM.int8()'s row-wise absmax, without its
// outlier split): scale = absmax / 127 (f32), code = round(x / scale) ∈ [-127, 127] (halves to even,
// as CUDA's __float2int_rn and torch.round), value = code · scale.

export interface Int8 {
  /** One code per element, in the order of the input. */
  codes: Int8Array;
  /** One f32 scale per channel. */
  scales: Float32Array;
}

/**
 * Quantizes a row-major [rows, cols] matrix with one scale per channel: per row when `axis` is
 * 0, per column when it is 1.
 */
export function quantizeInt8(values: ArrayLike<number>, rows: number, cols: number, axis: 0 | 1): Int8 {
  const channels = axis === 0 ? rows : cols;
  const scales = new Float32Array(channels);
  const channel = (i: number): number => (axis === 0 ? Math.floor(i / cols) : i % cols);
  for (let i = 0; i < rows * cols; i++) {
    const c = channel(i);
    scales[c] = Math.max(scales[c]!, Math.abs(values[i]!));
  }
  for (let c = 0; c < channels; c++) scales[c] = scales[c]! / 127;
  const codes = new Int8Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const s = scales[channel(i)]!;
    codes[i] = s === 0 ? 0 : Math.max(-127, Math.min(127, roundEven(values[i]! / s)));
  }
  return { codes, scales };
}

/** The f32 values int8 codes stand for: code × its channel's scale. */
export function dequantizeInt8(q: Int8, rows: number, cols: number, axis: 0 | 1): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) out[i] = q.codes[i]! * q.scales[axis === 0 ? Math.floor(i / cols) : i % cols]!;
  return out;
}

/** Rounds to the nearest integer, halves to the even one. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
