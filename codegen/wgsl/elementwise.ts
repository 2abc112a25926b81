// Elementwise kernels: add and mul with suffix broadcasting, scale, the activations and their
// gradients. One invocation per element, or per 4 elements (vec4) when the sizes allow.
//
// The WGSL is written over `T` (f32 or vec4<f32>), so one template serves both widths.
// WGSL's tanh is only absolutely accurate (about 1e-7 on these adapters), and 1 ± tanh(u) or
// 1 − tanh(u)² lose everything to cancellation where they are small, so gelu and the gradients
// use 1 + tanh(u) = 2·sigmoid(2u) and 1 − tanh(u)² = sech(u)² = 4 / (eᵘ + e⁻ᵘ)², with arguments
// clamped to ±40 (e⁸⁰ is still finite in f32).
import { checkOutput, declare, f32, fail, fmt, grid, operand, sameShape, u32, widthFor } from './common.ts';
import type { OpKernel, OpKernelGen, OpKernelGenOf, OpKernelRequest, OpKernelTable } from './types.ts';

const GELU_C = f32(Math.sqrt(2 / Math.PI));
const GELU_U = `clamp(${GELU_C} * (x + 0.044715 * x * x * x), T(-40.0), T(40.0))`;

// Φ(x), the standard normal CDF, for the exact GELU: WGSL has no erf, so erfc by Numerical
// Recipes' Chebyshev fit (relative error < 1.2e-7 everywhere), taken on −|x| where it is small
// and accurate, so gelu_erf keeps its relative accuracy in the negative tail.
const ERFC_POLY = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
const horner = ERFC_POLY.map((c) => `T(${c})`).reduceRight((acc, c) => `${c} + t * (${acc})`);
const PHI = `fn phi(x: T) -> T {
  let z = abs(x) * ${f32(Math.SQRT1_2)};
  let t = T(1.0) / (T(1.0) + 0.5 * z);
  let lower = 0.5 * t * exp(-z * z + ${horner});
  return select(T(1.0) - lower, lower, x < T(0.0));
}
`;

/** Helper functions an op's expression or statements call, declared before them. */
const HELPERS: Record<string, string> = { gelu_erf: PHI, gelu_erf_grad: PHI };

/** The unary ops: out = f(x), as a WGSL expression in `x` of type T. */
const UNARY: Record<string, string> = {
  // x·Φ(x) = 0.5·x·(1 + erf(x/√2))
  gelu_erf: 'x * phi(x)',
  // 0.5·x·(1 + tanh(u)) = x·sigmoid(2u)
  gelu: `x / (T(1.0) + exp(-2.0 * ${GELU_U}))`,
  // select keeps a NaN input NaN, like the CPU reference.
  relu: 'select(x, T(0.0), x < T(0.0))',
  silu: 'x / (T(1.0) + exp(-x))',
  // WGSL tanh itself (absolute error ~1e-7); the clamp avoids NaN from backends that divide exps.
  tanh: 'tanh(clamp(x, T(-15.0), T(15.0)))',
};

/** The gradients: out = dy · f'(x), as WGSL statements ending in `return`. */
const GRAD: Record<string, string> = {
  gelu_grad: [
    `let u = ${GELU_U};`,
    'let e = exp(u);',
    'let sech2 = T(4.0) / ((e + T(1.0) / e) * (e + T(1.0) / e));',
    'let half1pt = T(1.0) / (T(1.0) + exp(-2.0 * u)); // (1 + tanh u) / 2',
    `return dy * (half1pt + 0.5 * x * sech2 * ${GELU_C} * (T(1.0) + ${f32(3 * 0.044715)} * x * x));`,
  ].join('\n  '),
  // dy·(Φ(x) + x·φ(x))
  gelu_erf_grad: `return dy * (phi(x) + x * ${f32(1 / Math.sqrt(2 * Math.PI))} * exp(-0.5 * x * x));`,
  relu_grad: 'return select(T(0.0), dy, x > T(0.0));',
  silu_grad: 'let s = T(1.0) / (T(1.0) + exp(-x));\n  return dy * (s + x * s * (T(1.0) - s));',
  tanh_grad: 'let e = exp(clamp(x, T(-40.0), T(40.0)));\n  return dy * T(4.0) / ((e + T(1.0) / e) * (e + T(1.0) / e));',
};

