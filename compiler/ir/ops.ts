// The op catalog: every op of the IR, its operands, attributes, output shape rule
// and exact meaning. The CPU reference (runtime/cpu/kernels/) implements each
// entry; gradient rules (compiler/autodiff/rules.ts) are written in these ops.
//
// Conventions: "rows" are all leading dims flattened; the last axis is the feature
// axis. Broadcasting in add/mul/sum_to is suffix-only: the smaller shape must equal
// a suffix of the larger one (e.g. [B,S,D] + [S,D]).
import { addDims, dimEq, formatShape, shapeEq } from './dims.ts';
import type { Dim, Node, Shape } from './types.ts';
import { GATHER_OPS, LAYOUTS } from './gather-ops.ts';
import { DECODE_OPS } from '../decode/ops.ts';
import { checkAttrs, type ResolvedAttrsOf } from './attrs.ts';
import { defineOp, opt, type AttrSchema, type AttrsOf, type OpDef, type OpRole, type OpSpec } from './op-spec.ts';

export type { OpSpec } from './op-spec.ts';

const last = (s: Shape) => s[s.length - 1]!;
const same = (s: Shape[]) => s[0]!;

function suffixBroadcast(a: Shape, b: Shape): Shape | string {
  const [big, small] = a.length >= b.length ? [a, b] : [b, a];
  const off = big.length - small.length;
  for (let i = 0; i < small.length; i++) {
    if (!dimEq(big[off + i]!, small[i]!)) return `cannot broadcast ${formatShape(a)} with ${formatShape(b)}`;
  }
  return big;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** `axis` must name an axis of a rank-`rank` tensor; the message when it does not. */
function axisCheck(axis: number, rank: number): string | undefined {
  const ax = normAxis(axis, rank);
  return ax >= 0 && ax < rank ? undefined : `axis ${axis} out of range for rank ${rank}`;
}

/** A window [start, start+size) of an axis of length n, when both are known; the message when it overflows. */
function windowCheck(what: string, start: number, size: Dim, n: Dim): string | undefined {
  if (typeof size !== 'number' || typeof n !== 'number') return start >= 0 ? undefined : `${what}: start ${start} is negative`;
  return start >= 0 && size >= 0 && start + size <= n ? undefined : `${what}: range ${start}:${start + size} is outside an axis of ${n}`;
}

/** The message for a rule that needs a fixed size where the graph has a symbolic one. */
function undefinedSize(op: string, s: Shape): string {
  return `${op} needs a fixed feature size, got ${formatShape(s)}`;
}

/** dy [..., D] of a scatter-add: ids' shape plus a feature axis. */
function scatterCheck(ids: Shape, dy: Shape): string | undefined {
  return dy.length === ids.length + 1 && shapeEq(dy.slice(0, -1), ids) ? undefined : `dy ${formatShape(dy)} must be ids' shape ${formatShape(ids)} plus a feature axis`;
}

/** targets [...] of the loss: logits [..., V] without the last axis. */
function targetsCheck(logits: Shape, targets: Shape): string | undefined {
  return logits.length >= 1 && shapeEq(targets, logits.slice(0, -1)) ? undefined : `targets ${formatShape(targets)} must be logits ${formatShape(logits)} without the last axis`;
}

/** An optional `lengths` operand must be [B], B the first dim of x; the message when it is not. */
function lengthsCheck(x: Shape, len: Shape | undefined): string | undefined {
  if (!len) return undefined;
  return len.length === 1 && dimEq(len[0]!, x[0]!) ? undefined : `lengths must be [${x[0]}], got ${formatShape(len)}`;
}

/** The attributes of attention and of the ops of its backward. */
const ATTENTION_ATTRS = { heads: 'int', kv_heads: 'int', causal: 'bool', prefix: 'int' } as const;
export const POOL_MODES = ['first', 'last', 'mean'] as const;

/** Each present [D] operand (a norm's gamma, beta) matches x's last axis; the message when one does not. */
function featureCheck(x: Shape, named: [string, Shape | undefined][]): string | undefined {
  for (const [name, t] of named) if (t && !(t.length === 1 && dimEq(t[0]!, last(x)))) return `${name} ${formatShape(t)} does not match ${last(x)} features`;
  return undefined;
}

/** x and dy of a backward op have one shape; the message when they do not. */
function sameCheck(x: Shape, dy: Shape): string | undefined {
  return shapeEq(x, dy) ? undefined : `x ${formatShape(x)} and dy ${formatShape(dy)} differ`;
}

/** The norms' shape rule: x [..., D], the optional dy x's shape, each named [D] vector matching D. */
const normShape =
  (names: string[], dyAt?: number) =>
  (s: Shape[]): Shape | string => {
    const x = s[0]!;
    if (x.length === 0) return 'needs at least one axis';
    return (dyAt === undefined ? undefined : sameCheck(x, s[dyAt]!)) ?? featureCheck(x, names.map((n, i) => [n, s[i + 1 + (dyAt === undefined ? 0 : 1)]])) ?? x;
  };

/**
 * attention_grad_q / _k / _v: the operands of attention, the upstream gradient dy, the attention's
 * output o and its attention_lse. o and lse are what the forward computed from q, k, v; they spare
 * the backward its softmax statistics (p_ij = exp(s_ij − lse_i), Σ_j p_ij·dy_i·v_j = dy_i·o_i).
 */
const attentionGrad = (what: string, like: number) =>
  defineOp({
    role: 'backward',
    inputs: ['q', 'k', 'v', 'dy', 'o', 'lse', 'lengths?'],
    attrs: ATTENTION_ATTRS,
    doc: `${what} of attention (o = attention(q, k, v), lse = attention_lse(q, k); lengths as in attention).`,
    shape: (s) => lengthsCheck(s[0]!, s[6]) ?? s[like]!,
  });

const unary = (doc: string) => defineOp({ role: 'forward', inputs: ['x'], attrs: {}, doc, shape: same });
const unaryGrad = (doc: string) =>
  defineOp({
    role: 'backward',
    inputs: ['x', 'dy'],
    attrs: {},
    doc,
    shape: (s) => (shapeEq(s[0]!, s[1]!) ? s[0]! : `x ${formatShape(s[0]!)} and dy ${formatShape(s[1]!)} differ`),
  });

export const OPS = {
  // ------------------------------------------------------------ leaves
  input: defineOp({
    role: 'leaf',
    inputs: [],
    attrs: { name: 'string', fill: opt('number') },
    doc:
      'A graph input (`tokens` i32 [B,T]; `targets` i32 [B,S] or [B]; a LoRA rank mask `rank_mask.<module>` f32 [r]). ' +
      'Shape given by the builder. With attribute `fill`, the batch may leave the input out: it is then a tensor of that value.',
    shape: () => 'input shape is set by the builder',
  }),
  param: defineOp({
    role: 'leaf',
    inputs: [],
    attrs: { path: 'string' },
    doc: 'The parameter at `path`. Shape is the parameter shape.',
    shape: () => 'param shape is set by the builder',
  }),

  // ------------------------------------------------------------ forward
  embedding: defineOp({
    role: 'forward',
    inputs: ['table', 'ids'],
    attrs: {},
    doc: 'table [N,D], ids i32 [...] → [..., D]: out[i] = table[ids[i]].',
    shape: ([t, ids]) => (t!.length === 2 ? [...ids!, t![1]!] : `embedding table must be 2-D, got ${formatShape(t!)}`),
  }),
  soft_embedding: defineOp({
    role: 'forward',
    inputs: ['table', 'soft', 'ids'],
    attrs: {},
    doc:
      'table [N,D], soft [V,D], ids i32 [...] → [..., D]: out[i] = table[ids[i]] when ids[i] < N, else soft[ids[i] − N] ' +
      '(a prompt template\'s virtual tokens are the ids N … N+V−1 of the token rows).',
    shape: ([t, s, ids]) =>
      t!.length !== 2 || s!.length !== 2
        ? `soft_embedding tables must be 2-D, got ${formatShape(t!)} and ${formatShape(s!)}`
        : !dimEq(t![1]!, s![1]!)
          ? `soft tokens ${formatShape(s!)} and table ${formatShape(t!)} differ in width`
          : [...ids!, t![1]!],
  }),
  positions: defineOp({
    role: 'forward',
    inputs: ['x'],
    attrs: { offset: opt('int') },
    doc:
      'x [B,S,...] → i32 [S]: offset, offset+1, …, offset+S-1 (the sequence positions of x). The offset is ' +
      'the prefix length under prefix tuning: as in Hugging Face, prefixes occupy positions 0…P-1 of the cache (0 when absent).',
    shape: ([x]) => (x!.length >= 2 ? [x![1]!] : `positions needs a [B, S, …] input, got ${formatShape(x!)}`),
    dtype: 'i32',
  }),
  linear: defineOp({
    role: 'forward',
    inputs: ['x', 'w', 'b?'],
    attrs: { layout: LAYOUTS },
    doc:
      'x [..., in] → [..., out]. layout `in_out`: w [in,out], y = x·w (GPT-2 Conv1D); ' +
      'layout `out_in`: w [out,in], y = x·wᵀ (torch Linear). Optional bias b [out] is added.',
    shape: ([x, w, b], a) => {
      const [wi, wo] = a.layout === 'in_out' ? [w![0]!, w![1]!] : [w![1]!, w![0]!];
      if (w!.length !== 2) return `weight must be 2-D, got ${formatShape(w!)}`;
      if (!dimEq(last(x!), wi)) return `input features ${last(x!)} do not match weight ${formatShape(w!)} (layout ${a.layout})`;
      if (b && !(b.length === 1 && dimEq(b[0]!, wo))) return `bias ${formatShape(b)} does not match ${wo} output features`;
      return [...x!.slice(0, -1), wo];
    },
  }),
  add: defineOp({ role: 'forward', inputs: ['a', 'b'], attrs: {}, doc: 'a + b, suffix broadcasting.', shape: ([a, b]) => suffixBroadcast(a!, b!) }),
  mul: defineOp({ role: 'forward', inputs: ['a', 'b'], attrs: {}, doc: 'a * b elementwise, suffix broadcasting.', shape: ([a, b]) => suffixBroadcast(a!, b!) }),
  scale: defineOp({ role: 'forward', inputs: ['x'], attrs: { factor: 'number' }, doc: 'factor · x.', shape: same }),
  layernorm: defineOp({
    role: 'forward',
    inputs: ['x', 'gamma?', 'beta?'],
    attrs: { eps: 'number' },
    doc: 'Over the last axis: (x − mean) / sqrt(var + eps) · gamma + beta; var is the biased variance.',
    shape: normShape(['gamma', 'beta']),
  }),
  rmsnorm: defineOp({
    role: 'forward',
    inputs: ['x', 'gamma'],
    attrs: { eps: 'number' },
    doc: 'Over the last axis: x / sqrt(mean(x²) + eps) · gamma (LLaMA).',
    shape: normShape(['gamma']),
  }),
  gelu: unary('0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (the tanh approximation, GPT-2 "gelu_new").'),
  gelu_erf: unary('0.5·x·(1 + erf(x/√2)) (the exact GELU, torch\'s F.gelu and BERT\'s "gelu"; the language\'s `gelu`).'),
  relu: unary('max(x, 0).'),
  silu: unary('x · sigmoid(x).'),
  tanh: unary('tanh(x).'),
  slice: defineOp({
    role: 'forward',
    inputs: ['x'],
    attrs: { axis: 'int', start: 'int', size: 'dim' },
    doc: 'x[..., start:start+size, ...] along `axis` (negative counts from the end).',
    shape: ([x], a) => {
      const ax = normAxis(a.axis, x!.length);
      const bad = axisCheck(a.axis, x!.length) ?? windowCheck('slice', a.start, a.size, x![ax]!);
      if (bad) return bad;
      const out = [...x!];
      out[ax] = a.size;
      return out;
    },
  }),
  transpose: defineOp({
    role: 'forward',
    inputs: ['x'],
    attrs: {},
    doc: 'x [M,N] → [N,M]: out[j][i] = x[i][j] (LoRA on an embedding reads columns of lora_embedding_A).',
    shape: ([x]) => (x!.length === 2 ? [x![1]!, x![0]!] : `transpose takes a 2-D tensor, got ${formatShape(x!)}`),
  }),
  inv_row_norm: defineOp({
    role: 'forward',
    inputs: ['x'],
    attrs: {},
    doc: 'x [M,N] → [M]: 1/‖x_i‖, the reciprocal norm of each row; no gradient (DoRA treats its weight norm as a constant, as PEFT detaches it).',
    shape: ([x]) => (x!.length === 2 ? [x![0]!] : `inv_row_norm takes a 2-D tensor, got ${formatShape(x!)}`),
  }),
  concat: defineOp({
    role: 'forward',
    inputs: ['a', 'b'],
    attrs: { axis: 'int' },
    doc: 'Concatenation of a and b along `axis`; other dims must agree.',
    shape: ([a, b], at) => {
      const ax = normAxis(at.axis, a!.length);
      const bad = axisCheck(at.axis, a!.length);
      if (bad) return bad;
      if (a!.length !== b!.length) return `cannot concatenate ${formatShape(a!)} and ${formatShape(b!)}`;
      for (let i = 0; i < a!.length; i++) {
        if (i !== ax && !dimEq(a![i]!, b![i]!)) return `cannot concatenate ${formatShape(a!)} and ${formatShape(b!)} along axis ${ax}`;
      }
      const d = addDims(a![ax]!, b![ax]!);
      if (d === null) return `cannot add dimensions ${a![ax]} and ${b![ax]}`;
      const out = [...a!];
      out[ax] = d;
      return out;
    },
  }),
  rope: defineOp({
    role: 'forward',
    inputs: ['x'],
    attrs: { heads: 'int', theta: 'number', inverse: 'bool', offset: opt('int') },
    doc:
      'Rotary position embedding on x [B,S,heads·hd], Hugging Face LLaMA convention (rotate_half): for each head, ' +
      'position p = offset + s (s the sequence index) and i < hd/2 with angle a = p·theta^(−2i/hd): (x_i, x_{i+hd/2}) ← (x_i·cos a − x_{i+hd/2}·sin a, ' +
      'x_{i+hd/2}·cos a + x_i·sin a). `inverse` rotates by −a (the backward). `offset` is 0 when absent.',
    shape: ([x], a) => {
      if (x!.length !== 3) return `x must be [B, S, heads·hd], got ${formatShape(x!)}`;
      const D = last(x!);
      if (typeof D !== 'number') return undefinedSize('rope', x!);
      if (a.heads <= 0 || D % a.heads !== 0) return `features ${D} are not divisible by heads ${a.heads}`;
      return (D / a.heads) % 2 === 0 ? x! : `head size ${D / a.heads} must be even`;
    },
  }),
  attention: defineOp({
    role: 'forward',
    inputs: ['q', 'k', 'v', 'lengths?'],
    attrs: ATTENTION_ATTRS,
    doc:
      'Scaled dot-product attention. q [B,S,heads·hd], k and v [B,Sk,kv_heads·hd] with Sk = prefix + S; ' +
      'query head h reads kv head floor(h·kv_heads/heads). Scores q·kᵀ/√hd, softmax over keys. ' +
      'Key j is visible to query i if j < prefix (prefix keys are seen by every query) or, when causal, ' +
      'j − prefix ≤ i (always when not causal). → [B,S,heads·hd]. Optional lengths i32 [B] (real positions per row; ' +
      'non-causal only, ignored when causal): key j ≥ prefix is visible only if j − prefix < lengths[b] (padding keys are masked).',
    shape: ([q, , , len]) => lengthsCheck(q!, len) ?? q!,
  }),
  expand_batch: defineOp({
    role: 'forward',
    inputs: ['x', 'like'],
    attrs: {},
    doc: 'x [P,D] repeated over the batch of `like` [B,...] → [B,P,D].',
    shape: ([x, like]) => (like!.length >= 1 ? [like![0]!, ...x!] : 'like must have a batch axis'),
  }),
  dropout: defineOp({
    role: 'forward',
    inputs: ['x'],
    attrs: { p: 'number', seed: 'int' },
    doc:
      'Inverted dropout: element i is kept iff pcg(i + pcg(seed + pcg(step))) ≥ floor(p·2³²) (u32 arithmetic; ' +
      'step is the executor\'s training step), kept values are scaled by 1/(1−p). Identity when p = 0 or in eval mode.',
    shape: ([x], a) => (a.p >= 0 && a.p < 1 ? x! : `p must be in [0, 1), got ${a.p}`),
  }),
  pool: defineOp({
    role: 'forward',
    inputs: ['x', 'lengths?'],
    attrs: { mode: POOL_MODES },
    doc:
      'x [B,S,D] → [B,D]: the first position (`first`), the last (`last`) or the mean over S (`mean`). With the optional ' +
      'lengths i32 [B] (real positions per row), `last` takes position lengths[b]−1 and `mean` averages positions < lengths[b].',
    shape: ([x, len]) => (x!.length === 3 ? (lengthsCheck(x!, len) ?? [x![0]!, x![2]!]) : `pool needs [B, S, D], got ${formatShape(x!)}`),
  }),
  cross_entropy: defineOp({
    role: 'forward',
    inputs: ['logits', 'targets'],
    attrs: { ignore_index: 'int' },
    doc:
      'logits [..., V], targets i32 [...] → scalar []: mean over positions whose target ≠ ignore_index of ' +
      '−log softmax(logits)[target]; 0 when no position counts.',
    shape: ([l, t]) => targetsCheck(l!, t!) ?? [],
  }),

  // ------------------------------------------------------------ backward
  linear_grad_weight: defineOp({
    role: 'backward',
    inputs: ['x', 'dy'],
    attrs: { layout: LAYOUTS },
    doc: 'Weight gradient of linear, summed over all rows: in_out → xᵀ·dy [in,out]; out_in → dyᵀ·x [out,in].',
    shape: ([x, dy], a) =>
      x!.length === 0 || !shapeEq(x!.slice(0, -1), dy!.slice(0, -1))
        ? `x ${formatShape(x!)} and dy ${formatShape(dy!)} have different rows`
        : a.layout === 'in_out'
          ? [last(x!), last(dy!)]
          : [last(dy!), last(x!)],
  }),
  sum_to: defineOp({
    role: 'backward',
    inputs: ['x', 'like'],
    attrs: {},
    doc: 'Sums x over its leading dims until its shape equals like\'s (like\'s shape is a suffix of x\'s).',
    shape: ([x, like]) => (suffixBroadcast(x!, like!) === x! && x!.length >= like!.length ? like! : `${formatShape(like!)} is not a suffix of ${formatShape(x!)}`),
  }),
  layernorm_grad_x: defineOp({
    role: 'backward',
    inputs: ['x', 'dy', 'gamma?'],
    attrs: { eps: 'number' },
    doc: 'dL/dx of layernorm (gamma taken as 1 when absent).',
    shape: normShape(['gamma'], 1),
  }),
  layernorm_grad_gamma: defineOp({
    role: 'backward',
    inputs: ['x', 'dy'],
    attrs: { eps: 'number' },
    doc: 'Σ_rows dy · x̂ → [D].',
    shape: ([x, dy]) => sameCheck(x!, dy!) ?? [last(x!)],
  }),
  rmsnorm_grad_x: defineOp({ role: 'backward', inputs: ['x', 'dy', 'gamma'], attrs: { eps: 'number' }, doc: 'dL/dx of rmsnorm.', shape: normShape(['gamma'], 1) }),
  rmsnorm_grad_gamma: defineOp({
    role: 'backward',
    inputs: ['x', 'dy'],
    attrs: { eps: 'number' },
    doc: 'Σ_rows dy · x / sqrt(mean(x²) + eps) → [D].',
    shape: ([x, dy]) => sameCheck(x!, dy!) ?? [last(x!)],
  }),
  gelu_grad: unaryGrad('dy · gelu\'(x).'),
  gelu_erf_grad: unaryGrad('dy · (Φ(x) + x·φ(x)), Φ(x) = 0.5·(1 + erf(x/√2)), φ(x) = exp(−x²/2)/√(2π).'),
  relu_grad: unaryGrad('dy · [x > 0].'),
  silu_grad: unaryGrad('dy · (s + x·s·(1 − s)), s = sigmoid(x).'),
  tanh_grad: unaryGrad('dy · (1 − tanh(x)²).'),
  pad: defineOp({
    role: 'backward',
    inputs: ['x'],
    attrs: { axis: 'int', start: 'int', total: 'dim' },
    doc: 'Zeros of size `total` along `axis` with x placed at `start` (the backward of slice).',
    shape: ([x], a) => {
      const ax = normAxis(a.axis, x!.length);
      const bad = axisCheck(a.axis, x!.length) ?? windowCheck('pad', a.start, x![ax]!, a.total);
      if (bad) return bad;
      const out = [...x!];
      out[ax] = a.total;
      return out;
    },
  }),
  attention_lse: defineOp({
    role: 'backward',
    inputs: ['q', 'k', 'lengths?'],
    attrs: ATTENTION_ATTRS,
    doc:
      'The log-sum-exp of each softmax row of attention (same operands, attributes and mask): ' +
      'lse[b,h,i] = log Σ_j exp(q_i·k_j/√hd) over the keys query i of head h sees. → [B,heads,S]. ' +
      'Saved for the backward, which then needs no softmax statistics pass: p_ij = exp(s_ij − lse_i).',
    shape: ([q, , len], a) => lengthsCheck(q!, len) ?? (q!.length === 3 ? [q![0]!, a.heads, q![1]!] : `q must be [B, S, heads·hd], got ${formatShape(q!)}`),
  }),
  attention_grad_q: attentionGrad('dL/dq', 0),
  attention_grad_k: attentionGrad('dL/dk', 1),
  attention_grad_v: attentionGrad('dL/dv', 2),
  embedding_grad: defineOp({
    role: 'backward',
    inputs: ['ids', 'dy'],
    attrs: { rows: 'int' },
    doc: 'Scatter-add of dy [..., D] into a [rows, D] zero table at ids (the table gradient).',
    shape: ([ids, dy], a) => scatterCheck(ids!, dy!) ?? (a.rows >= 0 ? [a.rows, last(dy!)] : `rows must be ≥ 0, got ${a.rows}`),
  }),
  soft_embedding_grad: defineOp({
    role: 'backward',
    inputs: ['ids', 'dy'],
    attrs: { offset: 'int', rows: 'int' },
    doc:
      'Scatter-add of the dy [..., D] rows whose id is in [offset, offset+rows) into a [rows, D] zero table at id − offset; ' +
      'other ids are skipped (the table gradient of soft_embedding: offset 0 and N rows, or offset N and V rows).',
    shape: ([ids, dy], a) =>
      scatterCheck(ids!, dy!) ?? (a.offset >= 0 && a.rows >= 0 ? [a.rows, last(dy!)] : `offset ${a.offset} and rows ${a.rows} must be ≥ 0`),
  }),
  pool_grad: defineOp({
    role: 'backward',
    inputs: ['dy', 'x', 'lengths?'],
    attrs: { mode: POOL_MODES },
    doc: 'The backward of pool: dy [B,D] spread back to x\'s shape [B,S,D] (lengths as in pool).',
    shape: ([dy, x, len]) => {
      if (x!.length !== 3) return `pool needs [B, S, D], got ${formatShape(x!)}`;
      if (!shapeEq(dy!, [x![0]!, x![2]!])) return `dy must be [${x![0]}, ${x![2]}], got ${formatShape(dy!)}`;
      return lengthsCheck(x!, len) ?? x!;
    },
  }),
  cross_entropy_grad: defineOp({
    role: 'backward',
    inputs: ['logits', 'targets'],
    attrs: { ignore_index: 'int' },
    doc: 'd(cross_entropy)/dlogits = (softmax(logits) − onehot(target)) / count, 0 on ignored positions.',
    shape: ([l, t]) => targetsCheck(l!, t!) ?? l!,
  }),

  // ------------------------------------------------------------ several adapters in one batch (gather-ops.ts)
  ...GATHER_OPS,

  // ------------------------------------------------------------ decoding graphs (compiler/decode/ops.ts)
  ...DECODE_OPS,
};

/** The name of an op of the catalog. */
export type OpName = keyof typeof OPS;
/** The attributes of op K as a verified graph holds them (`dim` attributes may be symbolic). */
export type OpAttrs<K extends OpName> = AttrsOf<(typeof OPS)[K]['attrs']>;
type WithRole<R> = { [K in OpName]: (typeof OPS)[K]['role'] extends R ? K : never }[OpName];
export type LeafOp = WithRole<'leaf'>;
export type ForwardOp = WithRole<'forward'>;
export type BackwardOp = WithRole<'backward'>;
/** The ops of decoding graphs (compiler/decode/ops.ts): their kernels are bound to a key/value cache. */
export type DecodeOp = WithRole<'decode'>;
/**
 * The ops a kernel computes from its operands alone: every op but the leaves and the decoding ops
 * (the CPU's and the WGSL tables must name each of these).
 */
export type ComputedOp = Exclude<OpName, LeafOp | DecodeOp>;
/** Op K's attributes as kernels receive them (`dim` attributes resolved to numbers). */
export type KernelAttrs<K extends OpName> = ResolvedAttrsOf<(typeof OPS)[K]['attrs']>;
/** A node of op K in a verified graph: its attributes typed by the catalog. */
export type OpNode<K extends OpName> = Omit<Node, 'op' | 'attrs'> & { op: K; attrs: OpAttrs<K> };
/** The weight layout of linear and linear_gather. */
export type Layout = (typeof LAYOUTS)[number];

export function isOp(op: string): op is OpName {
  return Object.hasOwn(OPS, op);
}

/** The ops of the catalog with the given role. */
export function opsWithRole(role: OpRole): OpName[] {
  return (Object.keys(OPS) as OpName[]).filter((op) => OPS[op].role === role);
}

/** An entry whose shape rule first checks the attributes it is given against the schema. */
function checked(def: OpDef<AttrSchema>): OpSpec {
  // The cast is what the check just established.
  return { ...def, shape: (inputs, attrs) => checkAttrs(def.attrs, attrs) ?? def.shape(inputs, attrs as AttrsOf<AttrSchema>) };
}

const CHECKED = Object.fromEntries(Object.entries(OPS).map(([op, def]) => [op, checked(def)])) as Record<OpName, OpSpec>;

/** The catalog entry of `op` (a name known only at run time), its attributes checked by its shape rule. */
export function opSpec(op: string): OpSpec {
  if (!isOp(op)) throw new Error(`unknown op ${op}`);
  return CHECKED[op];
}
