// A quantized frozen weight as the GPU's frozen arena stores it (docs/quantization.md): one slot
// holds the codes, padded to a multiple of 4 bytes, then the scales, so that a kernel reads the
// whole weight through one array<u32> binding (codegen/wgsl/quant.ts) and no second binding.
// int8 and nf4 follow their codes with f32 scales. nf4dq follows them with its nested scales:
// one byte per block's scale code (padded to 4 bytes), then the f32 words of NESTED_HEADER, the
// 256-entry dynamic map, and one f32 second-level absmax per 256 blocks.
import { DYNAMIC_MAP } from './dynamic-map.ts';
import { NF4_BLOCK } from './nf4.ts';
import { NF4DQ_SCALE_BLOCK } from './nf4dq.ts';
import { nestedOf, type QuantDtype, type QuantizedWeight, type WeightLayout } from './weight.ts';

/** A quantized matrix as a kernel sees it: its dtype, how its channels and blocks run, its stored shape. */
export interface QuantTensor {
  dtype: QuantDtype;
  layout: WeightLayout;
  rows: number;
  cols: number;
}

type Sized = Pick<QuantTensor, 'dtype' | 'rows' | 'cols'>;

/**
 * nf4dq's f32 words after the scale codes: the offset, then -0.0 (added to each product of a map
 * value and its absmax, so that a compiler fusing that product into a multiply-add still rounds
 * it alone: codegen/wgsl/quant.ts), then the map.
 */
export const NESTED_HEADER = { offset: 0, negZero: 1, map: 2 } as const;
const HEADER_WORDS = 2 + DYNAMIC_MAP.length;

/** Bytes of the codes in a slot: one per element (int8) or one per two (nf4, nf4dq), padded to 4. */
export function codeBytes(q: Sized): number {
  const n = q.rows * q.cols;
  return Math.ceil((q.dtype === 'int8' ? n : Math.ceil(n / 2)) / 4) * 4;
}

/** NF4 blocks of a weight (nf4, nf4dq). */
export const nf4Blocks = (q: Sized): number => Math.ceil((q.rows * q.cols) / NF4_BLOCK);

/** nf4dq: bytes of the scale codes, one per block, padded to 4. */
export const scaleCodeBytes = (q: Sized): number => Math.ceil(nf4Blocks(q) / 4) * 4;

/** Scales in a slot: one per output channel (int8), one per block of 64 (nf4), one per 256 blocks (nf4dq). */
export function scaleCount(q: QuantTensor): number {
  if (q.dtype === 'nf4') return nf4Blocks(q);
  if (q.dtype === 'nf4dq') return Math.ceil(nf4Blocks(q) / NF4DQ_SCALE_BLOCK);
  return q.layout === 'in_out' ? q.cols : q.rows;
}

/** Bytes of a slot: the padded codes, nf4dq's scale codes and header, and the f32 scales (a multiple of 4). */
export function slotBytes(q: QuantTensor): number {
  const nested = q.dtype === 'nf4dq' ? scaleCodeBytes(q) + 4 * HEADER_WORDS : 0;
  return codeBytes(q) + nested + 4 * scaleCount(q);
}

/** The words of a slot: the codes (padded to a word), nf4dq's scale codes and header, then the scales' bits. */
export function packQuantSlot(q: Sized, codes: Uint8Array, scales: Float32Array, nested?: QuantizedWeight['nested']): Uint32Array {
  const start = codeBytes(q);
  const head = q.dtype === 'nf4dq' ? start + scaleCodeBytes(q) : start;
  const scalesAt = q.dtype === 'nf4dq' ? head + 4 * HEADER_WORDS : start;
  const bytes = new Uint8Array(scalesAt + 4 * scales.length);
  bytes.set(codes);
  if (q.dtype === 'nf4dq') {
    if (!nested) throw new Error('an nf4dq slot needs its nested scales');
    bytes.set(nested.codes, start);
    const header = new Float32Array(HEADER_WORDS);
    header[NESTED_HEADER.offset] = nested.offset;
    header[NESTED_HEADER.negZero] = -0;
    header.set(DYNAMIC_MAP, NESTED_HEADER.map);
    bytes.set(new Uint8Array(header.buffer), head);
  }
  bytes.set(new Uint8Array(scales.buffer, scales.byteOffset, 4 * scales.length), scalesAt);
  return new Uint32Array(bytes.buffer);
}

/** The slot of a quantized weight. */
export const packQuantized = (w: QuantizedWeight): Uint32Array =>
  packQuantSlot({ dtype: w.dtype, rows: w.shape[0], cols: w.shape[1] }, w.codes, w.scales, w.dtype === 'nf4dq' ? nestedOf(w) : undefined);
