// Matrix product kernels: C = act(alpha · op(A)·op(B) [+ alpha2 · op(A2)·op(B2)] + bias) (+ C when
// accumulating), with optional epilogues that fuse the product's elementwise neighbours (an
// activation's gradient, a second output of the activation, dropout, a residual add).
//
//   A stored [M,K] (op = identity) or [K,M] (transA, op = transpose)
//   B stored [K,N] (op = identity) or [N,K] (transB)
//   C [M,N] row-major; bias [N]; batch dimensions are flattened into M by the caller.
//
// So a linear layer is one of (x [R,in], dy [R,out], R = batch·sequence rows):
//   forward   in_out: x·W  (W [in,out])          out_in: x·Wᵀ (transB)
//   input grad in_out: dy·Wᵀ (transB)             out_in: dy·W
//   weight grad in_out: xᵀ·dy (transA, K = R)     out_in: dyᵀ·x (transA, K = R)
//
// Sizes are baked into the WGSL as constants (the compiler knows every shape), so every bounds
// check is resolved by the shader compiler. Two variants:
//   'regblock': each invocation computes a 4×4 block of C with vec4 loads and no workgroup
//               memory. For CPU adapters (SwiftShader, llvmpipe), where a workgroup barrier costs
//               about 10× the arithmetic it protects.
//   'tiled':    a workgroup stages BM×BK and BK×BN tiles of A and B in workgroup memory and each
//               invocation computes a 4×4 block from them. For hardware GPUs.

import { dropoutThreshold } from '../../compiler/ir/dropout.ts';
import type { MatmulBinding } from '../../compiler/lower/kernels.ts';
import { GRAD_ACTIVATIONS, type Activation, type GradActivation, type MatmulSpec, bindingElements, stridesOf } from '../../compiler/lower/matmul-spec.ts';
import { CodegenError } from '../codegen-error.ts';
import type { AdapterCaps, KernelLimits } from './caps.ts';
import { PCG4_WGSL, PCG_WGSL } from './dropout.ts';
import { unaryFn, unaryGradFn } from './elementwise.ts';

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
}

export interface MatmulKernel {
  wgsl: string;
  label: string;
  variant: MatmulVariant;
  /** Binding order of the buffers: a, b, [a2, b2], [bias], [pre], [res], [globals], c, [activated]. */
  bindings: readonly MatmulBinding[];
  workgroups: [number, number, number];
  /** 2·M·N·K (+ 2·M·N·K2): the multiply-adds of the product(s). */
  flops: number;
}

/** The variant for an adapter: no workgroup memory on CPU adapters. */
export function matmulVariantFor(info: Pick<AdapterCaps, 'isSoftware'>): MatmulVariant {
  return info.isSoftware ? 'regblock' : 'tiled';
}

