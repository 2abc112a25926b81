// A quantized base in one safetensors file (`peftc quantize`, docs/quantization.md): each
// quantized matrix P as two tensors, `P.qcodes` (int8: I8 [rows, cols] in the stored order; nf4:
// U8 [ceil(n / 2)], two codes a byte in block order, the first in the high nibble) and `P.qscales`
// (F32: one scale per output channel, or one absmax per block of 64; nf4dq: one second-level
// absmax per 256 blocks, with `P.qscale_codes`, U8 [blocks], the 8-bit codes of the block absmaxes,
// and `P.qoffset`, F32 [1], their mean); every other tensor as it
// was, in F32. The metadata names the scheme (`peftc.quantization`: int8 | nf4 | nf4dq) and, as JSON,
// each quantized matrix's shape and layout (`peftc.quantized`: { P: { shape, layout } }).
// Readers turn the file back into F32 tensors by name, so every verb that loads weights loads it.
import { isQuantDtype } from '../../compiler/quant/dtype.ts';
import { NF4DQ_SCALE_BLOCK } from '../../compiler/quant/nf4dq.ts';
import { nf4Blocks, scaleCount } from '../../compiler/quant/slot.ts';
import { dequantizeWeight, nestedOf, rememberQuantized, type QuantDtype, type QuantizedWeight, type WeightLayout } from '../../compiler/quant/weight.ts';
import { NF4_BLOCK } from '../../compiler/quant/nf4.ts';
import { SafetensorsError, type ReadTensor, type SafetensorsFile, type WriteTensor } from './safetensors.ts';

export const SCHEME_KEY = 'peftc.quantization';
export const MATRICES_KEY = 'peftc.quantized';
const LAYOUTS: readonly WeightLayout[] = ['out_in', 'in_out', 'table'];

/** The tensors and metadata of a quantized base: quantized matrices and the other tensors in f32. */
export function quantizedTensors(dtype: QuantDtype, matrices: ReadonlyMap<string, QuantizedWeight>, rest: ReadonlyMap<string, WriteTensor>): { tensors: Map<string, WriteTensor>; metadata: Record<string, string> } {
  const tensors = new Map(rest);
  const index: Record<string, { shape: number[]; layout: WeightLayout }> = {};
  for (const [path, q] of matrices) {
    const n = q.shape[0] * q.shape[1];
    tensors.set(`${path}.qcodes`, dtype === 'int8' ? { dtype: 'I8', shape: q.shape, data: new Int8Array(q.codes.buffer, q.codes.byteOffset, n) } : { dtype: 'U8', shape: [q.codes.length], data: q.codes });
    tensors.set(`${path}.qscales`, { dtype: 'F32', shape: [q.scales.length], data: q.scales });
    if (dtype === 'nf4dq') {
      const nested = nestedOf(q);
      tensors.set(`${path}.qscale_codes`, { dtype: 'U8', shape: [nested.codes.length], data: nested.codes });
      tensors.set(`${path}.qoffset`, { dtype: 'F32', shape: [1], data: Float32Array.of(nested.offset) });
    }
    index[path] = { shape: q.shape, layout: q.layout };
  }
  const metadata: Record<string, string> = { [SCHEME_KEY]: dtype, [MATRICES_KEY]: JSON.stringify(index) };
  if (dtype !== 'int8') Object.assign(metadata, { 'peftc.nf4.block': String(NF4_BLOCK), 'peftc.nf4.packing': 'element 2j in the high nibble of byte j' });
  if (dtype === 'nf4dq') Object.assign(metadata, { 'peftc.nf4dq.scale_block': String(NF4DQ_SCALE_BLOCK), 'peftc.nf4dq.map': 'bitsandbytes create_dynamic_map(signed=True)' });
  return { tensors, metadata };
}

/** A file as read, with its quantized matrices dequantized to F32 tensors under their own names (others unchanged). */
export function dequantizeFile(file: SafetensorsFile, where: string): SafetensorsFile {
  const q = quantizedMatrices(file, where);
  if (!q) return file;
  const tensors = new Map(file.tensors);
  for (const [path, w] of q.matrices) {
    tensors.delete(`${path}.qcodes`);
    for (const part of ['qscales', 'qscale_codes', 'qoffset']) tensors.delete(`${path}.${part}`);
    rememberQuantized(w); // --frozen-dtype nf4dq on this file keeps its numbers (compiler/quant/known.ts)
    tensors.set(path, { dtype: 'F32', stored: 'F32', shape: [...w.shape], data: dequantizeWeight(w) });
  }
  return { tensors, metadata: file.metadata };
}

