// GELU in both forms and their gradients, elementwise, one exp per value (two for gelu_erf's
// gradient); on f32 arrays in WebAssembly SIMD (vector.wat), the same formulas.
// The tanh form: 0.5·(1 + tanh(u)) is the logistic σ(2u) = 1/(1 + e^(−2u)), so
// gelu = x·σ(2u) needs no Math.tanh (slow in V8) and no 1 − 2/(e^(2u) + 1), which cancels near 0.
// The exact form: Φ(x) = 0.5·erfc(−x/√2), erfc by the Chebyshev fit of Numerical Recipes
// (relative error < 1.2e-7 everywhere, so Φ of a large negative x keeps its digits).
import { floatIn, floatOut, type FloatTensor, type Kernel, type KernelOf } from '../../cpu/kernels/common.ts';
import { fastExp } from './exp.ts';
import { simd } from './vector.ts';

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;
// Past this, e^(−2u) would overflow and σ(2u)·(1 − σ(2u)) is below 1e-34: σ is 0 to f32.
const MAX_EXPONENT = 80;

/** x, and dy for a gradient, checked as the reference checks them (the catalog checked shapes). */
function operands(op: string, inputs: Parameters<Kernel>[0], grad: boolean) {
  const x = floatIn(op, inputs, 0, 'x');
  const dy = grad ? floatIn(op, inputs, 1, 'dy') : x;
  return { x: x.data, dy: dy.data, shape: x.shape };
}

/** gelu: x·σ(2u), u = √(2/π)·(x + 0.044715·x³). */
export const gelu: KernelOf<'gelu'> = (inputs, _attrs, ctx) => {
  const { x, shape } = operands('gelu', inputs, false);
  const out: FloatTensor = floatOut(shape, ctx);
  const o = out.data;
  const v = simd();
  if (v && x instanceof Float32Array && o instanceof Float32Array) {
    v.unary('gelu', x, o);
    return out;
  }
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const e = fastExp(Math.min(-2 * GELU_C * (v + GELU_A * v * v * v), MAX_EXPONENT));
    o[i] = v / (1 + e);
  }
  return out;
};

/** gelu_grad: dy·(s + 2x·s(1 − s)·√(2/π)·(1 + 3·0.044715·x²)), s = σ(2u), 1 − s = e^(−2u)·s. */
export const geluGrad: KernelOf<'gelu_grad'> = (inputs, _attrs, ctx) => {
  const { x, dy, shape } = operands('gelu_grad', inputs, true);
  const out = floatOut(shape, ctx);
  const o = out.data;
  const vec = simd();
  if (vec && x instanceof Float32Array && dy instanceof Float32Array && o instanceof Float32Array) {
    vec.binary('gelu_grad', x, dy, o);
    return out;
  }
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const v2 = v * v;
    const e = fastExp(Math.min(-2 * GELU_C * v * (1 + GELU_A * v2), MAX_EXPONENT));
    const s = 1 / (1 + e);
    o[i] = dy[i]! * (s + 2 * v * e * s * s * GELU_C * (1 + 3 * GELU_A * v2));
  }
  return out;
};

/**
 * erfc(z)·e^(z²) for z ≥ 0 is t·e^(P(t)), t = 1/(1 + z/2); returns erfc(z) = t·e^(P(t) − z²).
 * Numerical Recipes §6.2 (erfcc), fractional error < 1.2e-7.
 */
function erfcNonNeg(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  const p =
    -1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * fastExp(p - z * z);
}

/** Φ(x) = 0.5·erfc(−x/√2): the small side computed directly, 1 − that on the other. */
function normalCdf(x: number): number {
  const z = x * Math.SQRT1_2;
  return z < 0 ? 0.5 * erfcNonNeg(-z) : 1 - 0.5 * erfcNonNeg(z);
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** gelu_erf: x·Φ(x). */
export const geluErf: KernelOf<'gelu_erf'> = (inputs, _attrs, ctx) => {
  const { x, shape } = operands('gelu_erf', inputs, false);
  const out = floatOut(shape, ctx);
  const o = out.data;
  const v = simd();
  if (v && x instanceof Float32Array && o instanceof Float32Array) {
    v.unary('gelu_erf', x, o);
    return out;
  }
  for (let i = 0; i < x.length; i++) o[i] = x[i]! * normalCdf(x[i]!);
  return out;
};

/** gelu_erf_grad: dy·(Φ(x) + x·φ(x)), φ(x) = e^(−x²/2)/√(2π). */
export const geluErfGrad: KernelOf<'gelu_erf_grad'> = (inputs, _attrs, ctx) => {
  const { x, dy, shape } = operands('gelu_erf_grad', inputs, true);
  const out = floatOut(shape, ctx);
  const o = out.data;
  const vec = simd();
  if (vec && x instanceof Float32Array && dy instanceof Float32Array && o instanceof Float32Array) {
    vec.binary('gelu_erf_grad', x, dy, o);
    return out;
  }
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    o[i] = dy[i]! * (normalCdf(v) + v * INV_SQRT_2PI * fastExp(-0.5 * v * v));
  }
  return out;
};
