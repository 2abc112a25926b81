// NormalFloat-4 (QLoRA, Dettmers et al. 2023) exactly as bitsandbytes stores it: values in
// blocks of 64 consecutive elements, each block scaled by its absolute maximum (one f32) into
// [-1, 1] and rounded to the nearest of 16 code values; two codes to a byte, the first value of
// each pair in the HIGH nibble (bitsandbytes' kQuantizeBlockwise: `q = code(v[2j]) << 4 | code(v[2j+1])`).

/** The 16 NF4 values (bitsandbytes' `dDequantizeNF4` / the QLoRA paper's appendix), index = code. */
export const NF4_CODE: readonly number[] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023,
  1.0,
];

/** bitsandbytes' NF4 block size (its default `blocksize=64` for 4-bit weights). */
export const NF4_BLOCK = 64;

/** Midpoints between neighbouring code values: the decision thresholds of bitsandbytes' `dQuantizeNF4`. */
const THRESHOLDS = NF4_CODE.slice(1).map((c, i) => (c + NF4_CODE[i]!) / 2);

export interface Nf4 {
  /** ceil(n / 2) bytes: element 2j in the high nibble of byte j, element 2j + 1 in the low nibble. */
  codes: Uint8Array;
  /** One f32 absolute maximum per block of 64 elements (the last block may be shorter). */
  absmax: Float32Array;
  /** Number of elements. */
  n: number;
}

/** The code whose value is nearest to x ∈ [-1, 1] (ties go up, as bitsandbytes' `x > threshold` tree). */
export function nf4Code(x: number): number {
  let c = 0;
  while (c < THRESHOLDS.length && x > THRESHOLDS[c]!) c++;
  return c;
}

/** Quantizes `values` (already in the order the blocks run along) to NF4. */
export function quantizeNf4(values: ArrayLike<number>, block = NF4_BLOCK): Nf4 {
  const n = values.length;
  const blocks = Math.ceil(n / block);
  const absmax = new Float32Array(blocks);
  const codes = new Uint8Array(Math.ceil(n / 2));
  for (let b = 0; b < blocks; b++) {
    const end = Math.min(n, (b + 1) * block);
    let m = 0;
    for (let i = b * block; i < end; i++) m = Math.max(m, Math.abs(values[i]!));
    absmax[b] = m;
    // bitsandbytes multiplies by the reciprocal in f32; a zero block codes every value as 0.0 (code 7).
    const inv = m === 0 ? 0 : Math.fround(1 / absmax[b]!);
    for (let i = b * block; i < end; i++) {
      const c = nf4Code(Math.fround(values[i]! * inv));
      codes[i >> 1] |= i % 2 === 0 ? c << 4 : c;
    }
  }
  if (n % 2 === 1) codes[n >> 1] |= 7; // the padding nibble holds 0.0
  return { codes, absmax, n };
}

/** The code of element i of a packed NF4 array. */
export const nf4CodeAt = (codes: Uint8Array, i: number): number => (i % 2 === 0 ? codes[i >> 1]! >> 4 : codes[i >> 1]! & 15);

/** The f32 values NF4 codes stand for: code value × the block's absmax, rounded to f32. */
export function dequantizeNf4(q: Nf4, block = NF4_BLOCK): Float32Array {
  const out = new Float32Array(q.n);
  for (let i = 0; i < q.n; i++) out[i] = NF4_CODE[nf4CodeAt(q.codes, i)]! * q.absmax[Math.floor(i / block)]!;
  return out;
}