const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** A WGSL f32 literal. */
function f32(x: number): string {
  if (!Number.isFinite(x)) throw new CodegenError('validation', `matmul constant ${x} is not a finite number`);
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function checkSpec(spec: MatmulSpec, limits: MatmulLimits): void {
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
  for (const name of ['a', 'b', 'c'] as const) {
    const bytes = elems[name] * (name === 'b' && spec.halfB ? 2 : 4);
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

/** Whether the epilogue transforms the whole sum (so an accumulating piece reads C first). */
const transformsSum = (spec: MatmulSpec): boolean =>
  !!(spec.activation || spec.activationGrad || spec.activationOut || spec.dropout || spec.residual);

// ------------------------------------------------------------------------ shared WGSL pieces

/**
 * The epilogue, inside `fn main` after the products: `acc` is array<vec4<f32>, 4>, row r of the
 * 4×4 block at (m0, n0). Writes rows below M and columns below N. `first`: the first block of
 * the invocation (declares what all its blocks share: the bias, dropout's key).
 */
function epilogue(spec: MatmulSpec, c4: boolean, bias4: boolean, acc = 'acc', rowBase = 'm0', first = true, acc2 = ''): string {
  const { N } = spec;
  const lines: string[] = [];
  const alpha = spec.alpha ?? 1;
  let biasExpr = '';
  if (spec.bias) {
    if (first) lines.push(
      bias4
        ? '  let bv = bias[n0 / 4u];'
        : `  let bv = vec4<f32>(bias[min(n0, ${N - 1}u)], bias[min(n0 + 1u, ${N - 1}u)], bias[min(n0 + 2u, ${N - 1}u)], bias[min(n0 + 3u, ${N - 1}u)]);`,
    );
    biasExpr = ' + bv';
  }
  if (spec.dropout && first) lines.push('  let key = pcg(DROP_SEED + pcg(globals[0]));');
  lines.push('  for (var r = 0u; r < 4u; r++) {');
  lines.push(`    let m = ${rowBase} + r;`);
  lines.push('    if (m >= M) { break; }');
  // ci: where (m, n0) is in C's binding, and in the bindings laid out like C (pre, res, activated).
  lines.push(c4 ? '    let ci = (m * LDC + CC + n0) / 4u;' : '    let ci = m * LDC + CC + n0;');
  // Four columns of a C-shaped binding; scalar reads clamp columns past N (they are never stored).
  const load = (arr: string): string =>
    c4 ? `${arr}[ci]` : `vec4<f32>(${[0, 1, 2, 3].map((j) => (j === 0 ? `${arr}[ci]` : `${arr}[m * LDC + CC + min(n0 + ${j}u, N - 1u)]`)).join(', ')})`;
  const store = (arr: string, value: string, op = '='): void => {
    if (c4) {
      lines.push(`    ${arr}[ci] ${op} ${value};`);
      return;
    }
    lines.push('    for (var j = 0u; j < 4u; j++) {');
    lines.push(`      if (n0 + j < N) { ${arr}[ci + j] ${op} ${value}[j]; }`);
    lines.push('    }');
  };
  let v = alpha === 1 ? `${acc}[r]` : `${f32(alpha)} * ${acc}[r]`;
  if (spec.second && acc2) {
    const alpha2 = spec.second.alpha ?? 1;
    v = `${v} + ${alpha2 === 1 ? '' : `${f32(alpha2)} * `}${acc2}[r]`;
  }
  lines.push(`    var v = ${v}${biasExpr};`);
  const whole = transformsSum(spec);
  if (spec.accumulate && whole) lines.push(`    v += ${load('c')};`);
  if (spec.activationGrad) lines.push(`    v = dact(${load('pre')}, v);`);
  if (spec.activation) lines.push('    v = act(v);');
  if (spec.activationOut) store('activated', 'act(v)');
  if (spec.dropout) {
    lines.push('    let e = vec4<u32>(DROP0 + m * LDC + CC + n0) + vec4<u32>(0u, 1u, 2u, 3u); // the dropout tensor\'s element indices');
    lines.push('    v = select(vec4<f32>(0.0), v * DROP_SCALE, pcg4(e + key) >= vec4<u32>(DROP_THRESHOLD));');
  }
  if (spec.residual) lines.push(`    v += ${load('res')};`);
  store('c', 'v', spec.accumulate && !whole ? '+=' : '=');
  lines.push('  }');
  return lines.join('\n');
}

/** C and the bias are read and written as vec4 when rows, stride and first column allow it. */
function vec4C(spec: MatmulSpec): boolean {
  const s = stridesOf(spec);
  return spec.N % 4 === 0 && s.ldc % 4 === 0 && s.cCol % 4 === 0;
}

function header(spec: MatmulSpec, kinds: { a: string; b: string; bias: string; c: string }): string {
  const { M, N, K } = spec;
  const s = stridesOf(spec);
  const out: string[] = [`const M = ${M}u;`, `const N = ${N}u;`, `const K = ${K}u;`];
  // Row strides and first columns of the stored operands (dense unless a piece of a split matmul).
  out.push(`const LDA = ${s.lda}u;`, `const LDB = ${s.ldb}u;`, `const LDC = ${s.ldc}u;`);
  out.push(`const AC = ${s.aCol}u;`, `const BC = ${s.bCol}u;`, `const CC = ${s.cCol}u;`);
  out.push(`@group(0) @binding(0) var<storage, read> a: array<${kinds.a}>;`);
  out.push(`@group(0) @binding(1) var<storage, read> b: array<${kinds.b}>;`);
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
  const act = spec.activation ?? spec.activationOut;
  if (act) out.push(unaryFn(act, 'act', 'vec4<f32>'));
  if (spec.activationGrad) out.push(unaryGradFn(spec.activationGrad, 'dact', 'vec4<f32>'));
  if (spec.dropout) {
    const d = spec.dropout;
    out.push(`const DROP_THRESHOLD = ${dropoutThreshold(d.p)}u; // floor(p·2³²), as the dropout kernel`);
    out.push(`const DROP_SEED = ${d.seed >>> 0}u;`, `const DROP_SCALE = ${f32(Math.fround(1 / (1 - d.p)))};`, `const DROP0 = ${d.index0 ?? 0}u;`);
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

function bindingsOf(spec: MatmulSpec): MatmulKernel['bindings'] {
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

function labelOf(spec: MatmulSpec, variant: MatmulVariant): string {
  const t = `${spec.transA ? 'T' : 'N'}${spec.transB ? 'T' : 'N'}`;
  const piece = [spec.lda, spec.ldb, spec.ldc, spec.aCol, spec.bCol, spec.cCol].some((x) => x !== undefined) ? 'piece' : '';
  const second = spec.second ? `plus${spec.second.transA ? 'T' : 'N'}${spec.second.transB ? 'T' : 'N'}${spec.second.K}` : '';
  const extra = [
    spec.halfB ? 'hb' : '',
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
  return `matmul_${variant}_${t}_${spec.M}x${spec.N}x${spec.K}${extra.length ? `_${extra.join('_')}` : ''}`;
}

/** Picks a workgroup shape that fits the adapter's invocation limits. */
function fitWorkgroup(want: readonly [number, number], limits: MatmulLimits): [number, number] {
  let [x, y] = want;
  x = Math.min(x, limits.maxComputeWorkgroupSizeX);
  y = Math.min(y, limits.maxComputeWorkgroupSizeY);
  while (x * y > limits.maxComputeInvocationsPerWorkgroup) {
    if (y >= x) y = Math.max(1, y >> 1);
    else x = Math.max(1, x >> 1);
  }
  return [x, y];
}

function workgroupsFor(rowsPerGroup: number, colsPerGroup: number, spec: MatmulSpec, limits: MatmulLimits) {
  const wx = ceilDiv(spec.N, colsPerGroup);
  const wy = ceilDiv(spec.M, rowsPerGroup);
  if (wx > limits.maxComputeWorkgroupsPerDimension || wy > limits.maxComputeWorkgroupsPerDimension) {
    throw new CodegenError(
      'limit',
      `matmul ${spec.M}×${spec.N} needs ${wx}×${wy} workgroups, more than maxComputeWorkgroupsPerDimension ` +
        `(${limits.maxComputeWorkgroupsPerDimension}); split the rows into several dispatches`,
    );
  }
  return [wx, wy, 1] as [number, number, number];
}

// ------------------------------------------------------------------------ variant (a): regblock

/**
 * Register-blocked: invocation (x, y) computes rows m0..m0+3 and columns n0..n0+3 of C, stepping
 * k by 4. Each operand whose contiguous dimension is a multiple of 4 is read as vec4.
 *
 * The 4×4 blocks are WGSL matrices whose column i is the i-th loaded vec4; acc holds Cᵀ's block
 * (column r = row r of C), so Cᵀ += op(B)ᵀ·op(A)ᵀ becomes one mat4x4 product per k-step.
 */
function regblockWgsl(spec: MatmulSpec, wg: [number, number], rowBlocks: number): string {
  const { M, N, K } = spec;
  const tA = !!spec.transA;
  const tB = !!spec.transB;
  const st = stridesOf(spec);
  // vec4 reads where the contiguous dimension, the stride and the first column are multiples of 4
  const a4 = (tA ? M : K) % 4 === 0 && st.lda % 4 === 0 && st.aCol % 4 === 0;
  const b4 = (tB ? K : N) % 4 === 0 && st.ldb % 4 === 0 && st.bCol % 4 === 0;
  const c4 = vec4C(spec);
  const K4 = K - (K % 4);
  const groups = Array.from({ length: rowBlocks }, (_, g) => g);

  // Flat indices of op(A)[m, k] and op(B)[k, n] (WGSL expressions), and scalar reads of them.
  const aIdx = (m: string, k: string): string => (tA ? `(${k}) * LDA + AC + ${m}` : `(${m}) * LDA + AC + ${k}`);
  const bIdx = (k: string, n: string): string => (tB ? `(${n}) * LDB + BC + ${k}` : `(${k}) * LDB + BC + ${n}`);
  const scalar = (arr: string, vec: boolean, idx: string): string =>
    vec ? `${arr}[(${idx}) / 4u][(${idx}) % 4u]` : `${arr}[${idx}]`;
  const mr = (g: number, r: number): string => `mc${4 * g + r}`; // clamped row index
  const nc = (c: number): string => `nc${c}`; // clamped column index

  // The four vec4 columns of row group g's A-matrix at k-step `k`.
  const aCols = (g: number): string[] =>
    [0, 1, 2, 3].map((i) => {
      if (!tA) {
        // row m_i of A, k..k+3 (contiguous)
        return a4
          ? `a[(${mr(g, i)} * LDA + AC + k) / 4u]`
          : `vec4<f32>(${[0, 1, 2, 3].map((j) => `a[${mr(g, i)} * LDA + AC + k + ${j}u]`).join(', ')})`;
      }
      // row k+i of stored A, columns m..m+3 of group g (contiguous)
      return a4
        ? `a[((k + ${i}u) * LDA + AC + m0 + ${4 * g}u) / 4u]`
        : `vec4<f32>(${[0, 1, 2, 3].map((r) => `a[(k + ${i}u) * LDA + AC + ${mr(g, r)}]`).join(', ')})`;
    });
  // B's reads: a vec4 at a multiple-of-4 index, or one element (half floats unpacked).
  const half = !!spec.halfB;
  const bVec = (idx4: string): string => (half ? `bh4(b[${idx4}])` : `b[${idx4}]`);
  const bOne = (idx: string): string => (b4 ? `${bVec(`(${idx}) / 4u`)}[(${idx}) % 4u]` : half ? `bh1(${idx})` : `b[${idx}]`);
  const bCols = [0, 1, 2, 3].map((i) => {
    if (!tB) {
      // row k+i of B, columns n0..n0+3
      return b4
        ? bVec(`((k + ${i}u) * LDB + BC + n0) / 4u`)
        : `vec4<f32>(${[0, 1, 2, 3].map((c) => bOne(`(k + ${i}u) * LDB + BC + ${nc(c)}`)).join(', ')})`;
    }
    // row n_i of stored B, k..k+3
    return b4
      ? bVec(`(${nc(i)} * LDB + BC + k) / 4u`)
      : `vec4<f32>(${[0, 1, 2, 3].map((j) => bOne(`${nc(i)} * LDB + BC + k + ${j}u`)).join(', ')})`;
  });

  const body: string[] = [];
  body.push(`@compute @workgroup_size(${wg[0]}, ${wg[1]})`);
  body.push('fn main(@builtin(global_invocation_id) gid: vec3<u32>) {');
  body.push('  let n0 = gid.x * 4u;');
  body.push(`  let m0 = gid.y * ${4 * rowBlocks}u;`);
  body.push('  if (m0 >= M || n0 >= N) { return; }');
  // Clamped indices: rows past M and columns past N read valid memory and are never stored.
  for (const g of groups) for (let r = 0; r < 4; r++) body.push(`  let ${mr(g, r)} = min(m0 + ${4 * g + r}u, M - 1u);`);
  for (let c = 0; c < 4; c++) body.push(`  let ${nc(c)} = min(n0 + ${c}u, N - 1u);`);
  for (const g of groups) body.push(`  var acc${g} = mat4x4<f32>();`);
  if (K4 > 0) {
    body.push(`  for (var k = 0u; k < ${K4}u; k += 4u) {`);
    body.push(`    let pb = ${tB ? 'transpose(' : ''}mat4x4<f32>(${bCols.join(', ')})${tB ? ')' : ''};`);
    for (const g of groups) {
      const pa = `mat4x4<f32>(${aCols(g).join(', ')})`;
      body.push(`    acc${g} += pb * ${tA ? `transpose(${pa})` : pa};`);
    }
    body.push('  }');
  }
  // K tail: one k at a time, an outer product of a column of op(A) and a row of op(B).
  for (let k = K4; k < K; k++) {
    const ks = `${k}u`;
    body.push('  {');
    body.push(`    let bv = vec4<f32>(${[0, 1, 2, 3].map((c) => bOne(bIdx(ks, nc(c)))).join(', ')});`);
    for (const g of groups) {
      body.push(`    let av${g} = vec4<f32>(${[0, 1, 2, 3].map((r) => scalar('a', a4, aIdx(mr(g, r), ks))).join(', ')});`);
      body.push(`    acc${g} += mat4x4<f32>(av${g}.x * bv, av${g}.y * bv, av${g}.z * bv, av${g}.w * bv);`);
    }
    body.push('  }');
  }
  if (spec.second) {
    // The second product, one k at a time (K2 is LoRA's rank: few steps), scalar reads.
    const s2 = spec.second;
    const a2 = (m: string, k: string): string => (s2.transA ? `a2[${k} * M + ${m}]` : `a2[${m} * K2 + ${k}]`);
    const b2 = (k: string, n: string): string => (s2.transB ? `b2[${n} * K2 + ${k}]` : `b2[${k} * N + ${n}]`);
    for (const g of groups) body.push(`  var acc2${g} = mat4x4<f32>();`);
    body.push('  for (var k = 0u; k < K2; k++) {');
    body.push(`    let bv = vec4<f32>(${[0, 1, 2, 3].map((c) => b2('k', nc(c))).join(', ')});`);
    for (const g of groups) {
      body.push(`    let av${g} = vec4<f32>(${[0, 1, 2, 3].map((r) => a2(mr(g, r), 'k')).join(', ')});`);
      body.push(`    acc2${g} += mat4x4<f32>(av${g}.x * bv, av${g}.y * bv, av${g}.z * bv, av${g}.w * bv);`);
    }
    body.push('  }');
  }
  for (const g of groups) body.push(epilogue(spec, c4, !!spec.bias && c4, `acc${g}`, `m0 + ${4 * g}u`, g === 0, spec.second ? `acc2${g}` : ''));
  body.push('}');

  const kinds = {
    a: a4 ? 'vec4<f32>' : 'f32',
    b: half ? (b4 ? 'vec2<u32>' : 'u32') : b4 ? 'vec4<f32>' : 'f32',
    bias: c4 ? 'vec4<f32>' : 'f32',
    c: c4 ? 'vec4<f32>' : 'f32',
  };
  return `${header(spec, kinds)}\n${body.join('\n')}\n`;
}

// ------------------------------------------------------------------------ variant (b): tiled

/**
 * Workgroup-tiled: a workgroup of wg[0]×wg[1] invocations computes a BM×BN block of C
 * (BM = 4·wg[1], BN = 4·wg[0]); per step of BK it stages op(A)'s BM×BK and op(B)'s BK×BN tiles
 * in workgroup memory (k-major, zero-filled past the edges), with loads coalesced along each
 * operand's contiguous dimension, then each invocation accumulates its 4×4 block.
 */
function tiledWgsl(spec: MatmulSpec, wg: [number, number], BK: number): string {
  const tA = !!spec.transA;
  const tB = !!spec.transB;
  const c4 = vec4C(spec);
  const BN = 4 * wg[0];
  const BM = 4 * wg[1];
  const T = wg[0] * wg[1];
  const aLoads = ceilDiv(BM * BK, T);
  const bLoads = ceilDiv(BK * BN, T);

  const body: string[] = [];
  body.push(`const BM = ${BM}u;`, `const BN = ${BN}u;`, `const BK = ${BK}u;`, `const T = ${T}u;`);
  body.push('var<workgroup> As: array<f32, BK * BM>; // [k][m]');
  body.push('var<workgroup> Bs: array<f32, BK * BN>; // [k][n]');
  body.push(`@compute @workgroup_size(${wg[0]}, ${wg[1]})`);
  body.push(
    'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {',
  );
  body.push('  let gm = wid.y * BM;');
  body.push('  let gn = wid.x * BN;');
  body.push('  let m0 = gm + lid.y * 4u;');
  body.push('  let n0 = gn + lid.x * 4u;');
  body.push('  var acc = array<vec4<f32>, 4>();');
  body.push('  for (var k0 = 0u; k0 < K; k0 += BK) {');
  // A tile: element e → (mm, kk), coalesced along A's contiguous dimension.
  body.push(`    for (var i = 0u; i < ${aLoads}u; i++) {`);
  body.push('      let e = tid + i * T;');
  body.push('      if (e < BM * BK) {');
  if (!tA) body.push('        let kk = e % BK; let mm = e / BK;');
  else body.push('        let mm = e % BM; let kk = e / BM;');
  body.push('        let m = gm + mm; let k = k0 + kk;');
  body.push(`        As[kk * BM + mm] = select(0.0, a[${tA ? 'k * LDA + AC + m' : 'm * LDA + AC + k'}], m < M && k < K);`);
  body.push('      }');
  body.push('    }');
  body.push(`    for (var i = 0u; i < ${bLoads}u; i++) {`);
  body.push('      let e = tid + i * T;');
  body.push('      if (e < BK * BN) {');
  if (!tB) body.push('        let nn = e % BN; let kk = e / BN;');
  else body.push('        let kk = e % BK; let nn = e / BK;');
  body.push('        let n = gn + nn; let k = k0 + kk;');
  body.push(`        Bs[kk * BN + nn] = select(0.0, ${spec.halfB ? 'bh1' : 'b'}${spec.halfB ? '(' : '['}${tB ? 'n * LDB + BC + k' : 'k * LDB + BC + n'}${spec.halfB ? ')' : ']'}, n < N && k < K);`);
  body.push('      }');
  body.push('    }');
  body.push('    workgroupBarrier();');
  body.push('    for (var kk = 0u; kk < BK; kk++) {');
  body.push('      let ai = kk * BM + lid.y * 4u;');
  body.push('      let bi = kk * BN + lid.x * 4u;');
  body.push('      let av = vec4<f32>(As[ai], As[ai + 1u], As[ai + 2u], As[ai + 3u]);');
  body.push('      let bv = vec4<f32>(Bs[bi], Bs[bi + 1u], Bs[bi + 2u], Bs[bi + 3u]);');
  body.push('      acc[0] += av.x * bv;');
  body.push('      acc[1] += av.y * bv;');
  body.push('      acc[2] += av.z * bv;');
  body.push('      acc[3] += av.w * bv;');
  body.push('    }');
  body.push('    workgroupBarrier();');
  body.push('  }');
  body.push('  if (n0 >= N) { return; }');
  body.push(epilogue(spec, c4, !!spec.bias && c4));
  body.push('}');
  // selects read a[...] even when out of range; WebGPU clamps or zeroes such reads (robust
  // buffer access), so it is safe, and the value is discarded.
  const kinds = { a: 'f32', b: spec.halfB ? 'u32' : 'f32', bias: c4 ? 'vec4<f32>' : 'f32', c: c4 ? 'vec4<f32>' : 'f32' };
  return `${header(spec, kinds)}\n${body.join('\n')}\n`;
}

// ------------------------------------------------------------------------ public API

/**
 * regblock's defaults, from bench/matmul.ts on a 2-core machine: 8×4 outputs per invocation beat
 * 4×4 on both software adapters (llvmpipe about 15 against 11 GFLOP/s); 16×4 outputs were no
 * better within the noise, and waste more work on small M.
 */
export const REGBLOCK_DEFAULTS = { workgroup: [16, 4] as const, rowBlocks: 2 };

/**
 * regblock's workgroup for a product whose N is under half the default's 16 columns of 4 (LoRA's
 * x·Aᵀ, dy·B and dyᵀ·(x·Aᵀ), N = rank): enough columns to cover N (a power of two), 16
 * invocations in all. With the default 16 × 4, 14 of every 16 invocations return at once, and
 * SwiftShader still runs their SIMD lanes: the N = 8 products of the benchmark model
 * (1024 × 8 × 128, 1024 × 8 × 384, 384 × 8 × 1024) took 4–9.9 ms there against 3.3–6.6 ms shaped
 * 2 × 8 (llvmpipe: 0.8–1.9 against 0.6–1.8 ms).
 */
export function regblockWorkgroup(spec: Pick<MatmulSpec, 'N'>): readonly [number, number] {
  const [x] = REGBLOCK_DEFAULTS.workgroup;
  const cols = ceilDiv(spec.N, 4);
  if (cols >= x / 2) return REGBLOCK_DEFAULTS.workgroup;
  const nx = 2 ** Math.ceil(Math.log2(cols));
  return [nx, 16 / nx];
}

/**
 * regblock's rows per invocation (in blocks of 4) for a product on an adapter class. On llvmpipe,
 * 16 × 4 outputs per invocation beat 8 × 4 for products whose A is not transposed and whose M is
 * large (bench/matmul.ts, median GFLOP/s: [1024×128]·[128×384] 17.0 against 15.3, ·[384×128]ᵀ
 * 17.3 against 15.2, [1024×128]·[128×512] + bias + gelu 16.8 against 8.1) but not for xᵀ·dy
 * (10.7 against 16.3); on SwiftShader 8 × 4 wins everywhere (3.4 against 2.6 GFLOP/s).
 */
export function regblockRowBlocks(spec: Pick<MatmulSpec, 'M' | 'transA'>, adapterClass?: string): number {
  return adapterClass === 'llvmpipe' && !spec.transA && spec.M >= 256 ? 4 : REGBLOCK_DEFAULTS.rowBlocks;
}

/** Generates the WGSL and dispatch size of C = act(alpha·op(A)·op(B) + bias) (and its epilogues) for one variant. */
export function matmulKernel(spec: MatmulSpec, opts: MatmulOptions): MatmulKernel {
  checkSpec(spec, opts.limits);
  const label = labelOf(spec, opts.variant);
  const flops = 2 * spec.M * spec.N * (spec.K + (spec.second?.K ?? 0));
  if (opts.variant === 'regblock') {
    const wg = fitWorkgroup(opts.workgroup ?? regblockWorkgroup(spec), opts.limits);
    const rowBlocks = opts.rowBlocks ?? REGBLOCK_DEFAULTS.rowBlocks;
    const workgroups = workgroupsFor(4 * rowBlocks * wg[1], 4 * wg[0], spec, opts.limits);
    return { wgsl: regblockWgsl(spec, wg, rowBlocks), label, variant: 'regblock', bindings: bindingsOf(spec), workgroups, flops };
  }
  if (spec.second) throw new CodegenError('validation', 'the tiled matmul has no second product: dispatch it as a second, accumulating matmul');
  const wg = fitWorkgroup(opts.workgroup ?? [16, 16], opts.limits);
  const BK = 16;
  const shared = 4 * BK * 4 * (wg[0] + wg[1]);
  if (shared > opts.limits.maxComputeWorkgroupStorageSize) {
    throw new CodegenError('limit', `tiled matmul needs ${shared} bytes of workgroup memory; the adapter allows ${opts.limits.maxComputeWorkgroupStorageSize}`);
  }
  const workgroups = workgroupsFor(4 * wg[1], 4 * wg[0], spec, opts.limits);
  return { wgsl: tiledWgsl(spec, wg, BK), label, variant: 'tiled', bindings: bindingsOf(spec), workgroups, flops };
}
