// layernorm and rmsnorm over the last axis, and their gradients. Row statistics are
// computed in f64 (two passes: mean, then the biased variance of x − mean).
// gamma and beta are [D] and dy is x's shape: the catalog's rules checked them.
import type { Tensor } from '../tensor.ts';
import { floatIn, floatOut, optFloatIn, rowsOf, type FloatArray, type KernelContext, type KernelOf } from './common.ts';

/** Mean and 1/sqrt(var + eps) of row r (biased variance). */
function rowStats(x: FloatArray, off: number, d: number, eps: number): [number, number] {
  let s = 0;
  for (let j = 0; j < d; j++) s += x[off + j]!;
  const mean = s / d;
  let v = 0;
  for (let j = 0; j < d; j++) {
    const c = x[off + j]! - mean;
    v += c * c;
  }
  return [mean, 1 / Math.sqrt(v / d + eps)];
}

/** 1/sqrt(mean(x²) + eps) of one row. */
function rowRms(x: FloatArray, off: number, d: number, eps: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += x[off + j]! * x[off + j]!;
  return 1 / Math.sqrt(s / d + eps);
}

/** layernorm: x [..., D], gamma? [D], beta? [D] → (x − mean)/sqrt(var + eps)·gamma + beta. */
export const layernorm: KernelOf<'layernorm'> = (inputs, { eps }, ctx) => {
  const op = 'layernorm';
  const x = floatIn(op, inputs, 0, 'x');
  const gamma = optFloatIn(op, inputs, 1, 'gamma');
  const beta = optFloatIn(op, inputs, 2, 'beta');
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, o = out.data, g = gamma?.data, b = beta?.data;
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const [mean, rstd] = rowStats(xd, off, d, eps);
    for (let j = 0; j < d; j++) {
      const xhat = (xd[off + j]! - mean) * rstd;
      o[off + j] = xhat * (g ? g[j]! : 1) + (b ? b[j]! : 0);
    }
  }
  return out;
};

/**
 * layernorm_grad_x: x, dy, gamma? → dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)), ĝ = dy · gamma.
 */
export const layernormGradX: KernelOf<'layernorm_grad_x'> = (inputs, { eps }, ctx) => {
  const op = 'layernorm_grad_x';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const gamma = optFloatIn(op, inputs, 2, 'gamma');
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, gy = dy.data, o = out.data, g = gamma?.data;
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const [mean, rstd] = rowStats(xd, off, d, eps);
    let sumG = 0;
    let sumGX = 0;
    for (let j = 0; j < d; j++) {
      const gj = gy[off + j]! * (g ? g[j]! : 1);
      sumG += gj;
      sumGX += gj * (xd[off + j]! - mean) * rstd;
    }
    const mG = sumG / d;
    const mGX = sumGX / d;
    for (let j = 0; j < d; j++) {
      const gj = gy[off + j]! * (g ? g[j]! : 1);
      const xhat = (xd[off + j]! - mean) * rstd;
      o[off + j] = rstd * (gj - mG - xhat * mGX);
    }
  }
  return out;
};

/**
 * Σ_rows dy · x̂ [D], the gamma gradient of both norms. Each row's x̂_j = (x_j − shift)·scale,
 * with (shift, scale) = (mean, 1/std) for layernorm and (0, 1/rms) for rmsnorm.
 */
function gammaGrad(op: string, inputs: Tensor[], eps: number, ctx: KernelContext, row: (x: FloatArray, off: number, d: number, eps: number) => [number, number]): Tensor {
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const [rows, d] = rowsOf(op, x.shape);
  const acc = new Float64Array(d);
  const xd = x.data, gy = dy.data;
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const [shift, scale] = row(xd, off, d, eps);
    for (let j = 0; j < d; j++) acc[j] += gy[off + j]! * (xd[off + j]! - shift) * scale;
  }
  const out = floatOut([d], ctx);
  out.data.set(acc);
  return out;
}

/** layernorm_grad_gamma: x, dy → Σ_rows dy · x̂ [D]. */
export const layernormGradGamma: KernelOf<'layernorm_grad_gamma'> = (inputs, { eps }, ctx) => gammaGrad('layernorm_grad_gamma', inputs, eps, ctx, rowStats);

/** rmsnorm: x [..., D], gamma [D] → x / sqrt(mean(x²) + eps) · gamma. */
export const rmsnorm: KernelOf<'rmsnorm'> = (inputs, { eps }, ctx) => {
  const op = 'rmsnorm';
  const x = floatIn(op, inputs, 0, 'x');
  const gamma = floatIn(op, inputs, 1, 'gamma');
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, o = out.data, g = gamma.data;
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const rr = rowRms(xd, off, d, eps);
    for (let j = 0; j < d; j++) o[off + j] = xd[off + j]! * rr * g[j]!;
  }
  return out;
};

/** rmsnorm_grad_x: x, dy, gamma → dx = r · (ĝ − x · r² · mean(ĝ · x)), ĝ = dy · gamma, r = 1/rms. */
export const rmsnormGradX: KernelOf<'rmsnorm_grad_x'> = (inputs, { eps }, ctx) => {
  const op = 'rmsnorm_grad_x';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const gamma = floatIn(op, inputs, 2, 'gamma');
  const [rows, d] = rowsOf(op, x.shape);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, gy = dy.data, o = out.data, g = gamma.data;
  for (let r = 0, off = 0; r < rows; r++, off += d) {
    const rr = rowRms(xd, off, d, eps);
    let sumGX = 0;
    for (let j = 0; j < d; j++) sumGX += gy[off + j]! * g[j]! * xd[off + j]!;
    const c = (rr * rr * sumGX) / d;
    for (let j = 0; j < d; j++) o[off + j] = rr * (gy[off + j]! * g[j]! - xd[off + j]! * c);
  }
  return out;
};

/** rmsnorm_grad_gamma: x, dy → Σ_rows dy · x / sqrt(mean(x²) + eps) [D]. */
export const rmsnormGradGamma: KernelOf<'rmsnorm_grad_gamma'> = (inputs, { eps }, ctx) =>
  gammaGrad('rmsnorm_grad_gamma', inputs, eps, ctx, (x, off, d, e) => [0, rowRms(x, off, d, e)]);
