// The matmul kernel's request checked against an adapter, its bindings, label and WGSL preamble
// (sizes as constants, the bindings, the helper functions the epilogue calls).
//
//   A stored [M,K] (op = identity) or [K,M] (transA, op = transpose)
//   B stored [K,N] (op = identity) or [N,K] (transB)
//   C [M,N] row-major; bias [N]; batch dimensions are flattened into M by the caller.

import { dropoutThreshold } from '../../../compiler/ir/dropout.ts';
import { type MatmulBinding, SIZES_UNIFORM } from '../../../compiler/lower/kernels.ts';
import { GRAD_ACTIVATIONS, type MatmulSpec, bindingElements, stridesOf } from '../../../compiler/lower/matmul-spec.ts';
import { slotBytes } from '../../../compiler/quant/slot.ts';
import { CodegenError } from '../../codegen-error.ts';
import type { KernelLimits } from '../caps.ts';
import { PCG4_WGSL, PCG_WGSL } from '../dropout.ts';
import { unaryFn, unaryGradFn } from '../elementwise.ts';
import { quantReadWgsl } from '../quant.ts';

export type MatmulVariant = 'regblock' | 'tiled';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['regblock', 'tiled'];

export type MatmulLimits = Pick<
  KernelLimits,
  | 'maxComputeInvocationsPerWorkgroup'
  | 'maxComputeWorkgroupSizeX'
  | 'maxComputeWorkgroupSizeY'
  | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeWorkgroupsPerDimension'
  | 'maxStorageBufferBindingSize'
>;

export interface MatmulOptions {
  variant: MatmulVariant;
  limits: MatmulLimits;
  /** Invocations per workgroup along [x = columns of C, y = rows of C]; the variant's default. */
  workgroup?: readonly [number, number];
  /** regblock: each invocation computes 4·rowBlocks rows × 4 columns of C. Default 2. */
  rowBlocks?: number;
  /**
   * regblock, A not transposed: M (the batch's rows) is read from the `sizes` uniform instead of
   * being a constant, so that products of other row counts share the pipeline (openRows()).
   */
  openRows?: boolean;
}

/** Whether a kernel leaves M open (MatmulOptions.openRows): regblock products whose A holds M as rows, not as its contiguous dimension. */
export const openRows = (spec: MatmulSpec, opts: Pick<MatmulOptions, 'variant' | 'openRows'>): boolean => !!opts.openRows && opts.variant === 'regblock' && !spec.transA;

export interface MatmulKernel {
  wgsl: string;
  label: string;
  variant: MatmulVariant;
  /** Binding order of the buffers: a, b, [a2, b2], [bias], [pre], [res], [globals], c, [activated]. */
  bindings: readonly MatmulBinding[];
  workgroups: [number, number, number];
  /** 2·M·N·K (+ 2·M·N·K2): the multiply-adds of the product(s). */
  flops: number;
  /** [M] (and a dropout epilogue's seed) when M is open (MatmulOptions.openRows): the `sizes` uniform bound after `bindings`. */
  sizes?: number[];
}

