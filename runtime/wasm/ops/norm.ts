// layernorm and rmsnorm over the last axis and their gradients on f32 arrays. Row statistics
// are f64 sums, the mean and the variance of x − mean in two passes (one pass of Σx² loses the
// variance when the mean is large against the spread); a row of 768 floats stays in L1 between
// passes. Loops are split on whether gamma/beta are present so none tests it per element.
// Both norms' kernels run in WebAssembly SIMD (vector.wat) on f32 rows of a width that is a
// multiple of 4 (every Transformer's), the same formulas; other widths and f64 runs stay here.
import { floatIn, floatOut, optFloatIn, rowsOf, type FloatArray, type KernelOf } from '../../cpu/kernels/common.ts';
import { simd } from './vector.ts';

/** The SIMD loops when every array is f32 and rows are a positive multiple of 4 wide. */
function simdFor(d: number, ...arrays: (FloatArray | undefined)[]) {
  if (d === 0 || d % 4 !== 0) return undefined;
  for (const a of arrays) if (a && !(a instanceof Float32Array)) return undefined;
  return simd();
}

function rowMean(x: FloatArray, off: number, d: number): number {
  let s = 0;
  for (let j = off, end = off + d; j < end; j++) s += x[j]!;
  return s / d;
}

/** 1/sqrt(biased variance + eps) of the row, about its mean. */
function rowRstd(x: FloatArray, off: number, d: number, mean: number, eps: number): number {
  let v = 0;
  for (let j = off, end = off + d; j < end; j++) {
    const c = x[j]! - mean;
    v += c * c;
  }
  return 1 / Math.sqrt(v / d + eps);
}

/** 1/sqrt(mean(x²) + eps) of the row. */
function rowInvRms(x: FloatArray, off: number, d: number, eps: number): number {
  let s = 0;
  for (let j = off, end = off + d; j < end; j++) s += x[j]! * x[j]!;
  return 1 / Math.sqrt(s / d + eps);
}

/** layernorm: (x − mean)·rstd·gamma + beta, gamma and beta optional. */
export const layernorm: KernelOf<'layernorm'> = (inputs, { eps }, ctx) => {
  const op = 'layernorm';
  const x = floatIn(op, inputs, 0, 'x');
  const g = optFloatIn(op, inputs, 1, 'gamma')?.data;
  const b = optFloatIn(op, inputs, 2, 'beta')?.data;
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, o = out.data;
  const v = simdFor(d, xd, g, b, o);
  if (v) {
    v.layernorm(xd as Float32Array, g as Float32Array | undefined, b as Float32Array | undefined, o as Float32Array, d, eps);
    return out;
  }
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const mean = rowMean(xd, off, d);
    const rstd = rowRstd(xd, off, d, mean, eps);
    if (g && b) for (let j = 0; j < d; j++) o[off + j] = (xd[off + j]! - mean) * rstd * g[j]! + b[j]!;
    else if (g) for (let j = 0; j < d; j++) o[off + j] = (xd[off + j]! - mean) * rstd * g[j]!;
    else if (b) for (let j = 0; j < d; j++) o[off + j] = (xd[off + j]! - mean) * rstd + b[j]!;
    else for (let j = 0; j < d; j++) o[off + j] = (xd[off + j]! - mean) * rstd;
  }
  return out;
};

/** layernorm_grad_x: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = dy·gamma (gamma 1 when absent). */
export const layernormGradX: KernelOf<'layernorm_grad_x'> = (inputs, { eps }, ctx) => {
  const op = 'layernorm_grad_x';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const g = optFloatIn(op, inputs, 2, 'gamma')?.data;
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, gy = dy.data, o = out.data;
  const v = simdFor(d, xd, gy, g, o);
  if (v) {
    v.layernormGradX(xd as Float32Array, gy as Float32Array, g as Float32Array | undefined, o as Float32Array, d, eps);
    return out;
  }
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const mean = rowMean(xd, off, d);
    const rstd = rowRstd(xd, off, d, mean, eps);
    let sumG = 0;
    let sumGC = 0; // Σ ĝ·(x − mean)
    if (g) {
      for (let j = 0; j < d; j++) {
        const gj = gy[off + j]! * g[j]!;
        sumG += gj;
        sumGC += gj * (xd[off + j]! - mean);
      }
    } else {
      for (let j = off, end = off + d; j < end; j++) {
        sumG += gy[j]!;
        sumGC += gy[j]! * (xd[j]! - mean);
      }
    }
    // dx = rstd·ĝ + c·(x − mean) + k, c = −rstd³·Σĝ(x − mean)/d, k = −rstd·Σĝ/d.
    const c = (-rstd * rstd * rstd * sumGC) / d;
    const k = (-rstd * sumG) / d;
    if (g) for (let j = 0; j < d; j++) o[off + j] = rstd * gy[off + j]! * g[j]! + c * (xd[off + j]! - mean) + k;
    else for (let j = off, end = off + d; j < end; j++) o[j] = rstd * gy[j]! + c * (xd[j]! - mean) + k;
  }
  return out;
};

