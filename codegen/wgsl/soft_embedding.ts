// The token embedding of a prompt template (compiler/ir/ops.ts: soft_embedding) and its
// gradient. Ids below N read the vocabulary table, ids N … N+V−1 the soft-token table.
//
// soft_embedding: one invocation per output element (4 features when D % 4 = 0); an id outside
//   [0, N+V) reads zeros (the CPU reference throws; a GPU kernel cannot).
// soft_embedding_grad: embedding_grad's deterministic gather restricted to one id range (its
//   `row0` = offset). Only the soft tokens' table is usually asked for (rows = V, a handful), so
//   the scan of every id per row stays cheap.
import { embeddingGrad } from './embedding.ts';
import { checkOutput, declare, fail, fmt, grid, i32, numel, operand, u32, widthFor } from './common.ts';
import type { OpKernelGen, OpKernelGenOf, OpKernelTable } from './types.ts';

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

/**
 * soft_embedding_grad: ids i32 [...], dy [..., D] → out [rows, D], ids in [offset, offset + rows)
 * only: embedding_grad's kernel for the table rows offset … offset + rows − 1 (its `row0`).
 */
export const softEmbeddingGrad: OpKernelGenOf<'soft_embedding_grad'> = (req, caps) => {
  const { offset, rows } = req.attrs;
  if (offset < 0) fail(req.op, `offset must be ≥ 0, got ${offset}`);
  const k = embeddingGrad({ ...req, attrs: { rows, row0: offset } }, caps);
  return { ...k, label: k.label.replace(/^embedding_grad/, 'soft_embedding_grad') };
};

export const SOFT_EMBEDDING_KERNELS = {
  soft_embedding: softEmbedding,
  soft_embedding_grad: softEmbeddingGrad,
} satisfies OpKernelTable;
