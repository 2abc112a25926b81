// A quantized frozen weight as the GPU's frozen arena stores it (docs/quantization.md): one slot
// holds the codes, padded to a multiple of 4 bytes, then the f32 scales, so that a kernel reads the
// whole weight through one array<u32> binding (codegen/wgsl/quant.ts) and no second binding.
import { NF4_BLOCK } from './nf4.ts';
import type { QuantDtype, QuantizedWeight, WeightLayout } from './weight.ts';

/** A quantized matrix as a kernel sees it: its dtype, how its channels and blocks run, its stored shape. */
export interface QuantTensor {
  dtype: QuantDtype;
  layout: WeightLayout;
  rows: number;
  cols: number;
}

/** Bytes of the codes in a slot: one per element (int8) or one per two (nf4), padded to 4. */
export function codeBytes(q: Pick<QuantTensor, 'dtype' | 'rows' | 'cols'>): number {
  const n = q.rows * q.cols;
  return Math.ceil((q.dtype === 'int8' ? n : Math.ceil(n / 2)) / 4) * 4;
}

/** Scales in a slot: one per output channel (int8), one per block of 64 (nf4). */
export function scaleCount(q: QuantTensor): number {
  if (q.dtype === 'nf4') return Math.ceil((q.rows * q.cols) / NF4_BLOCK);
  return q.layout === 'in_out' ? q.cols : q.rows;
}

/** Bytes of a slot: the padded codes and the f32 scales (a multiple of 4). */
export const slotBytes = (q: QuantTensor): number => codeBytes(q) + 4 * scaleCount(q);

/** The words of a slot: the codes (padded to a word), then the scales' bits. */
export function packQuantSlot(q: Pick<QuantTensor, 'dtype' | 'rows' | 'cols'>, codes: Uint8Array, scales: Float32Array): Uint32Array {
  const bytes = new Uint8Array(codeBytes(q) + 4 * scales.length);
  bytes.set(codes);
  bytes.set(new Uint8Array(scales.buffer, scales.byteOffset, 4 * scales.length), codeBytes(q));
  return new Uint32Array(bytes.buffer);
}

/** The slot of a quantized weight. */
export const packQuantized = (w: QuantizedWeight): Uint32Array => packQuantSlot({ dtype: w.dtype, rows: w.shape[0], cols: w.shape[1] }, w.codes, w.scales);
