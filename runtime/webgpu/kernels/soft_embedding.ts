// The token embedding of a prompt template (compiler/ir/ops.ts: soft_embedding) and its
// gradient. Ids below N read the vocabulary table, ids N … N+V−1 the soft-token table.
//
// soft_embedding: one invocation per output element (4 features when D % 4 = 0); an id outside
//   [0, N+V) reads zeros (the CPU reference throws; a GPU kernel cannot).
// soft_embedding_grad: embedding_grad's deterministic gather restricted to one id range: one
//   invocation per (row r, chunk of features) adds dy's rows whose id is offset + r, in position
//   order. Only the soft tokens' table is usually asked for (rows = V, a handful), so the scan
//   of every id per row stays cheap.
import { embeddingGradChunks } from './embedding.ts';
import { ceilDiv, checkOutput, declare, fail, fmt, grid, i32, intAttr, numel, operand, u32, widthFor } from './common.ts';
import type { OpKernelGen } from './types.ts';

/** soft_embedding: table [N, D], soft [V, D], ids i32 [...] → out [..., D]. */
export const softEmbedding: OpKernelGen = (req, caps) => {
  const table = operand(req, 0, 'table', 'f32').shape;
  const soft = operand(req, 1, 'soft', 'f32').shape;
  const ids = operand(req, 2, 'ids', 'i32').shape;
  if (table.length !== 2 || soft.length !== 2) fail(req.op, `tables must be 2-D, got ${fmt(table)} and ${fmt(soft)}`);
  const [N, D] = table as [number, number];
  const [V, Ds] = soft as [number, number];
  if (Ds !== D) fail(req.op, `soft tokens ${fmt(soft)} and table ${fmt(table)} differ in width`);
  checkOutput(req, [...ids, D]);
  const n = numel(ids);
  const w = widthFor(D);
  const DW = D / w;
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const g = grid(req.op, n * DW, caps);
  const d = declare([
    { name: 'in0', variable: 'table', type: T },
    { name: 'in1', variable: 'soft', type: T },
    { name: 'in2', variable: 'ids', type: 'i32' },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// soft_embedding: table [${N}, ${D}], soft [${V}, ${D}], ids ${fmt(ids)} → out ${fmt([...ids, D])}
// ids < N read the table, ids N … N+V−1 the soft tokens; ids outside [0, ${N + V}) give zeros
alias T = ${T};
const N = ${i32(N)};
const V = ${i32(V)};
const DW = ${u32(DW)}; // features in units of T
${d.wgsl}
${g.entry}
${g.prologue}
  let id = ids[i / DW];
  let c = i % DW;
  if (id >= 0 && id < N) {
    out[i] = table[u32(id) * DW + c];
  } else if (id >= N && id < N + V) {
    out[i] = soft[u32(id - N) * DW + c];
  } else {
    out[i] = T(0.0);
  }
}
`;
  return { label: `soft_embedding_${N}+${V}x${D}_${n}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** soft_embedding_grad: ids i32 [...], dy [..., D] → out [rows, D], ids in [offset, offset + rows) only. */
export const softEmbeddingGrad: OpKernelGen = (req, caps) => {
  const ids = operand(req, 0, 'ids', 'i32').shape;
  const dy = operand(req, 1, 'dy', 'f32').shape;
  const offset = intAttr(req, 'offset');
  const rows = intAttr(req, 'rows');
  if (dy.length !== ids.length + 1 || ids.some((x, i) => x !== dy[i])) fail(req.op, `dy ${fmt(dy)} must be ids' shape ${fmt(ids)} plus a feature axis`);
  if (rows < 0 || offset < 0) fail(req.op, `offset ${offset} and rows ${rows} must be ≥ 0`);
  const D = dy[dy.length - 1]!;
  checkOutput(req, [rows, D]);
  const n = numel(ids);
  const w = widthFor(D);
  const DW = D / w;
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const C = ceilDiv(DW, embeddingGradChunks(rows, DW, caps.isSoftware));
  const chunks = ceilDiv(DW, C);
  const g = grid(req.op, rows * chunks, caps);
  const d = declare([
    { name: 'in0', variable: 'ids', type: 'i32' },
    { name: 'in1', variable: 'dy', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  const wgsl = `// soft_embedding_grad: ids ${fmt(ids)}, dy ${fmt(dy)} → out [${rows}, ${D}]: out[r] = Σ_{t: ids[t] = ${offset} + r} dy[t]
// invocation i owns row r = i / CHUNKS, features c0 … c0 + C − 1 (units of T)
alias T = ${T};
const NIDS = ${u32(n)};
const OFFSET = ${i32(offset)};
const DW = ${u32(DW)};
const CHUNKS = ${u32(chunks)};
const C = ${u32(C)};
${d.wgsl}
${g.entry}
${g.prologue}
  let r = i / CHUNKS;
  let c0 = (i % CHUNKS) * C;
  let c1 = min(c0 + C, DW);
  let dst = r * DW;
  let want = OFFSET + i32(r);
  for (var c = c0; c < c1; c++) { out[dst + c] = T(0.0); }
  for (var t = 0u; t < NIDS; t++) {
    if (ids[t] == want) {
      for (var c = c0; c < c1; c++) { out[dst + c] += dy[t * DW + c]; }
    }
  }
}
`;
  return { label: `soft_embedding_grad_${offset}+${rows}x${D}_${n}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

export const SOFT_EMBEDDING_KERNELS: Record<string, OpKernelGen> = {
  soft_embedding: softEmbedding,
  soft_embedding_grad: softEmbeddingGrad,
};
