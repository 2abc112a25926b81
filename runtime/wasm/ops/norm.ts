// layernorm and rmsnorm over the last axis and their gradients in WebAssembly SIMD (vector.wat)
// on f32 rows of a width that is a multiple of 4 (every Transformer's): f64 row statistics, the
// mean and then the variance of x − mean (one pass of Σx² loses the variance when the mean is
// large against the spread). Other widths and f64 runs are the reference's kernels
// (runtime/cpu/kernels/norm.ts), the same formulas; so are the operand checks.
import * as ref from '../../cpu/kernels/norm.ts';
import { floatIn, floatOut, optFloatIn, rowsOf, type FloatArray, type FloatTensor, type KernelContext, type KernelOf } from '../../cpu/kernels/common.ts';
import { simd } from './vector.ts';

/** The SIMD loops when the run and every array are f32 and rows are a positive multiple of 4 wide. */
function simdFor(ctx: KernelContext, d: number, ...arrays: (FloatArray | undefined)[]) {
  if (ctx.precision !== 'f32' || d === 0 || d % 4 !== 0) return undefined;
  for (const a of arrays) if (a && !(a instanceof Float32Array)) return undefined;
  return simd();
}

const f32 = (t: FloatTensor | undefined) => t?.data as Float32Array | undefined;

/** layernorm: (x − mean)·rstd·gamma + beta, gamma and beta optional. */
export const layernorm: KernelOf<'layernorm'> = (inputs, attrs, ctx) => {
  const op = 'layernorm';
  const x = floatIn(op, inputs, 0, 'x');
  const g = optFloatIn(op, inputs, 1, 'gamma');
  const b = optFloatIn(op, inputs, 2, 'beta');
  const d = rowsOf(op, x.shape)[1];
  const v = simdFor(ctx, d, x.data, g?.data, b?.data);
  if (!v) return ref.layernorm(inputs, attrs, ctx);
  const out = floatOut(x.shape, ctx);
  v.layernorm(f32(x)!, f32(g), f32(b), f32(out)!, d, attrs.eps);
  return out;
};

/** layernorm_grad_x: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = dy·gamma (gamma 1 when absent). */
export const layernormGradX: KernelOf<'layernorm_grad_x'> = (inputs, attrs, ctx) => {
  const op = 'layernorm_grad_x';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const g = optFloatIn(op, inputs, 2, 'gamma');
  const d = rowsOf(op, x.shape)[1];
  const v = simdFor(ctx, d, x.data, dy.data, g?.data);
  if (!v) return ref.layernormGradX(inputs, attrs, ctx);
  const out = floatOut(x.shape, ctx);
  v.layernormGradX(f32(x)!, f32(dy)!, f32(g), f32(out)!, d, attrs.eps);
  return out;
};

/** layernorm_grad_gamma: Σ_rows dy·x̂ [D], summed in f64. */
export const layernormGradGamma: KernelOf<'layernorm_grad_gamma'> = (inputs, attrs, ctx) => {
  const op = 'layernorm_grad_gamma';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const d = rowsOf(op, x.shape)[1];
  const v = simdFor(ctx, d, x.data, dy.data);
  if (!v) return ref.layernormGradGamma(inputs, attrs, ctx);
  const out = floatOut([d], ctx);
  out.data.set(v.normGradGamma('layernorm', f32(x)!, f32(dy)!, d, attrs.eps));
  return out;
};

/** rmsnorm: x·r·gamma, r = 1/sqrt(mean(x²) + eps). */
export const rmsnorm: KernelOf<'rmsnorm'> = (inputs, attrs, ctx) => {
  const op = 'rmsnorm';
  const x = floatIn(op, inputs, 0, 'x');
  const g = floatIn(op, inputs, 1, 'gamma');
  const d = rowsOf(op, x.shape)[1];
  const v = simdFor(ctx, d, x.data, g.data);
  if (!v) return ref.rmsnorm(inputs, attrs, ctx);
  const out = floatOut(x.shape, ctx);
  v.rmsnorm(f32(x)!, f32(g)!, f32(out)!, d, attrs.eps);
  return out;
};

/** rmsnorm_grad_x: dx = r·(ĝ − x·r²·mean(ĝ·x)), ĝ = dy·gamma, r = 1/rms. */
export const rmsnormGradX: KernelOf<'rmsnorm_grad_x'> = (inputs, attrs, ctx) => {
  const op = 'rmsnorm_grad_x';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const g = floatIn(op, inputs, 2, 'gamma');
  const d = rowsOf(op, x.shape)[1];
  const v = simdFor(ctx, d, x.data, dy.data, g.data);
  if (!v) return ref.rmsnormGradX(inputs, attrs, ctx);
  const out = floatOut(x.shape, ctx);
  v.rmsnormGradX(f32(x)!, f32(dy)!, f32(g)!, f32(out)!, d, attrs.eps);
  return out;
};

/** rmsnorm_grad_gamma: Σ_rows dy·x·r [D], summed in f64. */
export const rmsnormGradGamma: KernelOf<'rmsnorm_grad_gamma'> = (inputs, attrs, ctx) => {
  const op = 'rmsnorm_grad_gamma';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const d = rowsOf(op, x.shape)[1];
  const v = simdFor(ctx, d, x.data, dy.data);
  if (!v) return ref.rmsnormGradGamma(inputs, attrs, ctx);
  const out = floatOut([d], ctx);
  out.data.set(v.normGradGamma('rmsnorm', f32(x)!, f32(dy)!, d, attrs.eps));
  return out;
};
