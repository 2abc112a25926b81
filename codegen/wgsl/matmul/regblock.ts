// The register-blocked matmul (for CPU adapters, SwiftShader and llvmpipe, where a workgroup
// barrier costs about 10× the arithmetic it protects): each invocation computes 4·rowBlocks rows
// × 4 columns of C with vec4 loads and no workgroup memory.

import { type MatmulSpec, stridesOf } from '../../../compiler/lower/matmul-spec.ts';
import { names, vec4Of } from '../unroll.ts';
import { epilogue } from './epilogue.ts';
import { type BindingKinds, header, openInit, vec4C } from './spec.ts';

const LANES = [0, 1, 2, 3];

/**
 * Invocation (x, y) computes rows m0..m0+4·rowBlocks−1 and columns n0..n0+3 of C, stepping k by 4.
 * Each operand whose contiguous dimension is a multiple of 4 is read as vec4.
 *
 * The 4×4 blocks are WGSL matrices whose column i is the i-th loaded vec4; acc holds Cᵀ's block
 * (column r = row r of C), so Cᵀ += op(B)ᵀ·op(A)ᵀ becomes one mat4x4 product per k-step.
 */
export function regblockWgsl(spec: MatmulSpec, wg: [number, number], rowBlocks: number, open = false): string {
  const { M, N, K } = spec;
  const tA = !!spec.transA;
  const tB = !!spec.transB;
  const st = stridesOf(spec);
  // vec4 reads where the contiguous dimension, the stride and the first column are multiples of 4
  const a4 = (tA ? M : K) % 4 === 0 && st.lda % 4 === 0 && st.aCol % 4 === 0;
  const b4 = !spec.quantB && (tB ? K : N) % 4 === 0 && st.ldb % 4 === 0 && st.bCol % 4 === 0;
  const c4 = vec4C(spec);
  const K4 = K - (K % 4);
  const groups = Array.from({ length: rowBlocks }, (_, g) => g);

  // Flat indices of op(A)[m, k] and op(B)[k, n] (WGSL expressions), and scalar reads of them.
  const aIdx = (m: string, k: string): string => (tA ? `(${k}) * LDA + AC + ${m}` : `(${m}) * LDA + AC + ${k}`);
  const bIdx = (k: string, n: string): string => (tB ? `(${n}) * LDB + BC + ${k}` : `(${k}) * LDB + BC + ${n}`);
  const scalar = (arr: string, vec: boolean, idx: string): string =>
    vec ? `${arr}[(${idx}) / 4u][(${idx}) % 4u]` : `${arr}[${idx}]`;
  // Clamped row and column indices: rows past M and columns past N read valid memory and are never stored.
  const mcs = names('mc', 4 * rowBlocks);
  const ncs = names('nc', 4);
  const mr = (g: number, r: number): string => mcs[4 * g + r]!;

  // The four vec4 columns of row group g's A-matrix at k-step `k`.
  const aCols = (g: number): string[] =>
    LANES.map((i) => {
      if (!tA) {
        // row m_i of A, k..k+3 (contiguous)
        return a4 ? `a[(${mr(g, i)} * LDA + AC + k) / 4u]` : vec4Of((j) => `a[${mr(g, i)} * LDA + AC + k + ${j}u]`);
      }
      // row k+i of stored A, columns m..m+3 of group g (contiguous)
      return a4 ? `a[((k + ${i}u) * LDA + AC + m0 + ${4 * g}u) / 4u]` : vec4Of((r) => `a[(k + ${i}u) * LDA + AC + ${mr(g, r)}]`);
    });
  // B's reads: a vec4 at a multiple-of-4 index, or one element (half floats unpacked, quantized dequantized).
  const half = !!spec.halfB;
  const bVec = (idx4: string): string => (half ? `bh4(b[${idx4}])` : `b[${idx4}]`);
  const bOne = (idx: string): string => (b4 ? `${bVec(`(${idx}) / 4u`)}[(${idx}) % 4u]` : spec.quantB ? `qb(${idx})` : half ? `bh1(${idx})` : `b[${idx}]`);
  const bCols = LANES.map((i) => {
    if (!tB) {
      // row k+i of B, columns n0..n0+3
      return b4 ? bVec(`((k + ${i}u) * LDB + BC + n0) / 4u`) : vec4Of((c) => bOne(`(k + ${i}u) * LDB + BC + ${ncs[c]}`));
    }
    // row n_i of stored B, k..k+3
    return b4 ? bVec(`(${ncs[i]} * LDB + BC + k) / 4u`) : vec4Of((j) => bOne(`${ncs[i]} * LDB + BC + k + ${j}u`));
  });

  const body: string[] = [];
  body.push(`@compute @workgroup_size(${wg[0]}, ${wg[1]})`);
  body.push('fn main(@builtin(global_invocation_id) gid: vec3<u32>) {');
  if (open) body.push(openInit(spec));
  body.push('  let n0 = gid.x * 4u;');
  body.push(`  let m0 = gid.y * ${4 * rowBlocks}u;`);
  body.push('  if (m0 >= M || n0 >= N) { return; }');
  mcs.forEach((x, r) => body.push(`  let ${x} = min(m0 + ${r}u, M - 1u);`));
  ncs.forEach((x, c) => body.push(`  let ${x} = min(n0 + ${c}u, N - 1u);`));
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
    body.push(`    let bv = ${vec4Of((c) => bOne(bIdx(ks, ncs[c]!)))};`);
    for (const g of groups) {
      body.push(`    let av${g} = ${vec4Of((r) => scalar('a', a4, aIdx(mr(g, r), ks)))};`);
      body.push(`    acc${g} += ${outer(`av${g}`, 'bv')};`);
    }
    body.push('  }');
  }
  if (spec.second) body.push(...secondProduct(spec, groups, mr, ncs));
  for (const g of groups) body.push(epilogue(spec, c4, !!spec.bias && c4, { acc: `acc${g}`, rowBase: `m0 + ${4 * g}u`, first: g === 0, acc2: spec.second ? `acc2${g}` : '' }));
  body.push('}');

  const kinds: BindingKinds = {
    a: a4 ? 'vec4<f32>' : 'f32',
    b: half ? (b4 ? 'vec2<u32>' : 'u32') : b4 ? 'vec4<f32>' : 'f32',
    bias: c4 ? 'vec4<f32>' : 'f32',
    c: c4 ? 'vec4<f32>' : 'f32',
  };
  return `${header(spec, kinds, open)}\n${body.join('\n')}\n`;
}

