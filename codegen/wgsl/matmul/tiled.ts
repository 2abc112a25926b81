// The workgroup-tiled matmul (for hardware GPUs): a workgroup stages tiles of A and B in
// workgroup memory and each invocation computes a 4×4 block of C from them.

import type { MatmulSpec } from '../../../compiler/lower/matmul-spec.ts';
import { epilogue } from './epilogue.ts';
import { type BindingKinds, ceilDiv, header, vec4C } from './spec.ts';

/** Bytes of workgroup memory the tiles take: BK × (BM + BN) f32. */
export const tileBytes = (wg: readonly [number, number], BK: number): number => 4 * BK * 4 * (wg[0] + wg[1]);

/**
 * A workgroup of wg[0]×wg[1] invocations computes a BM×BN block of C (BM = 4·wg[1],
 * BN = 4·wg[0]); per step of BK it stages op(A)'s BM×BK and op(B)'s BK×BN tiles in workgroup
 * memory (k-major, zero-filled past the edges), with loads coalesced along each operand's
 * contiguous dimension, then each invocation accumulates its 4×4 block.
 */
export function tiledWgsl(spec: MatmulSpec, wg: [number, number], BK: number): string {
  const tA = !!spec.transA;
  const tB = !!spec.transB;
  const c4 = vec4C(spec);
  const BN = 4 * wg[0];
  const BM = 4 * wg[1];
  const T = wg[0] * wg[1];
  const aLoads = ceilDiv(BM * BK, T);
  const bLoads = ceilDiv(BK * BN, T);
  const bRead = (idx: string): string => (spec.quantB ? `qb(${idx})` : spec.halfB ? `bh1(${idx})` : `b[${idx}]`);

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
  body.push(`        Bs[kk * BN + nn] = select(0.0, ${bRead(tB ? 'n * LDB + BC + k' : 'k * LDB + BC + n')}, n < N && k < K);`);
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
  const kinds: BindingKinds = { a: 'f32', b: spec.halfB ? 'u32' : 'f32', bias: c4 ? 'vec4<f32>' : 'f32', c: c4 ? 'vec4<f32>' : 'f32' };
  return `${header(spec, kinds)}\n${body.join('\n')}\n`;
}
