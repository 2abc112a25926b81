// attention_grad_k and attention_grad_v, separately or together (attentionGradKV, the plan's
// attention_grad_kv fusion, which shares p_ij between them). With p_ij = e^(s_ij − lse_i) and
// D_i = dy_i·o_i read from the forward,
//   dk_j = Σ_i p_ij (dP_ij − D_i) q_i / √hd,  dv_j = Σ_i p_ij dy_i   (dP_ij = dy_i·v_j),
// summed over the queries that see key j and the heads of the kv head's group.
//   invocation (software adapters): one invocation per (batch, kv head, block of J keys; one block
//     when B·KV ≥ 32), which owns those rows of dk / dv and walks them R keys at a time with their
//     gradients in registers over every query that sees them (each q / dy row loaded serves R keys).
//   workgroup (hardware GPUs, and software ones past the loop budget): a workgroup of 64
//     invocations, one key each, shares 64 queries' lse and dy·o at a time in workgroup memory —
//     the only attention kernel with workgroup memory and barriers.
import { LOOP_BUDGET, ceilDiv, checkOutput, failLimit, grid, u32, widthFor } from '../common.ts';
import type { GpuCaps, OpKernel } from '../types.ts';
import { at, dotBufs, each, loadVec, names, treeSum } from '../unroll.ts';
import { type AttentionRequest, bindings, firstQuery, geometry, preamble } from './spec.ts';
import { KEY_GRAD_WG, keyGradLoops, keyGradVariantFor, perKeyBlockShape, type KeyGrads } from './tuning.ts';

/** The gradient updates of key r for one query (x = its q row, y = its dy row, in registers). */
function keyUpdate(which: KeyGrads, r: number, n: number, p: string): string {
  const dv = each(n, (c) => `${which === 'kv' ? 'e' : 'a'}${r}_${c} += p * y${c};`);
  if (which === 'v') return `{ let p = ${p}; ${dv} }`;
  return `{ let p = ${p};
          let dp = ${treeSum(names(`v${r}_`, n).map((x, c) => `dot4(${x}, y${c})`))};
          let ds = p * (dp - sd) * SCALE;
          ${each(n, (c) => `a${r}_${c} += ds * x${c};`)}${which === 'kv' ? `\n          ${dv}` : ''} }`;
}

/**
 * attention_grad_k / _v (or both) on software adapters: one invocation per (kv head, b, block of
 * J keys). For each head of the group and each chunk of C queries that see a key of the block, it
 * copies the chunk's lse and computes its dy·o into private arrays, then walks the block R keys at
 * a time, their gradients in registers, over the chunk's queries, so each q / dy vector loaded
 * serves R keys and the gradients are read and written once per (chunk, key), not per (query, key).
 */