/** The WGSL element types of the bindings (vec4 where the layout allows it). */
export interface BindingKinds {
  a: string;
  b: string;
  bias: string;
  c: string;
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** A WGSL f32 literal. */
export function f32(x: number): string {
  if (!Number.isFinite(x)) throw new CodegenError('validation', `matmul constant ${x} is not a finite number`);
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

export function checkSpec(spec: MatmulSpec, limits: MatmulLimits): void {
  for (const d of ['M', 'N', 'K'] as const) {
    const v = spec[d];
    if (!Number.isInteger(v) || v < 1) throw new CodegenError('validation', `matmul ${d} must be a positive integer, got ${v}`);
  }
  const { M, N, K } = spec;
  const s = stridesOf(spec);
  if (spec.second) {
    const K2 = spec.second.K;
    if (!Number.isInteger(K2) || K2 < 1) throw new CodegenError('validation', `matmul second product's K must be a positive integer, got ${K2}`);
    if ([spec.lda, spec.ldb, spec.ldc, spec.aCol, spec.bCol, spec.cCol].some((x) => x !== undefined)) {
      throw new CodegenError('validation', 'a matmul with a second product cannot be a piece of a split product');
    }
    if (4 * Math.max(M * K2, K2 * N) > limits.maxStorageBufferBindingSize) throw new CodegenError('limit', `matmul second product ${M}×${K2}·${K2}×${N} exceeds one binding`);
  }
  const rowLength = { lda: spec.transA ? M : K, ldb: spec.transB ? K : N, ldc: N };
  for (const key of ['lda', 'ldb', 'ldc'] as const) {
    const col = s[key === 'lda' ? 'aCol' : key === 'ldb' ? 'bCol' : 'cCol'];
    if (!Number.isInteger(col) || col < 0 || s[key] < col + rowLength[key]) {
      throw new CodegenError('validation', `matmul ${key} ${s[key]} cannot hold ${rowLength[key]} columns from column ${col}`);
    }
  }
  checkEpilogue(spec);
  const elems = bindingElements(spec);
  if (spec.halfB && (s.ldb % 2 !== 0 || s.bCol % 2 !== 0)) throw new CodegenError('validation', 'a half-float B needs an even row stride and first column (two halves per u32)');
  if (spec.quantB) checkQuantB(spec, elems.b);
  for (const name of ['a', 'b', 'c'] as const) {
    const bytes = name === 'b' && spec.quantB ? slotBytes(spec.quantB) : elems[name] * (name === 'b' && spec.halfB ? 2 : 4);
    if (bytes > limits.maxStorageBufferBindingSize) {
      // The planner splits such products into pieces (compiler/lower/split.ts) before asking here.
      throw new CodegenError(
        'limit',
        `matmul ${M}×${K}·${K}×${N}: ${name.toUpperCase()} spans ${bytes} bytes, more than this adapter's ` +
          `maxStorageBufferBindingSize (${limits.maxStorageBufferBindingSize}); split it into pieces`,
      );
    }
  }
}

/** A quantized B is the whole stored matrix: its rows are LDB long and hold every element B reads. */
function checkQuantB(spec: MatmulSpec, elems: number): void {
  const q = spec.quantB!;
  if (spec.halfB) throw new CodegenError('validation', 'a matmul B is either half floats or quantized, not both');
  const s = stridesOf(spec);
  if (q.cols !== s.ldb || elems > q.rows * q.cols) {
    throw new CodegenError('validation', `matmul quantized B [${q.rows}, ${q.cols}] does not hold a B of ${elems} elements in rows of ${s.ldb}`);
  }
}

function checkEpilogue(spec: MatmulSpec): void {
  if (spec.activationOut && (spec.activation || spec.dropout || spec.residual)) {
    throw new CodegenError('validation', 'a matmul writing its activation as a second output (activationOut) cannot also apply an activation, dropout or a residual to C');
  }
  if (spec.activationGrad && !GRAD_ACTIVATIONS.includes(spec.activationGrad)) {
    throw new CodegenError('validation', `matmul activationGrad must be one of ${GRAD_ACTIVATIONS.join(', ')}, got ${spec.activationGrad}`);
  }
  const d = spec.dropout;
  if (d) {
    if (!(d.p >= 0 && d.p < 1)) throw new CodegenError('validation', `matmul dropout p must be in [0, 1), got ${d.p}`);
    const last = (d.index0 ?? 0) + bindingElements(spec).c;
    if (!Number.isInteger(d.index0 ?? 0) || (d.index0 ?? 0) < 0 || last > 2 ** 32) {
      throw new CodegenError('validation', `matmul dropout indices from ${d.index0} to ${last} do not fit the u32 element index of the hash`);
    }
  }
}

/** C and the bias are read and written as vec4 when rows, stride and first column allow it. */
export function vec4C(spec: MatmulSpec): boolean {
  const s = stridesOf(spec);
  return spec.N % 4 === 0 && s.ldc % 4 === 0 && s.cCol % 4 === 0;
}

/** The constants, bindings and helper functions every variant starts with. */
export function header(spec: MatmulSpec, kinds: BindingKinds, open = false): string {
  const { M, N, K } = spec;
  const s = stridesOf(spec);
  // An open M is set from the sizes uniform at the top of main (openInit).
  const out: string[] = [open ? 'var<private> M: u32; // rows: sizes.x' : `const M = ${M}u;`, `const N = ${N}u;`, `const K = ${K}u;`];
  // Row strides and first columns of the stored operands (dense unless a piece of a split matmul).
  out.push(`const LDA = ${s.lda}u;`, `const LDB = ${s.ldb}u;`, `const LDC = ${s.ldc}u;`);
  out.push(`const AC = ${s.aCol}u;`, `const BC = ${s.bCol}u;`, `const CC = ${s.cCol}u;`);
  out.push(`@group(0) @binding(0) var<storage, read> a: array<${kinds.a}>;`);
  out.push(`@group(0) @binding(1) var<storage, read> b: array<${spec.quantB ? 'u32' : kinds.b}>;`);
  // A quantized B's element i (stored order) as f32: qb(i).
  if (spec.quantB) out.push(quantReadWgsl(spec.quantB, 'qb', 'b'));
  let binding = 2;
  if (spec.second) {
    out.push(`const K2 = ${spec.second.K}u;`);
    out.push(`@group(0) @binding(${binding++}) var<storage, read> a2: array<f32>;`);
    out.push(`@group(0) @binding(${binding++}) var<storage, read> b2: array<f32>;`);
  }
  if (spec.bias) out.push(`@group(0) @binding(${binding++}) var<storage, read> bias: array<${kinds.bias}>;`);
  // Epilogue operands and the second output: laid out like C.
  if (spec.activationGrad) out.push(`@group(0) @binding(${binding++}) var<storage, read> pre: array<${kinds.c}>;`);
  if (spec.residual) out.push(`@group(0) @binding(${binding++}) var<storage, read> res: array<${kinds.c}>;`);
  if (spec.dropout) out.push(`@group(0) @binding(${binding++}) var<storage, read> globals: array<u32>;`);
  out.push(`@group(0) @binding(${binding++}) var<storage, read_write> c: array<${kinds.c}>;`);
  if (spec.activationOut) out.push(`@group(0) @binding(${binding++}) var<storage, read_write> activated: array<${kinds.c}>;`);
  if (open) out.push(SIZES_UNIFORM(binding));
  const act = spec.activation ?? spec.activationOut;
  if (act) out.push(unaryFn(act, 'act', 'vec4<f32>'));
  if (spec.activationGrad) out.push(unaryGradFn(spec.activationGrad, 'dact', 'vec4<f32>'));
  if (spec.dropout) {
    const d = spec.dropout;
    out.push(`const DROP_THRESHOLD = ${dropoutThreshold(d.p)}u; // floor(p·2³²), as the dropout kernel`);
    // An open kernel takes the seed from the sizes too (sizes.y): the layers' products share one source.
    out.push(open ? 'var<private> DROP_SEED: u32; // sizes.y' : `const DROP_SEED = ${d.seed >>> 0}u;`, `const DROP_SCALE = ${f32(Math.fround(1 / (1 - d.p)))};`, `const DROP0 = ${d.index0 ?? 0}u;`);
    out.push(PCG_WGSL, PCG4_WGSL);
  }
  if (spec.halfB) {
    // B's elements as f32: four halves from a vec2<u32>, or the i-th half of a u32 array.
    out.push(
      kinds.b === 'vec2<u32>'
        ? 'fn bh4(p: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y)); }'
        : 'fn bh1(i: u32) -> f32 { return unpack2x16float(b[i >> 1u])[i & 1u]; }',
    );
  }
  return out.join('\n');
}

export function bindingsOf(spec: MatmulSpec): MatmulKernel['bindings'] {
  return [
    'a',
    'b',
    ...(spec.second ? (['a2', 'b2'] as const) : []),
    ...(spec.bias ? (['bias'] as const) : []),
    ...(spec.activationGrad ? (['pre'] as const) : []),
    ...(spec.residual ? (['res'] as const) : []),
    ...(spec.dropout ? (['globals'] as const) : []),
    'c',
    ...(spec.activationOut ? (['activated'] as const) : []),
  ];
}

/** The first statements of main when M is open: M, and the dropout's seed. */
export const openInit = (spec: MatmulSpec): string => `  M = sizes.x;${spec.dropout ? '\n  DROP_SEED = sizes.y;' : ''}`;

/** The sizes of an open kernel: M, and the dropout's seed. */
export const openSizes = (spec: MatmulSpec): number[] => (spec.dropout ? [spec.M, spec.dropout.seed >>> 0] : [spec.M]);

export function labelOf(spec: MatmulSpec, variant: MatmulVariant, open = false): string {
  const t = `${spec.transA ? 'T' : 'N'}${spec.transB ? 'T' : 'N'}`;
  const piece = [spec.lda, spec.ldb, spec.ldc, spec.aCol, spec.bCol, spec.cCol].some((x) => x !== undefined) ? 'piece' : '';
  const second = spec.second ? `plus${spec.second.transA ? 'T' : 'N'}${spec.second.transB ? 'T' : 'N'}${spec.second.K}` : '';
  const extra = [
    spec.halfB ? 'hb' : '',
    spec.quantB?.dtype ?? '',
    second,
    spec.bias ? 'bias' : '',
    spec.activationGrad ? `d${spec.activationGrad}` : '',
    spec.activation ?? '',
    spec.activationOut ? `${spec.activationOut}out` : '',
    spec.dropout ? 'drop' : '',
    spec.residual ? 'res' : '',
    spec.accumulate ? 'acc' : '',
    piece,
  ].filter(Boolean);
  return `matmul_${variant}_${t}_${open ? 'M' : spec.M}x${spec.N}x${spec.K}${extra.length ? `_${extra.join('_')}` : ''}`;
}

/** The dispatch that covers C with blocks of rowsPerGroup × colsPerGroup. */
export function workgroupsFor(rowsPerGroup: number, colsPerGroup: number, spec: MatmulSpec, limits: MatmulLimits): [number, number, number] {
  const wx = ceilDiv(spec.N, colsPerGroup);
  const wy = ceilDiv(spec.M, rowsPerGroup);
  if (wx > limits.maxComputeWorkgroupsPerDimension || wy > limits.maxComputeWorkgroupsPerDimension) {
    throw new CodegenError(
      'limit',
      `matmul ${spec.M}×${spec.N} needs ${wx}×${wy} workgroups, more than maxComputeWorkgroupsPerDimension ` +
        `(${limits.maxComputeWorkgroupsPerDimension}); split the rows into several dispatches`,
    );
  }
  return [wx, wy, 1];
}
