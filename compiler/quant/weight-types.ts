// What a quantized frozen weight is (weight.ts quantizes and dequantizes it; known.ts remembers
// the nf4dq ones), apart from the code, so both can name it without importing each other.

export type QuantDtype = 'int8' | 'nf4' | 'nf4dq';
export type WeightLayout = 'out_in' | 'in_out' | 'table';

export interface QuantizedWeight {
  dtype: QuantDtype;
  layout: WeightLayout;
  /** The weight's shape as stored ([out, in], [in, out] or [rows, dim]). */
  shape: [number, number];
  /** int8: one byte per element in the stored order; nf4, nf4dq: two codes per byte in block order. */
  codes: Uint8Array;
  /** int8: one scale per output channel; nf4: one absmax per block of 64; nf4dq: one second-level absmax per 256 blocks. */
  scales: Float32Array;
  /** nf4dq only: the 8-bit codes of the block absmaxes (one per block of 64) and the mean subtracted before coding them. */
  nested?: { codes: Uint8Array; offset: number };
}
