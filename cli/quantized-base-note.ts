// What a frozen dtype does to a base that `peftc quantize` stored as codes: the reader turns the
// codes back into the f32 values they stand for (runtime/io/quantized-weights.ts), and the
// frozen dtype then applies to those values as to any base. Said in one note, since a user who
// passes `--frozen-dtype int8` for an nf4 file may think the file's codes are kept.
import type { QuantDtype } from '../compiler/quant/weight.ts';
import { isQuantDtype } from '../compiler/quant/dtype.ts';

/**
 * The note for a base stored as `stored` codes run at frozen dtype `dtype` (`given`: it came from
 * --frozen-dtype, not a checkpoint's record); undefined where it computes with the file's numbers
 * as they are (no dtype, or the file's own).
 */
export function quantizedBaseNote(file: string, stored: QuantDtype | undefined, dtype: string | undefined, given: boolean): string | undefined {
  if (!stored || dtype === undefined || dtype === stored) return undefined;
  // A checkpoint records f32 for every run without the flag: no news there.
  if (!given && dtype === 'f32') return undefined;
  const which = given ? `--frozen-dtype ${dtype}` : `the recorded frozen dtype ${dtype}`;
  const what = isQuantDtype(dtype)
    ? `re-quantizes the values they stand for to ${dtype} (a second rounding; --frozen-dtype ${stored} keeps the file's numbers)`
    : dtype === 'f16'
      ? `uses the values they stand for, held in half floats on WebGPU`
      : `uses the f32 values they stand for (the same numbers, held in f32; --frozen-dtype ${stored} keeps them as codes on WebGPU)`;
  return `${file} holds the base's weight matrices as ${stored} codes; ${which} ${what}`;
}
