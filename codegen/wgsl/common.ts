// Helpers shared by the op-kernel generators (one file per op family beside this one):
// request checking, WGSL literals, storage declarations in binding order, and the 1-D
// dispatch grid that every "one invocation per element / row" kernel uses.
//
// Every generator is pure: (request, caps) → WGSL with the concrete shapes baked in as
// constants. A request the kernel cannot serve throws CodegenError('validation') (bad shapes,
// attributes or dtypes) or CodegenError('limit') (over an adapter limit), labelled with the op.
import type { AttrValue } from '../../compiler/ir/types.ts';
import { CodegenError } from '../codegen-error.ts';
import type { GpuCaps, BindingName, OpKernelRequest, TensorSpec } from './types.ts';

export function fail(op: string, message: string): never {
  throw new CodegenError('validation', message, `${op} kernel`);
}

export function failLimit(op: string, message: string): never {
  throw new CodegenError('limit', message, `${op} kernel`);
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);
export const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

// ------------------------------------------------------------------ request checks

/** The operand at `index` (present, with the wanted dtype when given). */
export function operand(req: OpKernelRequest, index: number, name: string, dtype?: TensorSpec['dtype'] | readonly TensorSpec['dtype'][]): TensorSpec {
  const t = req.inputs[index];
  if (!t) fail(req.op, `missing operand ${name}`);
  if (dtype && !(typeof dtype === 'string' ? [dtype] : dtype).includes(t.dtype)) fail(req.op, `operand ${name} must be ${typeof dtype === 'string' ? dtype : dtype.join(' or ')}, got ${t.dtype}`);
  for (const d of t.shape) if (!Number.isInteger(d) || d < 0) fail(req.op, `operand ${name} has a bad shape ${fmt(t.shape)}`);
  return t;
}

export function optOperand(req: OpKernelRequest, index: number, name: string, dtype?: 'f32' | 'i32'): TensorSpec | undefined {
  return req.inputs[index] ? operand(req, index, name, dtype) : undefined;
}

/** Checks that the request's output is what the kernel computes. */
export function checkOutput(req: OpKernelRequest, shape: readonly number[], dtype: TensorSpec['dtype'] = 'f32'): void {
  const o = req.output;
  if (o.dtype !== dtype || o.shape.length !== shape.length || o.shape.some((d, i) => d !== shape[i])) {
    fail(req.op, `output must be ${dtype} ${fmt(shape)}, the request says ${o.dtype} ${fmt(o.shape)}`);
  }
}

function attr(req: OpKernelRequest, name: string): AttrValue {
  const v = req.attrs[name];
  if (v === undefined) fail(req.op, `missing attribute ${name}`);
  return v;
}

