// NF4 with double-quantized block scales (QLoRA's "double quantization"), as bitsandbytes'
// `quantize_4bit(..., compress_statistics=True)` does it: the NF4 codes and the f32 absmax of
// each block of 64 exactly as plain NF4 (nf4.ts; the codes are taken against the exact absmax),
// then the absmaxes' mean (`offset`) is subtracted and the differences are quantized blockwise
// (`quantize_blockwise(absmax - offset, blocksize=256)`): one f32 absmax per 256 of them and one
// 8-bit code each in the signed dynamic map (dynamic-map.ts). Dequantizing a block's scale is
// `dynamic[code] · absmax2 + offset`, two f32 roundings (`dequantize_blockwise`, then `+= offset`),
// and a value is then `NF4[code] · scale`, as in plain NF4.
import { DYNAMIC_MAP, dynamicCode } from './dynamic-map.ts';
import { dequantizeNf4, quantizeNf4 } from './nf4.ts';

/** bitsandbytes' block size for the absmaxes' own quantization (`blocksize=256` in quantize_4bit). */
export const NF4DQ_SCALE_BLOCK = 256;

const f = Math.fround;

/** The block absmaxes of an NF4 tensor, quantized: 8-bit codes, their f32 absmaxes, the offset. */
export interface NestedScales {
  /** One code in the dynamic map per NF4 block. */
  codes: Uint8Array;
  /** One f32 absmax per 256 codes (the second level). */
  absmax: Float32Array;
  /** The mean of the absmaxes (f32), subtracted before quantizing them. */
  offset: number;
}

export interface Nf4dq {
  /** ceil(n / 2) bytes of NF4 codes, as plain NF4 packs them. */
  codes: Uint8Array;
  scales: NestedScales;
  /** Number of elements. */
  n: number;
}

/**
 * The mean of the absmaxes, summed in f64 and rounded to f32 once (torch's f32 reduction, whose
 * order depends on the device, can differ in the last bit; a stored base records its offset).
 */
function meanF32(xs: Float32Array): number {
  let sum = 0;
  for (const x of xs) sum += x;
  return f(sum / xs.length);
}

/** bitsandbytes' blockwise 8-bit quantization (kQuantizeBlockwise, General8bit) of `absmax − offset`. */
export function quantizeBlockScales(absmax: Float32Array): NestedScales {
  const offset = meanF32(absmax);
  const centred = absmax.map((a) => f(a - offset));
  const blocks = Math.ceil(centred.length / NF4DQ_SCALE_BLOCK);
  const absmax2 = new Float32Array(blocks);
  const codes = new Uint8Array(centred.length);
  for (let b = 0; b < blocks; b++) {
    const [start, end] = [b * NF4DQ_SCALE_BLOCK, Math.min(centred.length, (b + 1) * NF4DQ_SCALE_BLOCK)];
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(centred[i]!));
    absmax2[b] = m;
    // x · (1/absmax) in f32; a block of zeros (every absmax at the mean) is 0 · (1/0) = NaN on
    // the GPU, which codes 0 (and bitsandbytes' CPU kernel writes 0): its values come back as 0.
    const inv = f(1 / m);
    for (let i = start; i < end; i++) codes[i] = m === 0 ? 0 : dynamicCode(f(centred[i]! * inv));
  }
  return { codes, absmax: absmax2, offset };
}

/** The f32 block absmaxes nested scales stand for: dynamic[code] · absmax2, then + offset. */
export function dequantizeBlockScales(s: NestedScales): Float32Array {
  return Float32Array.from(s.codes, (c, i) => f(f(DYNAMIC_MAP[c]! * s.absmax[Math.floor(i / NF4DQ_SCALE_BLOCK)]!) + s.offset));
}

/** Quantizes `values` (already in block order) to NF4 with double-quantized block scales. */
export function quantizeNf4dq(values: ArrayLike<number>): Nf4dq {
  const q = quantizeNf4(values);
  return { codes: q.codes, scales: quantizeBlockScales(q.absmax), n: q.n };
}

/** The f32 values: NF4[code] × the block's dequantized absmax. */
export function dequantizeNf4dq(q: Nf4dq): Float32Array {
  return dequantizeNf4({ codes: q.codes, absmax: dequantizeBlockScales(q.scales), n: q.n });
}
