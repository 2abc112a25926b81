// exp for the wasm backend's f32 kernels. V8's Math.exp is the exact fdlibm routine, slow
// enough (~20 ns a value on this machine) that softmax over GPT-2's 50257 logits and the GELUs
// spend most of their time in it. Here x = (64m + j)·ln2/64 + r with |r| ≤ ln2/128, and
// e^x = 2^m · 2^(j/64) · p(r), p the degree-4 Taylor polynomial (relative error ≤ 1e-13,
// far below f32's 6e-8 rounding), both powers of 2 from tables: ~1.8× faster than Math.exp in
// the kernels' loops (CPU time, measured interleaved).

// ln 2 / 64 split so that k·LN2_64_HI is exact for the |k| < 2^17 used here (Cody–Waite).
const LN2_64_HI = 0.6931471803691238 / 64;
const LN2_64_LO = 1.9082149292705877e-10 / 64;
const INV_LN2_64 = 64 * Math.LOG2E;
// Adding then subtracting 1.5·2^52 rounds a double to the nearest integer without a call.
const ROUND = 6755399441055744;
const BIAS = 1023;
/** 2^(i − BIAS) for the normal range's exponents. */
const POW2 = Float64Array.from({ length: 2 * BIAS + 1 }, (_, i) => Math.pow(2, i - BIAS));
/** 2^(j/64), j = 0..63. */
const POW2_64THS = Float64Array.from({ length: 64 }, (_, j) => Math.pow(2, j / 64));

/**
 * e^x for any double x. Past ±708 (results near overflow or subnormal, and NaN) it is Math.exp,
 * so 2^m stays a normal number.
 */
export function fastExp(x: number): number {
  if (!(x > -708 && x < 708)) return Math.exp(x);
  const k = x * INV_LN2_64 + ROUND - ROUND;
  const r = x - k * LN2_64_HI - k * LN2_64_LO;
  const ki = k | 0;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24))));
  return p * POW2_64THS[ki & 63]! * POW2[(ki >> 6) + BIAS]!;
}