/**
 * The quantized matrices of a file (codes and scales, checked against their shape and layout),
 * by parameter path; undefined for a file without quantized parts. A built trainer uploads
 * these codes as they are (runtime/standalone/weights.ts).
 */
export function quantizedMatrices(file: SafetensorsFile, where: string): { dtype: QuantDtype; matrices: Map<string, QuantizedWeight> } | undefined {
  const scheme = file.metadata?.[SCHEME_KEY];
  if (scheme === undefined) return undefined;
  const bad = (msg: string, tensor?: string) => new SafetensorsError('metadata', `${where}: ${msg}`, tensor);
  if (!isQuantDtype(scheme)) throw bad(`${SCHEME_KEY} must be int8, nf4 or nf4dq, not \`${scheme}\``);
  let index: Record<string, { shape?: unknown; layout?: unknown }>;
  try {
    index = JSON.parse(file.metadata?.[MATRICES_KEY] ?? '');
    if (typeof index !== 'object' || index === null || Array.isArray(index)) throw new Error();
  } catch {
    throw bad(`${MATRICES_KEY} must be a JSON object of { shape, layout } by parameter`);
  }
  const matrices = new Map<string, QuantizedWeight>();
  for (const [path, info] of Object.entries(index)) matrices.set(path, matrixOf(file, path, info, scheme, bad));
  return { dtype: scheme, matrices };
}

function matrixOf(file: SafetensorsFile, path: string, info: { shape?: unknown; layout?: unknown }, dtype: QuantDtype, bad: (m: string, t?: string) => SafetensorsError): QuantizedWeight {
  const shape = info?.shape;
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) throw bad(`${MATRICES_KEY}: ${path} needs a shape of two positive integers`, path);
  const layout = info.layout as WeightLayout;
  if (!LAYOUTS.includes(layout)) throw bad(`${MATRICES_KEY}: ${path} has layout \`${String(info.layout)}\`, not one of ${LAYOUTS.join(', ')}`, path);
  const [rows, cols] = shape as [number, number];
  const codes = tensorOf(file, `${path}.qcodes`, dtype === 'int8' ? 'I8' : 'U8', bad);
  const scales = tensorOf(file, `${path}.qscales`, 'F32', bad);
  const n = rows * cols;
  const wantCodes = dtype === 'int8' ? n : Math.ceil(n / 2);
  const wantScales = scaleCount({ dtype, layout, rows, cols });
  if (codes.data.length !== wantCodes) throw bad(`${path}.qcodes has ${codes.data.length} elements; a ${dtype} [${rows}, ${cols}] matrix has ${wantCodes}`, `${path}.qcodes`);
  if (scales.data.length !== wantScales) throw bad(`${path}.qscales has ${scales.data.length} elements; a ${dtype} [${rows}, ${cols}] ${layout} matrix has ${wantScales}`, `${path}.qscales`);
  const c = codes.data as Int8Array | Uint8Array;
  const q: QuantizedWeight = { dtype, layout, shape: [rows, cols], codes: new Uint8Array(c.buffer, c.byteOffset, c.length), scales: scales.data as Float32Array };
  if (dtype === 'nf4dq') q.nested = nestedScalesOf(file, path, nf4Blocks({ dtype, rows, cols }), bad);
  return q;
}

/** nf4dq's 8-bit codes of the block absmaxes (one per block) and their offset (one f32). */
function nestedScalesOf(file: SafetensorsFile, path: string, blocks: number, bad: (m: string, t?: string) => SafetensorsError): { codes: Uint8Array; offset: number } {
  const codes = tensorOf(file, `${path}.qscale_codes`, 'U8', bad);
  const offset = tensorOf(file, `${path}.qoffset`, 'F32', bad);
  if (codes.data.length !== blocks) throw bad(`${path}.qscale_codes has ${codes.data.length} elements; the matrix has ${blocks} blocks of ${NF4_BLOCK}`, `${path}.qscale_codes`);
  if (offset.data.length !== 1) throw bad(`${path}.qoffset has ${offset.data.length} elements, not 1`, `${path}.qoffset`);
  return { codes: codes.data as Uint8Array, offset: (offset.data as Float32Array)[0]! };
}

function tensorOf(file: SafetensorsFile, name: string, dtype: 'I8' | 'U8' | 'F32', bad: (m: string, t?: string) => SafetensorsError): ReadTensor {
  const t = file.tensors.get(name);
  if (!t) throw bad(`the quantized file has no tensor ${name}`, name);
  if (t.dtype !== dtype) throw bad(`${name} must be ${dtype}, not ${t.dtype}`, name);
  return t;
}
