// The per-query kernels' frame (attention, attention_lse, attention_grad_q): which query rows an
// invocation owns, their q vectors in registers, the bindings and the entry point. The body that
// walks the keys is forward.ts' or grad-q.ts'.
//   row:   hardware GPUs, one invocation per (batch, head, query row);
//   block: software adapters, one invocation per (batch, head, block of QB query rows), walking the
//          keys visible to its last row KB at a time (row-block.ts); a causal block wastes at most
//          its own diagonal.
import { SIZES_UNIFORM } from '../../../compiler/lower/kernels.ts';
import { ceilDiv, checkOutput, grid, u32, widthFor } from '../common.ts';
import type { GpuCaps, OpKernel } from '../types.ts';
import { at, dotVec, each, loadVec, maxOf } from '../unroll.ts';
import { RowBlock } from './row-block.ts';
import { type AttentionRequest, bindings, geometry, type Kind, preamble, type Uses } from './spec.ts';
import { queryBlock, queryVariantFor } from './tuning.ts';

/** What a row body has: n = hd/w register values per vector, T, the score statement, whether lse is written beside the output. */
export interface RowBody {
  n: number;
  T: string;
  /** `let s = q·k_ko / √hd;` for the key at offset `ko`. */
  score: string;
  withLse: boolean;
}

/** What a block body has besides the RowBlock: stores guarded by the row being in range. */
export interface BlockBody {
  rb: RowBlock;
  n: number;
  T: string;
  withLse: boolean;
  /** Stores row r's component c of `out` (value(r, c)), then extra(r), for the rows inside S. */
  store: (value: (r: number, c: number) => string, extra?: (r: number) => string) => string;
  /** Stores row r's lse from its running max m{r} and sum l{r}. */
  lseOf: (r: number) => string;
  inRange: (r: number) => string;
}

/** The key walk of one kernel in both variants; each returns the WGSL after the frame's head. */
export interface QueryBodies {
  row: (b: RowBody) => string;
  block: (b: BlockBody) => string;
}

/** What the per-query kernels bind: attention (and its lse, `withLse`), attention_lse, or grad_q. */
function queryUses(kind: Kind, withLse: boolean): Uses {
  if (kind === 'grad') return { v: true, dy: true, o: true, lse: 'in' };
  if (kind === 'lse') return { lse: 'out' };
  return withLse ? { v: true, lse: 'out1' } : { v: true };
}

function perQuery(req: AttentionRequest, caps: GpuCaps, kind: Kind, body: QueryBodies['row'], withLse: boolean): OpKernel {
  const g = geometry(req, kind);
  checkOutput(req, kind === 'lse' ? g.lseShape : g.qShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const gr = grid(req.op, g.B * g.H * g.S, caps, { heavy: true });
  const d = bindings(T, queryUses(kind, withLse), g.lengths);
  const score = `let s = ${dotVec('q', 'k', 'ko', n)} * SCALE;`;
  const head = `  let qi = i % S;
  let h = (i / S) % H;
  let b = i / (S * H);
  let qo = (b * S + qi) * QS + h * HDW;
  let kb = b * SK * KS + (h / G) * HDW; // key j of this head at kb + j·KS
  let n = visible(b, qi);
  ${loadVec('let', 'q', 'q', 'qo', n)}`;
  const wgsl = `${preamble(g, w, req.op)}
${d.wgsl}
${gr.entry}
${gr.prologue}
${head}${body({ n, T, score, withLse })}
}
`;
  return { label: `${req.op}${withLse ? '+lse' : ''}_${g.B}x${g.S}x${g.H}x${g.hd}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

function perQueryBlock(req: AttentionRequest, caps: GpuCaps, kind: Kind, body: QueryBodies['block'], withLse: boolean): OpKernel {
  const g = geometry(req, kind);
  checkOutput(req, kind === 'lse' ? g.lseShape : g.qShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const QB = queryBlock(g.hd, kind === 'grad' ? 'grad_q' : 'attention');
  const rb = new RowBlock(QB, n);
  const NQB = ceilDiv(g.S, QB);
  // The lengths, the blocks and the invocations are open (the sizes uniform): one pipeline serves every batch and length.
  const count = g.B * g.H * NQB;
  const gr = grid(req.op, count, caps, { heavy: true, count: 'sizes.w' });
  const d = bindings(T, queryUses(kind, withLse), g.lengths);
  const perRow = rb.perRow.bind(rb);
  const head = `  let qb = i % NQB;
  let h = (i / NQB) % H;
  let b = i / (NQB * H);
  let kb = b * SK * KS + (h / G) * HDW; // key j of this head at kb + j·KS
  // rows past S repeat row S − 1: computed, never stored
  ${perRow((r) => `let qi${r} = min(qb * QB + ${u32(r)}, S - 1u);`)}
  ${perRow((r) => `let qo${r} = (b * S + qi${r}) * QS + h * HDW;`)}
  ${perRow((r) => `let n${r} = visible(b, qi${r});`)}
  let nmax = ${maxOf(rb.rows.map((r) => `n${r}`))};
  ${perRow((r) => loadVec('let', `q${r}_`, 'q', `qo${r}`, n), '\n  ')}`;
  const inRange = (r: number) => `qb * QB + ${u32(r)} < S`;
  const store = (value: (r: number, c: number) => string, extra: (r: number) => string = () => ''): string =>
    perRow((r) => `if (${inRange(r)}) { ${each(n, (c) => `${at('out', `qo${r}`, c)} = ${value(r, c)};`)} ${extra(r)} }`, '\n  ');
  const lseOf = (r: number) => `lse[lseAt(b, h, qi${r})] = m${r} + log(l${r});`;
  const wgsl = `${preamble(g, w, req.op, true)}
const QB = ${u32(QB)}; // query rows per invocation
const KB = ${u32(rb.KB)}; // keys per block
var<private> NQB: u32; // query blocks per (batch, head): sizes.z
${d.wgsl}
${SIZES_UNIFORM(d.bindings.length)}
${gr.entry}
  S = sizes.x;
  SK = sizes.y;
  NQB = sizes.z;
${gr.prologue}
${head}${body({ rb, n, T, withLse, store, lseOf, inRange })}
}
`;
  return { label: `${req.op}${withLse ? '+lse' : ''}_BxSx${g.H}x${g.hd}_QB${QB}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups, sizes: [g.S, g.Sk, NQB, count] };
}

/** A per-query kernel in the variant the adapter calls for (tuning.ts: queryVariantFor). */
export function queryKernel(req: AttentionRequest, caps: GpuCaps, kind: Kind, bodies: QueryBodies, withLse = false): OpKernel {
  return queryVariantFor(caps) === 'block' ? perQueryBlock(req, caps, kind, bodies.block, withLse) : perQuery(req, caps, kind, bodies.row, withLse);
}