/** The activations and gradients a matmul epilogue can apply (codegen/wgsl/matmul/). */
export type UnaryOp = 'gelu' | 'gelu_erf' | 'relu' | 'silu' | 'tanh';

/**
 * An op's helper functions renamed after the function that calls them (`act_phi`), so that an
 * epilogue with both an activation and a gradient declares each helper once per caller.
 */
function withHelpers(key: string, name: string, type: string, body: string): string {
  const helper = HELPERS[key];
  if (!helper) return body;
  const rename = (s: string) => s.replace(/\bphi\b/g, `${name}_phi`);
  // The helper's own signature names the element type too (`x: T`), not only its constructors.
  return `${rename(helper).replace(/\bT\b/g, type)}\n${rename(body)}`;
}

/** `fn name(x: type) -> type`: the unary op of the elementwise kernels, for other kernels' epilogues. */
export function unaryFn(op: UnaryOp, name: string, type: string): string {
  return withHelpers(op, name, type, `fn ${name}(x: ${type}) -> ${type} {\n  return ${ofType(UNARY[op]!, type)};\n}`);
}

/** `fn name(x: type, dy: type) -> type` = dy · op'(x), as the elementwise gradient kernels compute it. */
export function unaryGradFn(op: UnaryOp, name: string, type: string): string {
  return withHelpers(`${op}_grad`, name, type, `fn ${name}(x: ${type}, dy: ${type}) -> ${type} {\n  ${ofType(GRAD[`${op}_grad`]!, type)}\n}`);
}

