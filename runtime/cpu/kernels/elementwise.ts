// Elementwise ops: add and mul with suffix broadcasting, scale, the activations and
// their gradients. Each maps x (and dy) to an output of the same shape.
import erf from '@stdlib/math-base-special-erf';
import { floatIn, floatOut, type Kernel, type KernelOf } from './common.ts';

/**
 * a ∘ b with suffix broadcasting: the smaller operand's shape is a suffix of the larger's and
 * is repeated over the larger one's leading dims (a scalar [] broadcasts to anything). The
 * catalog's rule checked the suffix.
 */
function broadcastBinary(op: string, combine: 'add' | 'mul'): Kernel {
  return (inputs, _attrs, ctx) => {
    const a = floatIn(op, inputs, 0, 'a');
    const b = floatIn(op, inputs, 1, 'b');
    const aBig = a.shape.length >= b.shape.length;
    const [big, small] = aBig ? [a, b] : [b, a];
    const out = floatOut(big.shape, ctx);
    const o = out.data;
    const x = big.data;
    const y = small.data;
    const n = y.length;
    const total = x.length;
    if (n === 0) return out;
    // Operands commute for both add and mul, so the order (big, small) does not change values.
    if (combine === 'add') {
      for (let base = 0; base < total; base += n) for (let j = 0; j < n; j++) o[base + j] = x[base + j]! + y[j]!;
    } else {
      for (let base = 0; base < total; base += n) for (let j = 0; j < n; j++) o[base + j] = x[base + j]! * y[j]!;
    }
    return out;
  };
}

export const add = broadcastBinary('add', 'add');
export const mul = broadcastBinary('mul', 'mul');

/** scale: factor · x. */
export const scale: KernelOf<'scale'> = (inputs, attrs, ctx) => {
  const x = floatIn('scale', inputs, 0, 'x');
  const f = attrs.factor;
  const out = floatOut(x.shape, ctx);
  const o = out.data;
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) o[i] = f * xd[i]!;
  return out;
};

/** A unary op y = f(x), elementwise. */
function unary(op: string, f: (x: number) => number): Kernel {
  return (inputs, _attrs, ctx) => {
    const x = floatIn(op, inputs, 0, 'x');
    const out = floatOut(x.shape, ctx);
    const o = out.data;
    const xd = x.data;
    for (let i = 0; i < xd.length; i++) o[i] = f(xd[i]!);
    return out;
  };
}

/** A unary gradient dx = dy · f'(x), elementwise; operands (x, dy) of one shape (the catalog's rule). */
function unaryGrad(op: string, df: (x: number) => number): Kernel {
  return (inputs, _attrs, ctx) => {
    const x = floatIn(op, inputs, 0, 'x');
    const dy = floatIn(op, inputs, 1, 'dy');
    const out = floatOut(x.shape, ctx);
    const o = out.data;
    const xd = x.data;
    const g = dy.data;
    for (let i = 0; i < xd.length; i++) o[i] = g[i]! * df(xd[i]!);
    return out;
  };
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** gelu (tanh approximation, GPT-2 "gelu_new"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluValue(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + GELU_A * x * x * x)));
}

/** d gelu / dx = 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(…). */
export function geluDerivative(x: number): number {
  const t = Math.tanh(GELU_C * (x + GELU_A * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x);
}

/** gelu_erf, the exact GELU, as torch computes it: 0.5·x·(1 + erf(x/√2)). */
export function geluErfValue(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** d gelu_erf / dx = Φ(x) + x·φ(x), with Φ(x) = 0.5·(1 + erf(x/√2)) and φ(x) = exp(−x²/2)/√(2π). */
export function geluErfDerivative(x: number): number {
  return 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/** sigmoid, stable for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const gelu = unary('gelu', geluValue);
export const geluErf = unary('gelu_erf', geluErfValue);
export const relu = unary('relu', (x) => (x > 0 || x !== x ? x : 0)); // NaN propagates
export const silu = unary('silu', (x) => x * sigmoid(x));
export const tanh = unary('tanh', Math.tanh);

export const geluGrad = unaryGrad('gelu_grad', geluDerivative);
export const geluErfGrad = unaryGrad('gelu_erf_grad', geluErfDerivative);
export const reluGrad = unaryGrad('relu_grad', (x) => (x > 0 ? 1 : 0));
export const siluGrad = unaryGrad('silu_grad', (x) => {
  const s = sigmoid(x);
  return s + x * s * (1 - s);
});
export const tanhGrad = unaryGrad('tanh_grad', (x) => {
  const t = Math.tanh(x);
  return 1 - t * t;
});