export function numAttr(req: OpKernelRequest, name: string): number {
  const v = attr(req, name);
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(req.op, `attribute ${name} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

export function intAttr(req: OpKernelRequest, name: string, fallback?: number): number {
  if (fallback !== undefined && req.attrs[name] === undefined) return fallback;
  const v = numAttr(req, name);
  if (!Number.isInteger(v)) fail(req.op, `attribute ${name} must be an integer, got ${v}`);
  return v;
}

export function boolAttr(req: OpKernelRequest, name: string): boolean {
  const v = attr(req, name);
  if (typeof v !== 'boolean') fail(req.op, `attribute ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

export function strAttr<T extends string>(req: OpKernelRequest, name: string, allowed: readonly T[]): T {
  const v = attr(req, name);
  if (typeof v !== 'string' || !allowed.includes(v as T)) fail(req.op, `attribute ${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** `axis` normalised to [0, rank). */
export function axisAttr(req: OpKernelRequest, rank: number): number {
  const a = intAttr(req, 'axis');
  const ax = a < 0 ? a + rank : a;
  if (ax < 0 || ax >= rank) fail(req.op, `axis ${a} out of range for rank ${rank}`);
  return ax;
}

/** (rows, features): leading dims flattened, and the last axis. */
export function rowsOf(req: OpKernelRequest, shape: readonly number[]): [number, number] {
  if (shape.length === 0) fail(req.op, 'needs at least one axis');
  return [numel(shape.slice(0, -1)), shape[shape.length - 1]!];
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ------------------------------------------------------------------ WGSL text

/** A WGSL f32 literal of x (rounded to f32). */
export function f32(x: number): string {
  if (!Number.isFinite(x)) throw new CodegenError('validation', `constant ${x} is not a finite number`);
  const s = String(Math.fround(x));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** A WGSL u32 literal. */
export function u32(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CodegenError('validation', `constant ${n} is not a u32`);
  return `${n}u`;
}

/** A WGSL i32 literal (the most negative value has no literal form). */
export function i32(n: number): string {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) throw new CodegenError('validation', `constant ${n} is not an i32`);
  return n === -(2 ** 31) ? 'i32(-2147483647 - 1)' : `${n}i`;
}

/** One storage binding: its contract name, its WGSL variable name and element type. */
export interface Binding<N extends string = BindingName> {
  name: N;
  variable: string;
  /** Element type: 'f32', 'i32', 'u32', 'vec4<f32>', … */
  type: string;
  /** read_write; default: only `out` is. */
  write?: boolean;
}

/**
 * Storage declarations in binding order (`out` and `out1` read_write, all others read) and the matching
 * `bindings` list of the kernel. Only what the shader uses is declared: with layout 'auto' an
 * unused binding would not be part of the pipeline layout.
 */
export function declare<N extends string = BindingName>(list: Binding<N>[]): { wgsl: string; bindings: N[] } {
  const wgsl = list
    .map((b, i) => {
      const access = (b.write ?? (b.name === 'out' || b.name === 'out1')) ? 'read_write' : 'read';
      return `@group(0) @binding(${i}) var<storage, ${access}> ${b.variable}: array<${b.type}>;`;
    })
    .join('\n');
  return { wgsl, bindings: list.map((b) => b.name) };
}

/** Vector width for element loops: 4 when every given count is a multiple of 4, else 1. */
export function widthFor(...counts: number[]): 1 | 4 {
  return counts.every((n) => n % 4 === 0) ? 4 : 1;
}

/** The WGSL element type of a vector width: f32 or vec4<f32> (or the i32 / u32 forms). */
export function vecType(width: 1 | 4, scalar: 'f32' | 'i32' = 'f32'): string {
  return width === 4 ? `vec4<${scalar}>` : scalar;
}

// ------------------------------------------------------------------ dispatch

/** Invocations per workgroup for 1-D kernels, capped by the adapter's limits. */
export function workgroupLimit(caps: GpuCaps, want: number): number {
  const cap = Math.min(caps.limits.maxComputeInvocationsPerWorkgroup, caps.limits.maxComputeWorkgroupSizeX);
  let wg = 1;
  while (wg * 2 <= Math.min(want, cap)) wg *= 2;
  return wg;
}

export interface Grid {
  /** Invocations per workgroup (x only). */
  wg: number;
  workgroups: [number, number, number];
  /** The WGSL prologue of `fn main`: declares `let i` (the flat invocation index) and returns past n. */
  prologue: string;
  /** The entry point's attribute and signature line. */
  entry: string;
}

export interface GridOptions {
  /**
   * Each invocation does a lot of work (a row, a softmax): on software adapters, where a
   * workgroup runs on one CPU thread, workgroups shrink (down to 4 invocations) until there
   * are at least 32 of them, so that every core gets work.
   */
  heavy?: boolean;
  /** Preferred invocations per workgroup (default 64). */
  wg?: number;
  /**
   * n is open: the prologue compares i with this WGSL expression (a component of the sizes
   * uniform), and neither the workgroup size nor the index depends on n, so one source serves
   * every n. A heavy kernel's workgroups on software adapters are then OPEN_HEAVY_WG wide.
   */
  count?: string;
}

/** Invocations per workgroup of a heavy kernel with an open count on a software adapter: llvmpipe's SIMD width (8 f32 lanes). */
const OPEN_HEAVY_WG = 8;

/**
 * A 1-D grid of n invocations. Past maxComputeWorkgroupsPerDimension the workgroups are laid
 * out over x and y, and the flat index is i = gid.x + gid.y · (workgroups.x · wg).
 */
export function grid(op: string, n: number, caps: GpuCaps, opts: GridOptions = {}): Grid {
  let wg = workgroupLimit(caps, opts.wg ?? 64);
  if (opts.heavy && caps.isSoftware && opts.count) wg = Math.min(wg, OPEN_HEAVY_WG);
  else if (opts.heavy && caps.isSoftware) while (wg > 4 && ceilDiv(n, wg) < 32) wg /= 2;
  const groups = ceilDiv(n, wg);
  const maxDim = caps.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.min(groups, maxDim);
  const gy = gx === 0 ? 1 : ceilDiv(groups, gx);
  if (gy > maxDim) failLimit(op, `${n} invocations need ${groups} workgroups, more than ${maxDim}² (maxComputeWorkgroupsPerDimension)`);
  const entry = `@compute @workgroup_size(${wg})\nfn main(@builtin(global_invocation_id) gid: vec3<u32>) {`;
  // With an open count the rows of workgroups are always maxDim wide (gid.y is 0 below maxDim groups).
  const index = opts.count ? `gid.x + gid.y * ${u32(maxDim * wg)}` : gy > 1 ? `gid.x + gid.y * ${u32(gx * wg)}` : 'gid.x';
  const prologue = `  let i = ${index};\n  if (i >= ${opts.count ?? u32(n)}) { return; }`;
  return { wg, workgroups: [gx, gy, 1], prologue, entry };
}

/**
 * One workgroup per item (a row): `wg` invocations (a power of two, for tree reductions with
 * `slots` reduction call sites, see workgroupReductions) cooperate on it. Declares `let row` (the item) and `let lid` (the invocation in the group).
 */
export function rowGroups(op: string, n: number, caps: GpuCaps, slots: number, want = 256): Grid {
  // Each reduction slot holds wg floats of workgroup memory.
  const wg = workgroupLimit(caps, Math.min(want, Math.floor(caps.limits.maxComputeWorkgroupStorageSize / (4 * slots))));
  const maxDim = caps.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.min(n, maxDim);
  const gy = gx === 0 ? 1 : ceilDiv(n, gx);
  if (gy > maxDim) failLimit(op, `${n} rows need more than ${maxDim}² workgroups (maxComputeWorkgroupsPerDimension)`);
  const entry =
    `@compute @workgroup_size(${wg})\n` +
    'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {';
  // `row` is uniform across the workgroup, so the early return keeps barriers in uniform control flow.
  const prologue = `  let row = ${gy > 1 ? `wid.x + wid.y * ${u32(gx)}` : 'wid.x'};\n  if (row >= ${u32(n)}) { return; }`;
  return { wg, workgroups: [gx, gy, 1], prologue, entry };
}

/**
 * WGSL tree reductions over a workgroup of `wg` invocations (a power of two): wgSum and wgMax
 * return the same value to every invocation. Call them in uniform control flow, each call site
 * with its own `slot` in [0, slots): a call's result stays in its slot for the rest of the kernel.
 *
 * Why slots: llvmpipe (Mesa 22.3 through Dawn's OpenGL ES backend) miscompiled the usual single
 * buffer: in `let m = wgSum(s, lid) / D; … wgSum(v, lid)`, invocations past the first SIMD
 * chunk of 8 read the shared result after the second reduction had overwritten it (as if the
 * load were sunk past the barriers). With a slot per call nothing overwrites a result.
 */
export function workgroupReductions(wg: number, slots: number): string {
  const fn = (name: string, combine: string): string => `fn ${name}(value: f32, lid: u32, slot: u32) -> f32 {
  let base = slot * ${u32(wg)};
  red[base + lid] = value;
  workgroupBarrier();
  for (var stride = ${u32(wg / 2)}; stride > 0u; stride >>= 1u) {
    if (lid < stride) { red[base + lid] = ${combine}; }
    workgroupBarrier();
  }
  return red[base];
}`;
  return [
    `var<workgroup> red: array<f32, ${wg * slots}>;`,
    fn('wgSum', 'red[base + lid] + red[base + lid + stride]'),
    fn('wgMax', 'max(red[base + lid], red[base + lid + stride])'),
  ].join('\n');
}

/** The largest finite f32, as a WGSL literal (−MAX_F32 starts a running max). */
export const MAX_F32 = '3.4028234663852886e38';

/** Horizontal sum of a vector-width element. */
export function hsum(width: 1 | 4, expr: string): string {
  return width === 4 ? `dot(${expr}, vec4<f32>(1.0))` : expr;
}

/**
 * The most loop iterations one invocation may run, counted over all its loops together (nested
 * ones included): Mesa's llvmpipe (22.3, through Dawn's OpenGL ES backend) silently stops every
 * loop of an invocation once 65,535 iterations have run in total, so a longer kernel computes
 * garbage without an error (measured in test/webgpu/gpu-suite.ts). Kernels with a per-row
 * sequential variant fall back to a cooperative one past this budget.
 */
export const LOOP_BUDGET = 65_535;