/** The expressions above are written over the alias T; other kernels may use T for something else. */
const ofType = (wgsl: string, type: string): string => wgsl.replace(/\bT\(/g, `${type}(`);

function floatShape(req: OpKernelRequest, index: number, name: string): number[] {
  return operand(req, index, name, 'f32').shape;
}

function kernel(req: OpKernelRequest, wgsl: string, bindings: OpKernel['bindings'], workgroups: OpKernel['workgroups'], label: string): OpKernel {
  return { label: `${req.op}_${label}`, wgsl, bindings, workgroups };
}

/** gelu, relu, silu, tanh: x [n] → out [n]. */
const unary: OpKernelGen = (req, caps) => {
  const body = UNARY[req.op];
  if (!body) fail(req.op, 'not a unary elementwise op');
  const shape = floatShape(req, 0, 'x');
  checkOutput(req, shape);
  const n = shape.reduce((a, b) => a * b, 1);
  const w = widthFor(n);
  const g = grid(req.op, n / w, caps);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const d = declare([
    { name: 'in0', variable: 'xs', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// ${req.op}: x ${fmt(shape)} → out ${fmt(shape)}${w === 4 ? ', 4 elements per invocation' : ''}
alias T = ${T};
${d.wgsl}
${HELPERS[req.op] ?? ''}fn f(x: T) -> T {
  return ${body};
}
${g.entry}
${g.prologue}
  out[i] = f(xs[i]);
}
`;
  return kernel(req, wgsl, d.bindings, g.workgroups, `${n}`);
};

/** gelu_grad, relu_grad, silu_grad, tanh_grad: x [n], dy [n] → out [n] = dy · f'(x). */
const unaryGrad: OpKernelGen = (req, caps) => {
  const body = GRAD[req.op];
  if (!body) fail(req.op, 'not an elementwise gradient op');
  const shape = floatShape(req, 0, 'x');
  const dyShape = floatShape(req, 1, 'dy');
  if (!sameShape(shape, dyShape)) fail(req.op, `x ${fmt(shape)} and dy ${fmt(dyShape)} differ`);
  checkOutput(req, shape);
  const n = shape.reduce((a, b) => a * b, 1);
  const w = widthFor(n);
  const g = grid(req.op, n / w, caps);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const d = declare([
    { name: 'in0', variable: 'xs', type: T },
    { name: 'in1', variable: 'dys', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// ${req.op}: x ${fmt(shape)}, dy ${fmt(shape)} → out ${fmt(shape)}
alias T = ${T};
${d.wgsl}
${HELPERS[req.op] ?? ''}fn df(x: T, dy: T) -> T {
  ${body}
}
${g.entry}
${g.prologue}
  out[i] = df(xs[i], dys[i]);
}
`;
  return kernel(req, wgsl, d.bindings, g.workgroups, `${n}`);
};

/** scale: x [n] → factor · x. */
export const scale: OpKernelGenOf<'scale'> = (req, caps) => {
  const shape = floatShape(req, 0, 'x');
  checkOutput(req, shape);
  const factor = req.attrs.factor;
  const n = shape.reduce((a, b) => a * b, 1);
  const w = widthFor(n);
  const g = grid(req.op, n / w, caps);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const d = declare([
    { name: 'in0', variable: 'xs', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// scale: x ${fmt(shape)} → ${factor} · x
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = ${f32(factor)} * xs[i];
}
`;
  return kernel(req, wgsl, d.bindings, g.workgroups, `${n}`);
};

/**
 * add, mul: a ∘ b with suffix broadcasting. The larger operand `big` [n] is read at i, the
 * smaller `small` (a suffix of big's shape, [m] with n = k·m, or a scalar []) at i mod m.
 */
const binary: OpKernelGen = (req, caps) => {
  const sym = req.op === 'add' ? '+' : req.op === 'mul' ? '*' : fail(req.op, 'not a broadcasting binary op');
  const a = floatShape(req, 0, 'a');
  const b = floatShape(req, 1, 'b');
  const aBig = a.length >= b.length;
  const [big, small] = aBig ? [a, b] : [b, a];
  const off = big.length - small.length;
  if (small.some((d, i) => d !== big[off + i])) fail(req.op, `cannot broadcast ${fmt(a)} with ${fmt(b)}`);
  checkOutput(req, big);
  const n = big.reduce((x, y) => x * y, 1);
  const m = small.reduce((x, y) => x * y, 1);
  // vec4 when both sizes allow it; a scalar operand is splatted.
  const w = widthFor(n, m === 1 ? 4 : m);
  const g = grid(req.op, n / w, caps);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const scalarSmall = m === 1;
  const smallType = scalarSmall ? 'f32' : T;
  const smallRead = scalarSmall ? 'T(small[0])' : m === n ? 'small[i]' : `small[i % ${u32(m / w)}]`;
  const names = aBig ? (['big', 'small'] as const) : (['small', 'big'] as const);
  const d = declare([
    { name: 'in0', variable: names[0], type: names[0] === 'big' ? T : smallType },
    { name: 'in1', variable: names[1], type: names[1] === 'big' ? T : smallType },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// ${req.op}: a ${fmt(a)} ${sym} b ${fmt(b)} → out ${fmt(big)} (the smaller operand repeats over the leading dims)
alias T = ${T};
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = big[i] ${sym} ${smallRead};
}
`;
  return kernel(req, wgsl, d.bindings, g.workgroups, `${fmt(a)}_${fmt(b)}`);
};

export const ELEMENTWISE_KERNELS = {
  add: binary,
  mul: binary,
  scale,
  gelu: unary,
  gelu_erf: unary,
  relu: unary,
  silu: unary,
  tanh: unary,
  gelu_grad: unaryGrad,
  gelu_erf_grad: unaryGrad,
  relu_grad: unaryGrad,
  silu_grad: unaryGrad,
  tanh_grad: unaryGrad,
} satisfies OpKernelTable;
