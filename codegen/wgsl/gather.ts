// The gathered linear ops (compiler/ir/gather-ops.ts): stacked adapter weights [N, …] and one
// adapter index per sequence, i32 ids [B]. LoRA's ranks are small, so each kernel is a plain
// loop per output element (4 outputs per invocation where the contiguous axis allows vec4),
// not the tiled matmul: every sequence may read another slice of the weights.
//
//   linear_gather out_in:  one invocation per (row, 4 outs) when out % 4 = 0 (else per (row, out)):
//                          dots over in (vec4 when in % 4 = 0), x's row read once for 4 rows of w
//   linear_gather in_out:  one invocation per (row, 4 outs) when out % 4 = 0, else per (row, out)
//   linear_gather_grad_weight: one invocation per (slice, p, q or 4 q's), summing over the rows
//     of the sequences whose index is the slice (the others are skipped a whole sequence at a time)
//   linear_gather_grad_bias: one invocation per (slice, 4 outs or 1)
//
// A sequence whose index is outside [0, N) reads as "no adapter": zeros, and no gradient.
import { checkOutput, declare, fail, fmt, grid, i32, numel, operand, optOperand, u32, vecType, widthFor } from './common.ts';
import type { Binding } from './common.ts';
import type { OpKernelGenOf, OpKernelRequest, OpKernelTable, OpRequest } from './types.ts';

const LAYOUTS = ['in_out', 'out_in'] as const;

/** B, rows per sequence and the feature size of a [B, …, F] operand; checks ids [B]. */
function perSequence(req: OpKernelRequest, shape: readonly number[], idsIndex: number): { B: number; RS: number; F: number } {
  if (shape.length < 2) fail(req.op, `needs a batch axis [B, …, features], got ${fmt(shape)}`);
  const ids = operand(req, idsIndex, 'ids', 'i32').shape;
  const B = shape[0]!;
  if (ids.length !== 1 || ids[0] !== B) fail(req.op, `ids ${fmt(ids)} must be [${B}], one adapter index per sequence`);
  return { B, RS: numel(shape.slice(1, -1)), F: shape[shape.length - 1]! };
}

function countOf(req: OpRequest<'linear_gather_grad_weight' | 'linear_gather_grad_bias'>): number {
  const n = req.attrs.count;
  if (n < 1) fail(req.op, `count must be ≥ 1, got ${n}`);
  return n;
}

