// A frozen weight matrix in a quantized dtype, in the layout the model stores it (Hugging Face's),
// and which way its channels and blocks run:
// - `out_in` (nn.Linear, [out, in]): int8 scales per row; NF4 blocks along each row (the input
//   dimension), i.e. the flattened tensor as bitsandbytes quantizes nn.Linear.weight.
// - `in_out` (GPT-2's Conv1D, [in, out]): int8 scales per column (the output channel); NF4 over
//   the transpose, so blocks still run along the input dimension, as bitsandbytes quantizes
//   Conv1D once Transformers has turned it into an [out, in] Linear4bit.
// - `table` (an embedding, [rows, dim]): int8 scales per row (each token's vector); NF4 blocks
//   along the flattened table.
// nf4dq runs its blocks as nf4 does; its block absmaxes are quantized again (nf4dq.ts).
import { dequantizeInt8, quantizeInt8 } from './int8.ts';
import { recall, remember, valuesKey } from './known.ts';
import { dequantizeNf4, NF4_BLOCK, quantizeNf4 } from './nf4.ts';
import { dequantizeNf4dq, NF4DQ_SCALE_BLOCK, quantizeNf4dq } from './nf4dq.ts';
import type { QuantDtype, QuantizedWeight, WeightLayout } from './weight-types.ts';

export type { QuantDtype, QuantizedWeight, WeightLayout } from './weight-types.ts';

/** Bytes a quantized weight of `n` elements takes: its codes and its f32 scales. */
export function quantizedBytes(dtype: QuantDtype, shape: readonly number[], layout: WeightLayout): number {
  const n = shape[0]! * shape[1]!;
  if (dtype === 'int8') return n + 4 * (layout === 'in_out' ? shape[1]! : shape[0]!);
  const blocks = Math.ceil(n / NF4_BLOCK);
  if (dtype === 'nf4') return Math.ceil(n / 2) + 4 * blocks;
  // nf4dq: a byte per block's scale code, an f32 absmax per 256 blocks, the f32 offset
  return Math.ceil(n / 2) + blocks + 4 * Math.ceil(blocks / NF4DQ_SCALE_BLOCK) + 4;
}

/** int8's channel axis for a layout: the output channel (a column of Conv1D's [in, out]). */
const int8Axis = (layout: WeightLayout): 0 | 1 => (layout === 'in_out' ? 1 : 0);

/** [rows, cols] row-major → its transpose. */
function transpose(v: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c]!;
  return out;
}

export function quantizeWeight(values: ArrayLike<number>, shape: readonly number[], layout: WeightLayout, dtype: QuantDtype): QuantizedWeight {
  const [rows, cols] = [shape[0]!, shape[1]!];
  if (dtype === 'int8') {
    const q = quantizeInt8(values, rows, cols, int8Axis(layout));
    return { dtype, layout, shape: [rows, cols], codes: new Uint8Array(q.codes.buffer), scales: q.scales };
  }
  const blockOrder = () => (layout === 'in_out' ? transpose(values, rows, cols) : values);
  if (dtype === 'nf4') {
    const q = quantizeNf4(blockOrder());
    return { dtype, layout, shape: [rows, cols], codes: q.codes, scales: q.absmax };
  }
  const known = recall(valuesKey(values, shape, layout));
  if (known && sameValues(dequantizeWeight(known), values)) return known;
  const q = quantizeNf4dq(blockOrder());
  const w: QuantizedWeight = { dtype, layout, shape: [rows, cols], codes: q.codes, scales: q.scales.absmax, nested: { codes: q.scales.codes, offset: q.scales.offset } };
  rememberQuantized(w);
  return w;
}

/**
 * Makes `quantizeWeight` give `q` back for exactly the values `q` stands for (nf4dq, whose
 * quantization of its own values is not the identity: known.ts). Readers of a stored base call
 * it too, so --frozen-dtype nf4dq on a file `peftc quantize` wrote keeps the file's numbers.
 */
export function rememberQuantized(q: QuantizedWeight): void {
  if (q.dtype === 'nf4dq') remember(valuesKey(dequantizeWeight(q), q.shape, q.layout), q);
}

/** Bit-for-bit equality (a -0 is not a 0: the key hashes bits). */
function sameValues(a: Float32Array, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], Math.fround(b[i]!))) return false;
  return true;
}

/** The f32 values of a quantized weight, in its stored layout. */
export function dequantizeWeight(q: QuantizedWeight): Float32Array {
  const [rows, cols] = q.shape;
  if (q.dtype === 'int8') {
    const codes = new Int8Array(q.codes.buffer, q.codes.byteOffset, q.codes.length);
    return dequantizeInt8({ codes, scales: q.scales }, rows, cols, int8Axis(q.layout));
  }
  const n = rows * cols;
  const flat = q.dtype === 'nf4' ? dequantizeNf4({ codes: q.codes, absmax: q.scales, n }) : dequantizeNf4dq({ codes: q.codes, scales: { ...nestedOf(q), absmax: q.scales }, n });
  return q.layout === 'in_out' ? transpose(flat, cols, rows) : flat;
}

/** An nf4dq weight's nested scales; a weight without them is a caller's bug. */
export function nestedOf(q: QuantizedWeight): { codes: Uint8Array; offset: number } {
  if (!q.nested) throw new Error(`an ${q.dtype} weight [${q.shape.join(', ')}] without its nested scales`);
  return q.nested;
}
