// Token embedding lookup, positions, and the table gradient.
//
// embedding: one invocation per output element (4 features when D % 4 = 0). An id outside
//   the table reads zeros (the CPU reference throws; a GPU kernel cannot). The table may be
//   stored in f16 (dtype 'f16': two halves to a u32, read with unpack2x16float), or quantized
//   (int8, nf4, nf4dq: codes and scales read by quant.ts's reader, dequantized in f32 as the CPU does).
//   A table larger than one storage binding is looked up in pieces (compiler/lower/split.ts):
//   attrs `row0` (the piece's first table row) and `table_rows` (the whole table's rows); a piece
//   writes the ids in its rows, and the first piece also the zeros of ids outside the table.
// positions: one invocation per position.
// embedding_grad: a deterministic gather instead of a scatter-add (WGSL has no float atomics):
//   one invocation per (table row v, chunk of features) zeroes its part of row v, then scans
//   every id and adds dy's row where the id is v, in position order. The scan costs
//   (ids × invocations) comparisons, so rows are split into feature chunks only when the table
//   has few rows.
import type { TensorSpec } from '../../compiler/lower/kernels.ts';
import { LOOP_BUDGET, ceilDiv, checkOutput, declare, fail, fmt, grid, i32, intAttr, numel, operand, u32, widthFor } from './common.ts';
import { isQuantDtype } from '../../compiler/quant/dtype.ts';
import { quantReadWgsl, type QuantReadSpec } from './quant.ts';
import type { OpKernelGen, OpKernelGenOf, OpKernelTable } from './types.ts';

