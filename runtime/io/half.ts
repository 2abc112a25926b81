// 16-bit floats as raw bits (Uint16Array): IEEE half (F16) and bfloat16 (BF16).
// Widening to f32 is exact; narrowing from f32 rounds to nearest, ties to even, so the bits
// equal PyTorch's `x.to(torch.float16 | torch.bfloat16)` for every non-NaN x (checked against
// test/fixtures/safetensors/dtypes.safetensors). NaN becomes a quiet NaN: f16 sign | 0x7e00
// (as PyTorch), bf16 0x7fc0 (PyTorch's scalar path; its vectorised CPU path gives 0xffff).

/** f16 bits → f32 value, exact (every half is a float). NaN payloads are kept. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, NaN
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal half: mant · 2^-24. Normalise so the leading 1 becomes the implicit bit.
  let e = 113; // biased f32 exponent of 2^-14, lowered once per shift below
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** f32 bits → f16 bits, round to nearest even; overflow gives ±inf. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 : sign | 0x7c00;
  const e = exp - 112; // biased f16 exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value = full · 2^(exp-150), in units of 2^-24 → full >> (14 - e).
    if (e < -10) return sign; // below half the smallest subnormal (f32 subnormals land here too)
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (m & 1) === 1)) m++;
    return sign | m; // m may carry into the smallest normal, which is the right encoding
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // may carry up to ±inf: correct
  return h;
}

/** bf16 bits → f32 bits (exact: bf16 is the top half of an f32). */
export function bf16BitsToF32Bits(b: number): number {
  return (b << 16) >>> 0;
}

/** f32 bits → bf16 bits, round to nearest even; NaN → 0x7fc0. */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return 0x7fc0;
  const lsb = (x >>> 16) & 1;
  return ((x >>> 0) + 0x7fff + lsb) >>> 16;
}

/** Widens raw F16 or BF16 bits into a new Float32Array. */
export function halfToFloat32(bits: Uint16Array, kind: 'F16' | 'BF16'): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  if (kind === 'BF16') for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  else for (let i = 0; i < bits.length; i++) u[i] = f16BitsToF32Bits(bits[i]!);
  return out;
}

/** Narrows f32 values into raw F16 or BF16 bits. */
export function float32ToHalf(values: Float32Array, kind: 'F16' | 'BF16'): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  if (kind === 'BF16') for (let i = 0; i < u.length; i++) out[i] = f32BitsToBf16Bits(u[i]!);
  else for (let i = 0; i < u.length; i++) out[i] = f32BitsToF16Bits(u[i]!);
  return out;
}