/** Σ_rows dy·(x − shift)·scale [D], the gamma gradient of both norms, summed in f64. */
function gammaGrad(x: FloatArray, gy: FloatArray, rows: number, d: number, row: (off: number) => [number, number]): Float64Array {
  const acc = new Float64Array(d);
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const [shift, scale] = row(off);
    for (let j = 0; j < d; j++) acc[j] += gy[off + j]! * (x[off + j]! - shift) * scale;
  }
  return acc;
}

/** layernorm_grad_gamma: Σ_rows dy·x̂ [D]. */
export const layernormGradGamma: KernelOf<'layernorm_grad_gamma'> = (inputs, { eps }, ctx) => {
  const op = 'layernorm_grad_gamma';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const [rows, d] = rowsOf(op, x.shape);
  const v = simdFor(d, x.data, dy.data);
  const acc = v
    ? v.normGradGamma('layernorm', x.data as Float32Array, dy.data as Float32Array, d, eps)
    : gammaGrad(x.data, dy.data, rows, d, (off) => {
        const mean = rowMean(x.data, off, d);
        return [mean, rowRstd(x.data, off, d, mean, eps)];
      });
  const out = floatOut([d], ctx);
  out.data.set(acc);
  return out;
};

/** rmsnorm: x·(1/rms)·gamma. */
export const rmsnorm: KernelOf<'rmsnorm'> = (inputs, { eps }, ctx) => {
  const op = 'rmsnorm';
  const x = floatIn(op, inputs, 0, 'x');
  const g = floatIn(op, inputs, 1, 'gamma').data;
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, o = out.data;
  const v = simdFor(d, xd, g, o);
  if (v) {
    v.rmsnorm(xd as Float32Array, g as Float32Array, o as Float32Array, d, eps);
    return out;
  }
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const rr = rowInvRms(xd, off, d, eps);
    for (let j = 0; j < d; j++) o[off + j] = xd[off + j]! * rr * g[j]!;
  }
  return out;
};

/** rmsnorm_grad_x: dx = r·(ĝ − x·r²·mean(ĝ·x)), ĝ = dy·gamma, r = 1/rms. */
export const rmsnormGradX: KernelOf<'rmsnorm_grad_x'> = (inputs, { eps }, ctx) => {
  const op = 'rmsnorm_grad_x';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const g = floatIn(op, inputs, 2, 'gamma').data;
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, gy = dy.data, o = out.data;
  const v = simdFor(d, xd, gy, g, o);
  if (v) {
    v.rmsnormGradX(xd as Float32Array, gy as Float32Array, g as Float32Array, o as Float32Array, d, eps);
    return out;
  }
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const rr = rowInvRms(xd, off, d, eps);
    let sumGX = 0;
    for (let j = 0; j < d; j++) sumGX += gy[off + j]! * g[j]! * xd[off + j]!;
    const c = (rr * rr * rr * sumGX) / d;
    for (let j = 0; j < d; j++) o[off + j] = rr * gy[off + j]! * g[j]! - xd[off + j]! * c;
  }
  return out;
};

/** rmsnorm_grad_gamma: Σ_rows dy·x/rms [D]. */
export const rmsnormGradGamma: KernelOf<'rmsnorm_grad_gamma'> = (inputs, { eps }, ctx) => {
  const op = 'rmsnorm_grad_gamma';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const [rows, d] = rowsOf(op, x.shape);
  const v = simdFor(d, x.data, dy.data);
  const acc = v
    ? v.normGradGamma('rmsnorm', x.data as Float32Array, dy.data as Float32Array, d, eps)
    : gammaGrad(x.data, dy.data, rows, d, (off) => [0, rowInvRms(x.data, off, d, eps)]);
  const out = floatOut([d], ctx);
  out.data.set(acc);
  return out;
};
