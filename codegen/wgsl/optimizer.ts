// The optimizer's WGSL: global-norm clipping (a barrier-free, atomics-free two-stage
// reduction of Σg² over the gradient arena) and AdamW / SGD as one pass over the trainable
// arena. Same arithmetic and order as runtime/optim.ts; the constants of the optimizer
// config are baked in, while the learning rate and Adam's bias corrections come from a small
// `hyper` buffer written before every step (so changing lr or the step never recompiles).
//
// Every arena is a multiple of 256 bytes, so the kernels read vec4s, and one u32 of the decay
// mask covers one 256-byte block (16 vec4s) that belongs to exactly one parameter: the f32 bits
// of its learning-rate multiplier (LoRA+), negative where no weight decay applies
// (compiler/lower/memory.ts decayMask).
import type { OptimizerConfig } from '../../compiler/autodiff/backward.ts';
import type { Kernel, OptimizerBinding } from '../../compiler/lower/kernels.ts';
import { CLIP, HYPER } from '../../compiler/lower/optimizer-layout.ts';

/** Invocations per workgroup of the optimizer kernels (fits every adapter's limits). */
export const OPT_WG = 64;
/** Most workgroups a sum-of-squares pass uses per chunk: at most 64·64 partial sums each. */
export const SUMSQ_MAX_WG = 64;
/** Most workgroups of an update pass (a grid-stride loop covers the rest). */
export const UPDATE_MAX_WG = 1024;

function f32(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`optimizer constant ${x} is not finite`);
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** Stage 1: each invocation writes Σg² over its grid-stride share of one chunk of the gradients. */
export function sumSquaresWgsl(): string {
  return `@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@compute @workgroup_size(${OPT_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = arrayLength(&g);
  let stride = nwg.x * ${OPT_WG}u;
  var s = 0.0;
  for (var i = gid.x; i < n; i += stride) {
    let x = g[i];
    s += dot(x, x);
  }
  partial[gid.x] = s;
}
`;
}

/** Stage 2: one invocation sums the partials (a fixed order: deterministic) and sets the clip factor. */
export function clipFinishWgsl(clipNorm: number): string {
  return `const CLIP_NORM = ${f32(clipNorm)};
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> clip: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var i = 0u; i < arrayLength(&partial); i++) { s += partial[i]; }
  let norm = sqrt(s);
  clip[${CLIP.norm}] = norm;
  clip[${CLIP.coef}] = select(1.0, CLIP_NORM / (norm + 1e-6), CLIP_NORM > 0.0 && norm > CLIP_NORM);
  // Inf or NaN, tested on the bits (WGSL may assume finite floats in comparisons).
  let bad = (bitcast<u32>(norm) & 0x7f800000u) == 0x7f800000u;
  clip[${CLIP.skip}] = select(0.0, 1.0, bad);
}
`;
}

/** The update kernel for `config` and its binding names, in @binding order. */
export function updateWgsl(config: OptimizerConfig): { wgsl: string; bindings: OptimizerBinding[] } {
  const head = (names: [OptimizerBinding, string, string][]) =>
    names.map(([n, access, type], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${n}: array<${type}>;`).join('\n');
  const loop = (body: string) => `@compute @workgroup_size(${OPT_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = arrayLength(&p);
  let stride = nwg.x * ${OPT_WG}u;
  if (clip[${CLIP.skip}] != 0.0) { return; }
  let lr = hyper[${HYPER.lr}];
  let c = clip[${CLIP.coef}];
  for (var i = gid.x; i < n; i += stride) {
${body}
  }
}
`;
  if (config.kind === 'adamw') {
    const names: [OptimizerBinding, string, string][] = [
      ['p', 'read_write', 'vec4<f32>'],
      ['g', 'read', 'vec4<f32>'],
      ['m', 'read_write', 'vec4<f32>'],
      ['v', 'read_write', 'vec4<f32>'],
      ['decay', 'read', 'u32'],
      ['hyper', 'read', 'f32'],
      ['clip', 'read', 'f32'],
    ];
    const consts = `const B1 = ${f32(config.beta1)};\nconst B2 = ${f32(config.beta2)};\nconst EPS = ${f32(config.eps)};\nconst WD = ${f32(config.weightDecay)};`;
    const body = `    let gi = g[i] * c;
    let mi = B1 * m[i] + (1.0 - B1) * gi;
    let vi = B2 * v[i] + (1.0 - B2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    var pi = p[i];
    let e = bitcast<f32>(decay[i / 16u]);
    let lri = lr * abs(e);
    if (e > 0.0) { pi = pi * (1.0 - lri * WD); }
    p[i] = pi - (lri * (mi / hyper[${HYPER.bc1}])) / (sqrt(vi / hyper[${HYPER.bc2}]) + EPS);`;
    return { wgsl: `${consts}\n${head(names)}\n${loop(body)}`, bindings: names.map((n) => n[0]) };
  }
  const momentum = config.momentum !== 0;
  const names: [OptimizerBinding, string, string][] = [
    ['p', 'read_write', 'vec4<f32>'],
    ['g', 'read', 'vec4<f32>'],
    ...(momentum ? [['m', 'read_write', 'vec4<f32>'] as [OptimizerBinding, string, string]] : []),
    ['decay', 'read', 'u32'],
    ['hyper', 'read', 'f32'],
    ['clip', 'read', 'f32'],
  ];
  const consts = `const WD = ${f32(config.weightDecay)};${momentum ? `\nconst MOMENTUM = ${f32(config.momentum)};` : ''}`;
  const body = `    var gi = g[i] * c;
    let e = bitcast<f32>(decay[i / 16u]);
    if (e > 0.0) { gi = gi + WD * p[i]; }${momentum ? '\n    gi = MOMENTUM * m[i] + gi;\n    m[i] = gi;' : ''}
    p[i] = p[i] - lr * abs(e) * gi;`;
  return { wgsl: `${consts}\n${head(names)}\n${loop(body)}`, bindings: names.map((n) => n[0]) };
}

/** Σg² of `bytes` of gradients (`in0`) into partial sums (`out`): at most SUMSQ_MAX_WG workgroups. */
export function sumSquaresKernel(bytes: number): { kernel: Kernel; partialBytes: number } {
  const wg = Math.min(SUMSQ_MAX_WG, Math.ceil(bytes / 16 / OPT_WG));
  const kernel: Kernel = { label: 'optimizer_sum_squares', wgsl: sumSquaresWgsl(), bindings: ['in0', 'out'], workgroups: [wg, 1, 1] };
  return { kernel, partialBytes: wg * OPT_WG * 4 };
}

/** The norm and clipping factor from the partial sums (`in0`) into the clip buffer (`out`). */
export function clipFactorKernel(clipNorm: number): Kernel {
  return { label: 'optimizer_clip_factor', wgsl: clipFinishWgsl(clipNorm), bindings: ['in0', 'out'], workgroups: [1, 1, 1] };
}

/** The update of `bytes` of parameters: a grid-stride loop over at most UPDATE_MAX_WG workgroups. */
export function updateKernel(config: OptimizerConfig, bytes: number): Kernel {
  const { wgsl, bindings } = updateWgsl(config);
  return { label: `optimizer_${config.kind}`, wgsl, bindings, workgroups: [Math.min(UPDATE_MAX_WG, Math.ceil(bytes / 16 / OPT_WG)), 1, 1] };
}
