// Reading a quantized frozen weight inside a kernel (docs/quantization.md): the slot
// (compiler/quant/slot.ts) holds the codes, padded to a multiple of 4 bytes, then the f32 scales,
// all read through one array<u32> binding, so a kernel that reads a quantized matrix needs no
// second binding. `qw(i)` is element i of the weight in its stored row-major order, dequantized in
// f32 exactly as the CPU does (compiler/quant: code value × scale, one rounding), so a kernel can
// take it where it read f32: the matmul's B (matmul/) and the embedding table (embedding.ts).
import { NF4_BLOCK, NF4_CODE } from '../../compiler/quant/nf4.ts';
import type { TensorSpec } from '../../compiler/lower/kernels.ts';
import { codeBytes, slotBytes, type QuantTensor } from '../../compiler/quant/slot.ts';

export { codeBytes, packQuantSlot } from '../../compiler/quant/slot.ts';
/** A quantized weight as its reader sees it (compiler/quant/slot.ts). */
export type QuantReadSpec = QuantTensor;

/** Bytes a tensor of a kernel request occupies: 4 or 2 (f16) per element, or a quantized slot. */
export function storedBytes(t: TensorSpec): number {
  if ((t.dtype === 'int8' || t.dtype === 'nf4') && t.shape.length === 2) {
    return slotBytes({ dtype: t.dtype, layout: t.layout ?? 'out_in', rows: t.shape[0]!, cols: t.shape[1]! });
  }
  return (t.dtype === 'f16' ? 2 : 4) * t.shape.reduce((a, b) => a * b, 1);
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
