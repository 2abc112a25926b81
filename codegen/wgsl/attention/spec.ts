// What every attention kernel shares: the request read into the op's geometry
// (compiler/ir/attention-geometry.ts, shared with the CPU reference), the WGSL preamble of
// constants and helpers, and the bindings a kernel declares.
import { LENGTHS_AT, attentionGeometry, keyShape, lengthsMask, lseShape, visibility, type AttentionGeometry, type AttentionOperands } from '../../../compiler/ir/attention-geometry.ts';
import { type Binding, declare, f32, fail, fmt, operand, optOperand, u32 } from '../common.ts';
import type { BindingName, OpRequest } from '../types.ts';

/** What a kernel computes: attention, its lse, or a gradient (which reads dy, o and lse). */
export type Kind = AttentionOperands;

export interface Geometry extends AttentionGeometry {
  qShape: number[];
  kShape: number[];
  lseShape: number[];
  /** The binding of the lengths operand when it masks keys (non-causal attention given one). */
  lengths?: BindingName;
}

/** A request of attention or of an op of its backward (one attribute schema). */
export type AttentionRequest = OpRequest<'attention' | 'attention_lse' | 'attention_grad_q' | 'attention_grad_k' | 'attention_grad_v'>;

export function geometry(req: AttentionRequest, kind: Kind): Geometry {
  const q = operand(req, 0, 'q', 'f32').shape;
  const k = operand(req, 1, 'k', 'f32').shape;
  const a = req.attrs;
  const bad = (message: string): never => fail(req.op, message);
  const base = attentionGeometry(q, kind === 'lse' ? [['k', k]] : [['k', k], ['v', operand(req, 2, 'v', 'f32').shape]], a, bad);
  const g: Geometry = { ...base, qShape: q, kShape: keyShape(base), lseShape: lseShape(base) };
  if (kind === 'grad') {
    for (const [i, name] of [[3, 'dy'], [4, 'o']] as const) {
      const t = operand(req, i, name, 'f32').shape;
      if (t.length !== 3 || t.some((d, c) => d !== q[c])) fail(req.op, `${name} ${fmt(t)} must match q ${fmt(q)}`);
    }
    const lse = operand(req, 5, 'lse', 'f32').shape;
    if (lse.length !== 3 || lse.some((d, c) => d !== g.lseShape[c])) fail(req.op, `lse must be ${fmt(g.lseShape)}, got ${fmt(lse)}`);
  }
  const li = LENGTHS_AT[kind];
  const len = optOperand(req, li, 'lengths', 'i32');
  if (len && (len.shape.length !== 1 || len.shape[0] !== g.B)) fail(req.op, `lengths must be [${g.B}], got ${fmt(len.shape)}`);
  if (lengthsMask(g, !!len)) g.lengths = `in${li}`;
  return g;
}

/** WGSL: the visible keys of query i of row b (visibleKeys of the shared geometry). */
function visibleWgsl(g: Geometry): string {
  switch (visibility(g, g.lengths !== undefined)) {
    case 'causal':
      return 'PREFIX + i + 1u';
    case 'lengths':
      return 'PREFIX + u32(lengths[b])';
    case 'all':
      return 'SK';
  }
}

/**
 * WGSL: the first query that sees key `j`, and not before query `from` (the key gradients start
 * there): causal key j ≥ prefix is seen from query j − prefix, every other key from query 0.
 */
export function firstQuery(g: Pick<Geometry, 'causal'>, j: string, from?: string): string {
  if (!g.causal) return from ?? '0u';
  const first = `select(0u, ${j} - PREFIX, ${j} > PREFIX)`;
  return from ? `max(${from}, ${first})` : first;
}

/**
 * Constants and helpers shared by the kernels. `open`: the lengths S and SK are private
 * variables that main sets from the sizes uniform (OPEN_LENGTHS), not constants.
 */
export function preamble(g: Geometry, w: 1 | 4, op: string, open = false): string {
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const lengths = open ? 'var<private> S: u32; // sizes.x\nvar<private> SK: u32; // sizes.y' : `const S = ${u32(g.S)};\nconst SK = ${u32(g.Sk)};`;
  return `// ${op}: q [${open ? 'B' : g.B},${open ? 'S' : g.S},${g.H}·${g.hd}], k v [${open ? 'B' : g.B},${open ? 'SK' : g.Sk},${g.KV}·${g.hd}], ${g.causal ? 'causal' : 'bidirectional'}, prefix ${g.prefix}
alias T = ${T};
${lengths}
const H = ${u32(g.H)};
const KV = ${u32(g.KV)};
const G = ${u32(g.H / g.KV)}; // query heads per kv head
const HDW = ${u32(g.hd / w)}; // head size in units of T
const QS = ${u32((g.H * g.hd) / w)}; // q / dy / o row stride
const KS = ${u32((g.KV * g.hd) / w)}; // k / v row stride
const PREFIX = ${u32(g.prefix)};
const SCALE = ${f32(1 / Math.sqrt(g.hd))};
fn dot4(a: T, b: T) -> f32 { return ${w === 4 ? 'dot(a, b)' : 'a * b'}; }
// Number of keys visible to query i of row b (keys 0 … n − 1).
fn visible(b: u32, i: u32) -> u32 { return ${visibleWgsl(g)}; }
// Where lse of (row b, head h, query i) is.
fn lseAt(b: u32, h: u32, i: u32) -> u32 { return (b * H + h) * S + i; }`;
}

/** Which operands and results a kernel binds. */
export interface Uses {
  v?: boolean;
  dy?: boolean;
  o?: boolean;
  /** lse: read (`in`, a gradient), written (`out1`, beside attention's output; `out`, attention_lse). */
  lse?: 'in' | 'out1' | 'out';
  /** out1 holds dv beside dk in `out` (attentionGradKV). */
  dv?: boolean;
}

export function bindings(T: string, use: Uses, lengths?: BindingName): { wgsl: string; bindings: BindingName[] } {
  const list: Binding[] = [
    { name: 'in0', variable: 'q', type: T },
    { name: 'in1', variable: 'k', type: T },
  ];
  if (use.v) list.push({ name: 'in2', variable: 'v', type: T });
  if (use.dy) list.push({ name: 'in3', variable: 'dy', type: T });
  if (use.o) list.push({ name: 'in4', variable: 'o', type: T });
  if (use.lse === 'in') list.push({ name: 'in5', variable: 'lse', type: 'f32' });
  if (lengths) list.push({ name: lengths, variable: 'lengths', type: 'i32' });
  list.push({ name: 'out', variable: use.lse === 'out' ? 'lse' : 'out', type: use.lse === 'out' ? 'f32' : T });
  if (use.lse === 'out1') list.push({ name: 'out1', variable: 'lse', type: 'f32' });
  if (use.dv) list.push({ name: 'out1', variable: 'dv', type: T });
  return declare(list);
}
