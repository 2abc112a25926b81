// Reading a quantized frozen weight inside a kernel (docs/quantization.md): the slot
// (compiler/quant/slot.ts) holds the codes, padded to a multiple of 4 bytes, then the f32 scales,
// all read through one array<u32> binding, so a kernel that reads a quantized matrix needs no
// second binding. `qw(i)` is element i of the weight in its stored row-major order, dequantized in
// f32 exactly as the CPU does (compiler/quant: code value × scale, one rounding), so a kernel can
// take it where it read f32: the matmul's B (matmul/) and the embedding table (embedding.ts).
import { NF4_BLOCK, NF4_CODE } from '../../compiler/quant/nf4.ts';
import type { TensorSpec } from '../../compiler/lower/kernels.ts';
import { isQuantDtype } from '../../compiler/quant/dtype.ts';
import { NF4DQ_SCALE_BLOCK } from '../../compiler/quant/nf4dq.ts';
import { codeBytes, NESTED_HEADER, scaleCodeBytes, slotBytes, type QuantTensor } from '../../compiler/quant/slot.ts';
import { DYNAMIC_MAP } from '../../compiler/quant/dynamic-map.ts';

export { codeBytes, packQuantSlot } from '../../compiler/quant/slot.ts';
/** A quantized weight as its reader sees it (compiler/quant/slot.ts). */
export type QuantReadSpec = QuantTensor;

/** Bytes a tensor of a kernel request occupies: 4 or 2 (f16) per element, or a quantized slot. */
export function storedBytes(t: TensorSpec): number {
  if (isQuantDtype(t.dtype) && t.shape.length === 2) {
    return slotBytes({ dtype: t.dtype, layout: t.layout ?? 'out_in', rows: t.shape[0]!, cols: t.shape[1]! });
  }
  return (t.dtype === 'f16' ? 2 : 4) * t.shape.reduce((a, b) => a * b, 1);
}

const f32 = (x: number): string => (Number.isInteger(x) ? `${x}.0` : `${x}`);

/**
 * WGSL for `fn <name>(i: u32) -> f32` over the array<u32> binding `v`: element i (stored order) of
 * the quantized weight. int8: the i-th byte, sign-extended, × its output channel's scale (a row's,
 * or a column's for Conv1D's [in, out]). nf4: the element's place p in block order (the
 * transpose's for [in, out]), its nibble (high for even p) and its block's absmax; nf4dq: the same
 * nibble, times the block's absmax dequantized from its 8-bit code (nestedScaleWgsl).
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
  const scale = q.dtype === 'nf4' ? `bitcast<f32>(${v}[${S}u + p / ${NF4_BLOCK}u])` : `${name}_scale(p / ${NF4_BLOCK}u)`;
  return [
    `var<private> ${name}_code: array<f32, 16> = array<f32, 16>(${NF4_CODE.map(f32).join(', ')});`,
    ...(q.dtype === 'nf4dq' ? [nestedScaleWgsl(q, `${name}_scale`, v)] : []),
    `fn ${name}(i: u32) -> f32 {`,
    `  let p = ${place};`,
    `  let j = p >> 1u;`,
    `  let c = extractBits(${v}[j >> 2u], (j & 3u) * 8u + select(4u, 0u, (p & 1u) == 1u), 4u);`,
    `  return ${name}_code[c] * ${scale};`,
    `}`,
  ].join('\n');
}

/**
 * nf4dq's absmax of NF4 block `blk` (a name no kernel binds), as bitsandbytes dequantizes it: map[code] · absmax2 + offset, two
 * f32 roundings. The map and -0.0 are read from the slot's header (compiler/quant/slot.ts): the
 * product goes through `+ -0.0` (exact) before the offset is added, so a compiler that fuses a
 * multiply and an add (SPIR-V allows it) fuses that one and the product is still rounded on its own.
 */
function nestedScaleWgsl(q: QuantReadSpec, name: string, v: string): string {
  const codes = codeBytes(q) / 4;
  const head = codes + scaleCodeBytes(q) / 4;
  const absmax2 = head + NESTED_HEADER.map + DYNAMIC_MAP.length;
  return [
    `fn ${name}(blk: u32) -> f32 {`,
    `  let s = extractBits(${v}[${codes}u + (blk >> 2u)], (blk & 3u) * 8u, 8u);`,
    `  let m = bitcast<f32>(${v}[${head + NESTED_HEADER.map}u + s]) * bitcast<f32>(${v}[${absmax2}u + blk / ${NF4DQ_SCALE_BLOCK}u]) + bitcast<f32>(${v}[${head + NESTED_HEADER.negZero}u]);`,
    `  return m + bitcast<f32>(${v}[${head + NESTED_HEADER.offset}u]);`,
    `}`,
  ].join('\n');
}
