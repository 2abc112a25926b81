// Reading a quantized frozen weight inside a kernel (docs/quantization.md): the slot holds the
// codes, padded to a multiple of 4 bytes, then the f32 scales, all read through one array<u32>
// binding, so a kernel that reads a quantized matrix needs no second binding. `qw(i)` is element
// i of the weight in its stored row-major order, dequantized in f32 exactly as the CPU does
// (compiler/quant: code value × scale, one rounding), so a kernel can take it where it read f32.
import type { WeightLayout } from '../../compiler/quant/weight.ts';
import { NF4_BLOCK, NF4_CODE } from '../../compiler/quant/nf4.ts';

export interface QuantReadSpec {
  dtype: 'int8' | 'nf4';
  layout: WeightLayout;
  /** The weight's stored shape. */
  rows: number;
  cols: number;
}

/** Bytes of the codes in a slot: one per element (int8) or one per two (nf4), padded to 4. */
export function codeBytes(q: QuantReadSpec): number {
  const n = q.rows * q.cols;
  return Math.ceil((q.dtype === 'int8' ? n : Math.ceil(n / 2)) / 4) * 4;
}

/** The words of a slot: the codes (padded to a word), then the scales' bits. */
export function packQuantSlot(q: QuantReadSpec, codes: Uint8Array, scales: Float32Array): Uint32Array {
  const bytes = new Uint8Array(codeBytes(q) + 4 * scales.length);
  bytes.set(codes);
  bytes.set(new Uint8Array(scales.buffer, scales.byteOffset, 4 * scales.length), codeBytes(q));
  return new Uint32Array(bytes.buffer);
}

const f32 = (x: number): string => (Number.isInteger(x) ? `${x}.0` : `${x}`);

/**
 * WGSL for `fn <name>(i: u32) -> f32` over the array<u32> binding `v`: element i (stored order) of
 * the quantized weight. int8: the i-th byte, sign-extended, × its output channel's scale (a row's,
 * or a column's for Conv1D's [in, out]). nf4: the element's place p in block order (the
 * transpose's for [in, out]), its nibble (high for even p) and its block's absmax.
 */
export function quantReadWgsl(q: QuantReadSpec, name: string, v: string): string {
  const S = codeBytes(q) / 4;
  if (q.dtype === 'int8') {
    const channel = q.layout === 'in_out' ? `i % ${q.cols}u` : `i / ${q.cols}u`;
    return [
      `fn ${name}(i: u32) -> f32 {`,
      `  let c = extractBits(bitcast<i32>(${v}[i >> 2u]), (i & 3u) * 8u, 8u);`,
      `  return f32(c) * bitcast<f32>(${v}[${S}u + ${channel}]);`,
      `}`,
    ].join('\n');
  }
  const place = q.layout === 'in_out' ? `(i % ${q.cols}u) * ${q.rows}u + i / ${q.cols}u` : 'i';
  return [
    `var<private> ${name}_code: array<f32, 16> = array<f32, 16>(${NF4_CODE.map(f32).join(', ')});`,
    `fn ${name}(i: u32) -> f32 {`,
    `  let p = ${place};`,
    `  let j = p >> 1u;`,
    `  let c = extractBits(${v}[j >> 2u], (j & 3u) * 8u + select(4u, 0u, (p & 1u) == 1u), 4u);`,
    `  return ${name}_code[c] * bitcast<f32>(${v}[${S}u + p / ${NF4_BLOCK}u]);`,
    `}`,
  ].join('\n');
}