/** The outer product av ⊗ bv as Cᵀ's block (column r = av[r]·bv). */
const outer = (av: string, bv: string): string => `mat4x4<f32>(${LANES.map((r) => `${av}.${'xyzw'[r]} * ${bv}`).join(', ')})`;

/** The second product (K2 is LoRA's rank: few steps), one k at a time with scalar reads, into acc2<g>. */
function secondProduct(spec: MatmulSpec, groups: number[], mr: (g: number, r: number) => string, ncs: string[]): string[] {
  const s2 = spec.second!;
  const a2 = (m: string, k: string): string => (s2.transA ? `a2[${k} * M + ${m}]` : `a2[${m} * K2 + ${k}]`);
  const b2 = (k: string, n: string): string => (s2.transB ? `b2[${n} * K2 + ${k}]` : `b2[${k} * N + ${n}]`);
  const lines: string[] = [];
  for (const g of groups) lines.push(`  var acc2${g} = mat4x4<f32>();`);
  lines.push('  for (var k = 0u; k < K2; k++) {');
  lines.push(`    let bv = ${vec4Of((c) => b2('k', ncs[c]!))};`);
  for (const g of groups) {
    lines.push(`    let av${g} = ${vec4Of((r) => a2(mr(g, r), 'k'))};`);
    lines.push(`    acc2${g} += ${outer(`av${g}`, 'bv')};`);
  }
  lines.push('  }');
  return lines;
}