/** embedding: table [N, D], ids i32 [...] → out [..., D]. */
export const embedding: OpKernelGenOf<'embedding'> = (req, caps) => {
  const tableSpec = operand(req, 0, 'table', ['f32', 'f16', 'int8', 'nf4', 'nf4dq']);
  const table = tableSpec.shape;
  const half = tableSpec.dtype === 'f16';
  const quant = quantTable(req, tableSpec);
  const ids = operand(req, 1, 'ids', 'i32').shape;
  if (table.length !== 2) fail(req.op, `embedding table must be 2-D, got ${fmt(table)}`);
  const [N, D] = table as [number, number];
  const row0 = req.attrs.row0 ?? 0;
  const rows = req.attrs.table_rows ?? N;
  if (row0 < 0 || row0 + N > rows) fail(req.op, `table piece [${row0}, ${row0 + N}) is not inside a table of ${rows} rows`);
  checkOutput(req, [...ids, D]);
  const n = numel(ids);
  const w = widthFor(D);
  const DW = D / w;
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const g = grid(req.op, n * DW, caps);
  if (half && D % 2 !== 0) fail(req.op, `a half-float table needs an even row length, got ${D}`);
  if (quant && N < rows) fail(req.op, 'a quantized table is looked up whole, not in pieces');
  const d = declare([
    { name: 'in0', variable: 'table', type: quant ? 'u32' : half ? (w === 4 ? 'vec2<u32>' : 'u32') : T },
    { name: 'in1', variable: 'ids', type: 'i32' },
    { name: 'out', variable: 'out', type: T },
  ]);
  // A half-float or quantized table's element (or four of them, idx in units of T) as f32.
  const read = (idx: string): string => {
    if (quant) return w === 4 ? `vec4<f32>(${[0, 1, 2, 3].map((c) => `qt(4u * (${idx})${c ? ` + ${c}u` : ''})`).join(', ')})` : `qt(${idx})`;
    return !half ? `table[${idx}]` : w === 4 ? `h4(table[${idx}])` : `unpack2x16float(table[(${idx}) >> 1u])[(${idx}) & 1u]`;
  };
  const piece = N < rows;
  const lookup = piece
    ? `  let local = id - ROW0;
  if (local >= 0 && local < N) {
    out[i] = ${read('u32(local) * DW + i % DW')};
  } else if (${row0 === 0 ? 'id < 0 || id >= ROWS' : 'false'}) {
    out[i] = T(0.0);
  }`
    : `  if (id < 0 || id >= N) {
    out[i] = T(0.0);
  } else {
    out[i] = ${read('u32(id) * DW + i % DW')};
  }`;
  const wgsl = `// embedding: table [${N}, ${D}]${piece ? ` (rows ${row0} … ${row0 + N - 1} of ${rows})` : ''}, ids ${fmt(ids)} → out ${fmt([...ids, D])}; ids outside [0, ${rows}) give zeros
alias T = ${T};
const N = ${i32(N)};
const ROW0 = ${i32(row0)};
const ROWS = ${i32(rows)};
const DW = ${u32(DW)}; // features in units of T
${d.wgsl}${half && w === 4 ? '\nfn h4(p: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y)); }' : ''}${quant ? `\n${quantReadWgsl(quant, 'qt', 'table')}` : ''}
${g.entry}
${g.prologue}
  let id = ids[i / DW];
${lookup}
}
`;
  return { label: `embedding_${N}x${D}_${n}${half ? '_f16' : ''}${quant ? `_${quant.dtype}` : ''}${piece ? `_rows${row0}` : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** A quantized table's reader spec (codes and scales, compiler/quant/slot.ts), or undefined for f32 and f16. */
function quantTable(req: Parameters<OpKernelGen>[0], t: TensorSpec): QuantReadSpec | undefined {
  if (!isQuantDtype(t.dtype)) return undefined;
  if (t.shape.length !== 2 || !t.layout) fail(req.op, `a quantized table must be 2-D with a layout, got ${fmt(t.shape)} ${t.layout ?? 'without one'}`);
  return { dtype: t.dtype, layout: t.layout, rows: t.shape[0]!, cols: t.shape[1]! };
}

/** positions: x [B, S, ...] (shape only, not bound) → i32 [S] = offset … offset + S − 1. */
export const positions: OpKernelGenOf<'positions'> = (req, caps) => {
  const x = operand(req, 0, 'x').shape;
  if (x.length < 2) fail(req.op, `positions needs a [B, S, …] input, got ${fmt(x)}`);
  const S = x[1]!;
  const offset = req.attrs.offset ?? 0;
  checkOutput(req, [S], 'i32');
  const g = grid(req.op, S, caps);
  const d = declare([{ name: 'out', variable: 'out', type: 'i32' }]);
  const wgsl = `// positions: x ${fmt(x)} → out i32 [${S}] = ${offset} … ${offset + S - 1}
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = ${i32(offset)} + i32(i);
}
`;
  return { label: `positions_${S}_${offset}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** decode_positions: x [B, S, ...] (shape only), past i32 [B] → i32 [B, S] = offset + past[b] + s. */
export const decodePositions: OpKernelGen = (req, caps) => {
  const x = operand(req, 0, 'x').shape;
  if (x.length < 2) fail(req.op, `decode_positions needs a [B, S, …] input, got ${fmt(x)}`);
  const [B, S] = x as [number, number];
  const past = operand(req, 1, 'past', 'i32').shape;
  if (past.length !== 1 || past[0] !== B) fail(req.op, `past must be [${B}], got ${fmt(past)}`);
  const offset = intAttr(req, 'offset', 0);
  checkOutput(req, [B, S], 'i32');
  const g = grid(req.op, B * S, caps);
  const d = declare([
    { name: 'in1', variable: 'past', type: 'i32' },
    { name: 'out', variable: 'out', type: 'i32' },
  ]);
  const wgsl = `// decode_positions: x ${fmt(x)} → out i32 [${B}, ${S}] = ${offset} + past[b] + s
const S = ${u32(S)};
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = ${i32(offset)} + past[i / S] + i32(i % S);
}
`;
  return { label: `decode_positions_${B}x${S}_${offset}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** Feature units a hit of embedding_grad adds per loop iteration (written out in the WGSL). */
const ADD_UNROLL = 8;

/** Feature chunks per table row: enough invocations for small tables, one per row for large ones. */
function embeddingGradChunks(rows: number, featureUnits: number, isSoftware: boolean): number {
  const target = isSoftware ? 256 : 8192;
  return Math.max(1, Math.min(featureUnits, ceilDiv(target, Math.max(rows, 1))));
}

/**
 * embedding_grad: ids i32 [...] (n ids), dy [..., D] → out [rows, D]. With attr `row0` the output
 * is rows row0 … row0 + rows − 1 of a larger table's gradient (one piece of a split).
 */
export const embeddingGrad: OpKernelGenOf<'embedding_grad'> = (req, caps) => {
  const ids = operand(req, 0, 'ids', 'i32').shape;
  const dy = operand(req, 1, 'dy', 'f32').shape;
  const rows = req.attrs.rows;
  const row0 = req.attrs.row0 ?? 0;
  if (dy.length !== ids.length + 1 || ids.some((d, i) => d !== dy[i])) fail(req.op, `dy ${fmt(dy)} must be ids' shape ${fmt(ids)} plus a feature axis`);
  if (rows < 0) fail(req.op, `rows must be ≥ 0, got ${rows}`);
  const D = dy[dy.length - 1]!;
  checkOutput(req, [rows, D]);
  const n = numel(ids);
  const w = widthFor(D);
  const DW = D / w;
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  // Units of T per invocation. The adds of a hit run U at a time (unrolled), so an invocation loops
  // at most n/4 (the scan) + n·⌈C/U⌉ times, when every id is its row; more, narrower chunks keep
  // that within LOOP_BUDGET, which llvmpipe enforces by silently cutting loops short.
  let chunks0 = embeddingGradChunks(rows, DW, caps.isSoftware);
  while (chunks0 < DW && Math.ceil(n / 4) + n * ceilDiv(ceilDiv(DW, chunks0), ADD_UNROLL) > LOOP_BUDGET) chunks0++;
  const C = ceilDiv(DW, chunks0);
  const chunks = ceilDiv(DW, C);
  const g = grid(req.op, rows * chunks, caps);
  const idsW = widthFor(n); // ids scanned four at a time when n % 4 = 0
  const d = declare([
    { name: 'in0', variable: 'ids', type: idsW === 4 ? 'vec4<i32>' : 'i32' },
    { name: 'in1', variable: 'dy', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  // A hit adds the invocation's C feature units, ADD_UNROLL per loop iteration.
  const add = (t: string): string =>
    `for (var c = c0; c < c1; c += ${u32(ADD_UNROLL)}) { ${Array.from({ length: ADD_UNROLL }, (_, k) => `if (c + ${u32(k)} < c1) { out[dst + c + ${u32(k)}] += dy[${t} * DW + c + ${u32(k)}]; }`).join(' ')} }`;
  const scan =
    idsW === 4
      ? `for (var t4 = 0u; t4 < ${u32(n / 4)}; t4++) {
    let hit = ids[t4] == vec4<i32>(ROW0 + i32(v));
    if (any(hit)) {
      for (var k = 0u; k < 4u; k++) {
        if (hit[k]) { ${add('(t4 * 4u + k)')} }
      }
    }
  }`
      : `for (var t = 0u; t < NIDS; t++) {
    if (ids[t] == ROW0 + i32(v)) { ${add('t')} }
  }`;
  const wgsl = `// embedding_grad: ids ${fmt(ids)}, dy ${fmt(dy)} → out [${rows}, ${D}]: out[v] = Σ_{t: ids[t] = v} dy[t]
// invocation i owns row v = i / CHUNKS, features c0 … c0 + C − 1 (units of T)
alias T = ${T};
const NIDS = ${u32(n)};
const ROW0 = ${i32(row0)}; // the first table row of this output (a piece of a larger gradient)
const DW = ${u32(DW)};
const CHUNKS = ${u32(chunks)};
const C = ${u32(C)};
${d.wgsl}
${g.entry}
${g.prologue}
  let v = i / CHUNKS;
  let c0 = (i % CHUNKS) * C;
  let c1 = min(c0 + C, DW);
  let dst = v * DW;
  for (var c = c0; c < c1; c++) { out[dst + c] = T(0.0); }
  ${scan}
}
`;
  return { label: `embedding_grad_${rows}x${D}_${n}${row0 ? `_rows${row0}` : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

export const EMBEDDING_KERNELS = {
  embedding,
  positions,
  decode_positions: decodePositions,
  embedding_grad: embeddingGrad,
} satisfies OpKernelTable;