function perKeyBlock(req: AttentionRequest, caps: GpuCaps, which: KeyGrads): OpKernel {
  const g = geometry(req, 'grad');
  checkOutput(req, g.kShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const { J, NB, C, R } = perKeyBlockShape(g, caps, which);
  const gr = grid(req.op, g.B * g.KV * NB, caps, { heavy: true });
  const needK = which !== 'v';
  const d = bindings(T, { v: needK, dy: true, o: needK, lse: 'in', dv: which === 'kv' }, g.lengths);
  const outs: [string, string][] = which === 'kv' ? [['out', 'a'], ['dv', 'e']] : [['out', 'a']];
  const rs = Array.from({ length: R }, (_, r) => r);
  const keyLoads = rs
    .map(
      (r) => `let ko${r} = kb + min(j + ${u32(r)}, j1 - 1u) * KS;
      ${loadVec('let', `k${r}_`, 'k', `ko${r}`, n)}
      ${needK ? loadVec('let', `v${r}_`, 'v', `ko${r}`, n) : ''}
      ${outs.map(([buf, acc]) => loadVec('var', `${acc}${r}_`, buf, `ko${r}`, n)).join('\n      ')}`,
    )
    .join('\n      ');
  // Key j + r is visible to query qi iff j + r < visible(b, qi); the block's last key may lie past SK.
  const perKey = rs
    .map((r) => {
      const sr = `${treeSum(names(`k${r}_`, n).map((x, c) => `dot4(${x}, x${c})`))} * SCALE`;
      return keyUpdate(which, r, n, `select(0.0, exp(${sr} - sl), j + ${u32(r)} < nv)`);
    })
    .join('\n        ');
  const stores = rs
    .map((r) => `if (j + ${u32(r)} < jEnd) { ${outs.map(([buf, acc]) => each(n, (c) => `${at(buf, `ko${r}`, c)} = ${acc}${r}_${c};`)).join(' ')} }`)
    .join('\n      ');
  const op = which === 'kv' ? 'attention_grad_kv' : req.op;
  const wgsl = `${preamble(g, w, op)}
const J = ${u32(J)}; // keys per invocation
const NB = ${u32(NB)}; // key blocks per (batch, kv head)
const C = ${u32(C)}; // queries per chunk
const R = ${u32(R)}; // keys per register block
${d.wgsl}
${gr.entry}
${gr.prologue}
  // the block is the slowest index, so neighbouring invocations (SIMD lanes) run equal loops
  let kvh = i % KV;
  let b = (i / KV) % ${u32(g.B)};
  let blk = i / (KV * ${u32(g.B)});
  let j0 = blk * J;
  let j1 = min(j0 + J, SK);
  let kb = b * SK * KS + kvh * HDW;
  for (var j = j0; j < j1; j++) {
    let ko = kb + j * KS;
    ${outs.map(([buf]) => each(n, (c) => `${at(buf, 'ko', c)} = ${T}();`)).join(' ')}
  }
  var stL: array<f32, ${C}>;
  ${needK ? `var stD: array<f32, ${C}>;` : ''}
  // The first query that sees a key of this block: causal key j ≥ prefix is seen from i = j − prefix.
  let i0 = ${firstQuery(g, 'j0')};
  for (var hh = 0u; hh < G; hh++) {
    let h = kvh * G + hh;
    for (var c0 = i0; c0 < S; c0 += C) {
      let cEnd = min(c0 + C, S);
      for (var qi = c0; qi < cEnd; qi++) {
        stL[qi - c0] = lse[lseAt(b, h, qi)];
        ${needK ? `stD[qi - c0] = ${dotBufs('dy', 'o', '(b * S + qi) * QS + h * HDW', n)};` : ''}
      }
      // R keys at a time, over the chunk's queries that see the first of them
      let jEnd = min(j1, visible(b, cEnd - 1u));
      for (var j = j0; j < jEnd; j += R) {
      ${keyLoads}
      let qs = ${firstQuery(g, 'j', 'c0')};
      for (var qi = qs; qi < cEnd; qi++) {
        let qo = (b * S + qi) * QS + h * HDW;
        let nv = visible(b, qi);
        let sl = stL[qi - c0];
        ${needK ? 'let sd = stD[qi - c0];' : ''}
        ${loadVec('let', 'x', 'q', 'qo', n)}
        ${loadVec('let', 'y', 'dy', 'qo', n)}
        ${perKey}
      }
      ${stores}
      }
    }
  }
}
`;
  return { label: `${op}_${g.B}x${g.Sk}x${g.KV}x${g.hd}_J${J}_C${C}_R${R}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

/** The key gradients in the variant the adapter and the sizes call for. */
function keyGrad(req: AttentionRequest, caps: GpuCaps, which: KeyGrads): OpKernel {
  const g = geometry(req, 'grad');
  const variant = keyGradVariantFor(caps, g, which);
  if (caps.isSoftware && variant === 'workgroup' && keyGradLoops(g, caps, 'workgroup', which) > LOOP_BUDGET) {
    failLimit(
      req.op,
      `${g.S} queries × ${g.Sk} keys need more than ${LOOP_BUDGET} loop iterations in one invocation, which software adapters (llvmpipe) cut short; use a shorter sequence on this adapter`,
    );
  }
  return (variant === 'workgroup' ? keyGradWorkgroup : perKeyBlock)(req, caps, which);
}

/**
 * attention_grad_k and attention_grad_v of the same operands in one kernel (the plan's
 * attention_grad_kv fusion): the request is attention_grad_k's; `out` is dk, `out1` dv (the
 * shape of v). Each p_ij is computed once for both.
 */
export function attentionGradKV(req: AttentionRequest, caps: GpuCaps): OpKernel {
  return keyGrad(req, caps, 'kv');
}

/**
 * The key gradients for hardware GPUs: one workgroup per (b, kv head, block of WG keys);
 * invocation t owns key j0 + t, keeps k_j, v_j and its gradients in registers. For each head of the
 * group and each chunk of WG queries: invocation t puts query c0 + t's lse and dy·o into workgroup
 * memory; barrier; every invocation adds the chunk's contributions to its key; barrier.
 */
function keyGradWorkgroup(req: AttentionRequest, caps: GpuCaps, which: KeyGrads): OpKernel {
  const g = geometry(req, 'grad');
  checkOutput(req, g.kShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const WG = Math.min(KEY_GRAD_WG, caps.limits.maxComputeInvocationsPerWorkgroup, caps.limits.maxComputeWorkgroupSizeX);
  const NB = ceilDiv(g.Sk, WG);
  const groups = g.B * g.KV * NB;
  const maxDim = caps.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.min(groups, maxDim);
  const gy = Math.max(1, ceilDiv(groups, gx));
  if (gy > maxDim) failLimit(req.op, `${groups} workgroups exceed maxComputeWorkgroupsPerDimension² (${maxDim}²)`);
  const needK = which !== 'v';
  const d = bindings(T, { v: needK, dy: true, o: needK, lse: 'in', dv: which === 'kv' }, g.lengths);
  const dvAcc = which === 'kv' ? 'e' : 'a';
  const update = `let p = exp(s - stL[qi - c0]);
          ${
            needK
              ? `let dp = ${treeSum(names('vr', n).map((x, c) => `dot4(${x}, ${at('dy', 'qo', c)})`))};
          let ds = p * (dp - stD[qi - c0]) * SCALE;
          ${each(n, (c) => `a${c} += ds * ${at('q', 'qo', c)};`)}`
              : ''
          }
          ${which !== 'k' ? each(n, (c) => `${dvAcc}${c} += p * ${at('dy', 'qo', c)};`) : ''}`;
  const op = which === 'kv' ? 'attention_grad_kv' : req.op;
  const wgsl = `${preamble(g, w, op)}
const WG = ${u32(WG)}; // keys per workgroup = queries per chunk
const NB = ${u32(NB)}; // key blocks per (batch, kv head)
${d.wgsl}
var<workgroup> stL: array<f32, ${WG}>;
${needK ? `var<workgroup> stD: array<f32, ${WG}>;` : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let wgi = ${gy > 1 ? `wid.x + wid.y * ${u32(gx)}` : 'wid.x'};
  if (wgi >= ${u32(groups)}) { return; } // uniform: the whole workgroup leaves
  let blk = wgi % NB;
  let kvh = (wgi / NB) % KV;
  let b = wgi / (NB * KV);
  let j0 = blk * WG;
  let kb = b * SK * KS + kvh * HDW;
  let j = j0 + t; // this invocation's key (none when j ≥ SK)
  let mine = kb + min(j, SK - 1u) * KS;
  ${loadVec('let', 'kr', 'k', 'mine', n)}
  ${needK ? loadVec('let', 'vr', 'v', 'mine', n) : ''}
  ${each(n, (c) => `var a${c} = ${T}();`)}
  ${which === 'kv' ? each(n, (c) => `var e${c} = ${T}();`) : ''}
  // The first query that sees a key of this block: causal key j ≥ prefix is seen from i = j − prefix.
  let i0 = ${firstQuery(g, 'j0')};
  for (var hh = 0u; hh < G; hh++) {
    let h = kvh * G + hh;
    for (var c0 = i0; c0 < S; c0 += WG) {
      let si = c0 + t;
      if (si < S) {
        stL[t] = lse[lseAt(b, h, si)];
        ${needK ? `stD[t] = ${dotBufs('dy', 'o', '(b * S + si) * QS + h * HDW', n)};` : ''}
      }
      workgroupBarrier();
      // this key's share of every query of the chunk that sees it
      let cEnd = min(c0 + WG, S);
      for (var qi = c0; qi < cEnd; qi++) {
        if (j < SK && j < visible(b, qi)) {
          let qo = (b * S + qi) * QS + h * HDW;
          let s = ${treeSum(names('kr', n).map((x, c) => `dot4(${x}, ${at('q', 'qo', c)})`))} * SCALE;
          ${update}
        }
      }
      workgroupBarrier();
    }
  }
  if (j < SK) {
    ${each(n, (c) => `${at('out', 'mine', c)} = a${c};`)}
    ${which === 'kv' ? each(n, (c) => `${at('dv', 'mine', c)} = e${c};`) : ''}
  }
}
`;
  return { label: `${op}_wg_${g.B}x${g.Sk}x${g.KV}x${g.hd}`, wgsl, bindings: d.bindings, workgroups: [gx, gy, 1] };
}

/** attention_grad_k: dk_j = Σ over queries (and the heads sharing the kv head) of dS_ij · q_i / √hd. */
export const attentionGradKKernel = (req: AttentionRequest, caps: GpuCaps): OpKernel => keyGrad(req, caps, 'k');

/** attention_grad_v: dv_j = Σ over queries (and the heads sharing the kv head) of p_ij · dy_i. */
export const attentionGradVKernel = (req: AttentionRequest, caps: GpuCaps): OpKernel => keyGrad(req, caps, 'v');