/** linear_gather: x [B, …, K], w [N, O, K] (out_in) | [N, K, O] (in_out), ids i32 [B], b? [N, O] → [B, …, O]. */
export const linearGather: OpKernelGenOf<'linear_gather'> = (req, caps) => {
  const x = operand(req, 0, 'x', 'f32').shape;
  const w = operand(req, 1, 'w', 'f32').shape;
  const b = optOperand(req, 3, 'b', 'f32');
  const layout = req.attrs.layout;
  const { B, RS, F: K } = perSequence(req, x, 2);
  if (w.length !== 3) fail(req.op, `stacked weight must be 3-D [N, …], got ${fmt(w)}`);
  const [N, d1, d2] = w as [number, number, number];
  const [wi, O] = layout === 'in_out' ? [d1, d2] : [d2, d1];
  if (wi !== K) fail(req.op, `input features ${K} do not match stacked weight ${fmt(w)} (layout ${layout})`);
  if (b && !(b.shape.length === 2 && b.shape[0] === N && b.shape[1] === O)) fail(req.op, `stacked bias ${fmt(b.shape)} must be [${N}, ${O}]`);
  checkOutput(req, [...x.slice(0, -1), O]);
  const R = B * RS;
  // out_in reads w and x contiguously along K (vec4 over K), and computes 4 outputs per
  // invocation when O % 4 = 0 (x read once for 4 rows of w); in_out reads w along O (vec4 over O).
  const wk = layout === 'out_in' ? widthFor(K) : 1;
  const wo = widthFor(O);
  const OW = O / wo;
  const KW = K / wk;
  const g = grid(req.op, R * OW, caps, { heavy: K > 64 });
  const list: Binding[] = [
    { name: 'in0', variable: 'x', type: vecType(wk) },
    { name: 'in1', variable: 'w', type: vecType(layout === 'out_in' ? wk : wo) },
    { name: 'in2', variable: 'ids', type: 'i32' },
  ];
  if (b) list.push({ name: 'in3', variable: 'bias', type: vecType(wo) });
  list.push({ name: 'out', variable: 'out', type: vecType(wo) });
  const d = declare(list);
  const T = vecType(wo);
  const prod = (wi: string) => (wk === 4 ? `dot(xk, w[${wi}])` : `xk * w[${wi}]`);
  let body: string;
  if (layout === 'in_out') {
    body = `  var acc = ${T}();
  let xo = row * K;
  let wb = u32(n) * K * OW + o;
  for (var k = 0u; k < K; k++) { acc += x[xo + k] * w[wb + k * OW]; }`;
  } else if (wo === 4) {
    body = `  var acc = vec4<f32>();
  let xo = row * KW;
  let wb = (u32(n) * O + 4u * o) * KW;
  for (var k = 0u; k < KW; k++) {
    let xk = x[xo + k];
    acc += vec4<f32>(${prod('wb + k')}, ${prod('wb + KW + k')}, ${prod('wb + 2u * KW + k')}, ${prod('wb + 3u * KW + k')});
  }`;
  } else {
    body = `  var acc = 0.0;
  let xo = row * KW;
  let wb = (u32(n) * O + o) * KW;
  for (var k = 0u; k < KW; k++) { let xk = x[xo + k]; acc += ${prod('wb + k')}; }`;
  }
  const wgsl = `// linear_gather (${layout}): x ${fmt(x)}, w ${fmt(w)}, ids i32 [${B}]${b ? `, b [${N}, ${O}]` : ''} → out ${fmt([...x.slice(0, -1), O])}
// sequence s uses slice ids[s]; an index outside [0, ${N}) gives zeros (no adapter)
const N = ${i32(N)};
const RS = ${u32(RS)}; // rows per sequence
const K = ${u32(K)};
const KW = ${u32(KW)}; // K in units of x's element
const O = ${u32(O)};
const OW = ${u32(OW)}; // O in units of out's element
${d.wgsl}
${g.entry}
${g.prologue}
  let row = i / OW;
  let o = i % OW;
  let n = ids[row / RS];
  if (n < 0 || n >= N) {
    out[i] = ${T}();
    return;
  }
${body}
  out[i] = acc${b ? ' + bias[u32(n) * OW + o]' : ''};
}
`;
  return { label: `linear_gather_${layout}_${N}x${K}x${O}_${R}${b ? '_bias' : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/**
 * linear_gather_grad_weight: x [B, …, K], dy [B, …, O], ids [B] → out_in [N, O, K] = Σ dyᵀ·x;
 * in_out [N, K, O] = Σ xᵀ·dy; per slice over the rows of the sequences that use it.
 * Written as G[n, p, q] = Σ P[row, p] · Q[row, q] with (P, Q) = (dy, x) or (x, dy).
 */
export const linearGatherGradWeight: OpKernelGenOf<'linear_gather_grad_weight'> = (req, caps) => {
  const x = operand(req, 0, 'x', 'f32').shape;
  const dy = operand(req, 1, 'dy', 'f32').shape;
  const layout = req.attrs.layout;
  const N = countOf(req);
  const { B, RS, F: K } = perSequence(req, x, 2);
  const { RS: RSdy, F: O } = perSequence(req, dy, 2);
  if (RS !== RSdy || x.length !== dy.length) fail(req.op, `x ${fmt(x)} and dy ${fmt(dy)} have different rows`);
  const [Pn, Qn, P, Q] = layout === 'in_out' ? ['x', 'dy', K, O] : ['dy', 'x', O, K];
  checkOutput(req, [N, P, Q]);
  const wq = widthFor(Q);
  const QW = Q / wq;
  const T = vecType(wq);
  const g = grid(req.op, N * P * QW, caps, { heavy: true });
  const d = declare([
    { name: 'in0', variable: 'x', type: layout === 'out_in' ? T : 'f32' },
    { name: 'in1', variable: 'dy', type: layout === 'in_out' ? T : 'f32' },
    { name: 'in2', variable: 'ids', type: 'i32' },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// linear_gather_grad_weight (${layout}): x ${fmt(x)}, dy ${fmt(dy)}, ids i32 [${B}] → out [${N}, ${P}, ${Q}]
// out[n, p, q] = Σ over rows of the sequences with ids = n of ${Pn}[row, p] · ${Qn}[row, q]
const B = ${u32(B)};
const RS = ${u32(RS)}; // rows per sequence
const P = ${u32(P)};
const QW = ${u32(QW)}; // Q in units of out's element
${d.wgsl}
${g.entry}
${g.prologue}
  let q = i % QW;
  let p = (i / QW) % P;
  let n = i32(i / (QW * P));
  var acc = ${T}();
  for (var s = 0u; s < B; s++) {
    if (ids[s] != n) { continue; }
    for (var r = s * RS; r < (s + 1u) * RS; r++) { acc += ${Pn}[r * P + p] * ${Qn}[r * QW + q]; }
  }
  out[i] = acc;
}
`;
  return { label: `linear_gather_grad_weight_${layout}_${N}x${P}x${Q}_${B * RS}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** linear_gather_grad_bias: dy [B, …, O], ids [B] → [N, O], per slice the sum of its sequences' rows. */
export const linearGatherGradBias: OpKernelGenOf<'linear_gather_grad_bias'> = (req, caps) => {
  const dy = operand(req, 0, 'dy', 'f32').shape;
  const N = countOf(req);
  const { B, RS, F: O } = perSequence(req, dy, 1);
  checkOutput(req, [N, O]);
  const w = widthFor(O);
  const OW = O / w;
  const T = vecType(w);
  const g = grid(req.op, N * OW, caps, { heavy: true });
  const d = declare([
    { name: 'in0', variable: 'dy', type: T },
    { name: 'in1', variable: 'ids', type: 'i32' },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// linear_gather_grad_bias: dy ${fmt(dy)}, ids i32 [${B}] → out [${N}, ${O}]
const B = ${u32(B)};
const RS = ${u32(RS)}; // rows per sequence
const OW = ${u32(OW)}; // O in units of T
${d.wgsl}
${g.entry}
${g.prologue}
  let o = i % OW;
  let n = i32(i / OW);
  var acc = ${T}();
  for (var s = 0u; s < B; s++) {
    if (ids[s] != n) { continue; }
    for (var r = s * RS; r < (s + 1u) * RS; r++) { acc += dy[r * OW + o]; }
  }
  out[i] = acc;
}
`;
  return { label: `linear_gather_grad_bias_${N}x${O}_${B * RS}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

export const GATHER_KERNELS = {
  linear_gather: linearGather,
  linear_gather_grad_weight: linearGatherGradWeight,
  linear_gather_grad_bias: linearGatherGradBias,
} satisfies OpKernelTable;
