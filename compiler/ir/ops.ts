// The op catalog: every op of the IR, its operands, attributes, output shape rule
// and exact meaning. The CPU reference (runtime/cpu/kernels/) implements each
// entry; gradient rules (compiler/autodiff/rules.ts) are written in these ops.
//
// Conventions: "rows" are all leading dims flattened; the last axis is the feature
// axis. Broadcasting in add/mul/sum_to is suffix-only: the smaller shape must equal
// a suffix of the larger one (e.g. [B,S,D] + [S,D]).
import { addDims, dimEq, formatShape, shapeEq } from './dims.ts';
import type { Dim, Shape } from './types.ts';
import { GATHER_OPS } from './gather-ops.ts';
import type { OpSpec } from './op-spec.ts';

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

/** An optional `lengths` operand must be [B], B the first dim of x; the message when it is not. */
function lengthsCheck(x: Shape, len: Shape | undefined): string | undefined {
  if (!len) return undefined;
  return len.length === 1 && dimEq(len[0]!, x[0]!) ? undefined : `lengths must be [${x[0]}], got ${formatShape(len)}`;
}

/**
 * attention_grad_q / _k / _v: the operands of attention, the upstream gradient dy, the attention's
 * output o and its attention_lse. o and lse are what the forward computed from q, k, v; they spare
 * the backward its softmax statistics (p_ij = exp(s_ij − lse_i), Σ_j p_ij·dy_i·v_j = dy_i·o_i).
 */
const attentionGrad = (what: string, like: number): OpSpec => ({
  inputs: ['q', 'k', 'v', 'dy', 'o', 'lse', 'lengths?'],
  attrs: ['heads', 'kv_heads', 'causal', 'prefix'],
  doc: `${what} of attention (o = attention(q, k, v), lse = attention_lse(q, k); lengths as in attention).`,
  shape: (s) => lengthsCheck(s[0]!, s[6]) ?? s[like]!,
});

const unary = (doc: string): OpSpec => ({ inputs: ['x'], attrs: [], doc, shape: same });
const unaryGrad = (doc: string): OpSpec => ({
  inputs: ['x', 'dy'],
  attrs: [],
  doc,
  shape: (s) => (shapeEq(s[0]!, s[1]!) ? s[0]! : `x ${formatShape(s[0]!)} and dy ${formatShape(s[1]!)} differ`),
});

export const OPS: Record<string, OpSpec> = {
  // ------------------------------------------------------------ leaves
  input: {
    inputs: [],
    attrs: ['name'],
    doc:
      'A graph input (`tokens` i32 [B,T]; `targets` i32 [B,S] or [B]; a LoRA rank mask `rank_mask.<module>` f32 [r]). ' +
      'Shape given by the builder. With attribute `fill`, the batch may leave the input out: it is then a tensor of that value.',
    shape: () => 'input shape is set by the builder',
  },
  param: {
    inputs: [],
    attrs: ['path'],
    doc: 'The parameter at `path`. Shape is the parameter shape.',
    shape: () => 'param shape is set by the builder',
  },

  // ------------------------------------------------------------ forward
  embedding: {
    inputs: ['table', 'ids'],
    attrs: [],
    doc: 'table [N,D], ids i32 [...] → [..., D]: out[i] = table[ids[i]].',
    shape: ([t, ids]) => (t!.length === 2 ? [...ids!, t![1]!] : `embedding table must be 2-D, got ${formatShape(t!)}`),
  },
  soft_embedding: {
    inputs: ['table', 'soft', 'ids'],
    attrs: [],
    doc:
      'table [N,D], soft [V,D], ids i32 [...] → [..., D]: out[i] = table[ids[i]] when ids[i] < N, else soft[ids[i] − N] ' +
      '(a prompt template\'s virtual tokens are the ids N … N+V−1 of the token rows).',
    shape: ([t, s, ids]) =>
      t!.length !== 2 || s!.length !== 2
        ? `soft_embedding tables must be 2-D, got ${formatShape(t!)} and ${formatShape(s!)}`
        : !dimEq(t![1]!, s![1]!)
          ? `soft tokens ${formatShape(s!)} and table ${formatShape(t!)} differ in width`
          : [...ids!, t![1]!],
  },
  positions: {
    inputs: ['x'],
    attrs: ['offset'],
    doc:
      'x [B,S,...] → i32 [S]: offset, offset+1, …, offset+S-1 (the sequence positions of x). The offset is ' +
      'the prefix length under prefix tuning: as in Hugging Face, prefixes occupy positions 0…P-1 of the cache.',
    shape: ([x]) => (x!.length >= 2 ? [x![1]!] : `positions needs a [B, S, …] input, got ${formatShape(x!)}`),
    dtype: 'i32',
  },
  linear: {
    inputs: ['x', 'w', 'b?'],
    attrs: ['layout'],
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
  },
  add: { inputs: ['a', 'b'], attrs: [], doc: 'a + b, suffix broadcasting.', shape: ([a, b]) => suffixBroadcast(a!, b!) },
  mul: { inputs: ['a', 'b'], attrs: [], doc: 'a * b elementwise, suffix broadcasting.', shape: ([a, b]) => suffixBroadcast(a!, b!) },
  scale: { inputs: ['x'], attrs: ['factor'], doc: 'factor · x.', shape: same },
  layernorm: {
    inputs: ['x', 'gamma?', 'beta?'],
    attrs: ['eps'],
    doc: 'Over the last axis: (x − mean) / sqrt(var + eps) · gamma + beta; var is the biased variance.',
    shape: same,
  },
  rmsnorm: {
    inputs: ['x', 'gamma'],
    attrs: ['eps'],
    doc: 'Over the last axis: x / sqrt(mean(x²) + eps) · gamma (LLaMA).',
    shape: same,
  },
  gelu: unary('0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (the tanh approximation, GPT-2 "gelu_new").'),
  relu: unary('max(x, 0).'),
  silu: unary('x · sigmoid(x).'),
  tanh: unary('tanh(x).'),
  slice: {
    inputs: ['x'],
    attrs: ['axis', 'start', 'size'],
    doc: 'x[..., start:start+size, ...] along `axis` (negative counts from the end).',
    shape: ([x], a) => {
      const ax = normAxis(a.axis as number, x!.length);
      const out = [...x!];
      out[ax] = a.size as number;
      return out;
    },
  },
  concat: {
    inputs: ['a', 'b'],
    attrs: ['axis'],
    doc: 'Concatenation of a and b along `axis`; other dims must agree.',
    shape: ([a, b], at) => {
      const ax = normAxis(at.axis as number, a!.length);
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
  },
  rope: {
    inputs: ['x'],
    attrs: ['heads', 'theta', 'inverse', 'offset'],
    doc:
      'Rotary position embedding on x [B,S,heads·hd], Hugging Face LLaMA convention (rotate_half): for each head, ' +
      'position p = offset + s (s the sequence index) and i < hd/2 with angle a = p·theta^(−2i/hd): (x_i, x_{i+hd/2}) ← (x_i·cos a − x_{i+hd/2}·sin a, ' +
      'x_{i+hd/2}·cos a + x_i·sin a). `inverse` rotates by −a (the backward).',
    shape: same,
  },
  attention: {
    inputs: ['q', 'k', 'v', 'lengths?'],
    attrs: ['heads', 'kv_heads', 'causal', 'prefix'],
    doc:
      'Scaled dot-product attention. q [B,S,heads·hd], k and v [B,Sk,kv_heads·hd] with Sk = prefix + S; ' +
      'query head h reads kv head floor(h·kv_heads/heads). Scores q·kᵀ/√hd, softmax over keys. ' +
      'Key j is visible to query i if j < prefix (prefix keys are seen by every query) or, when causal, ' +
      'j − prefix ≤ i (always when not causal). → [B,S,heads·hd]. Optional lengths i32 [B] (real positions per row; ' +
      'non-causal only, ignored when causal): key j ≥ prefix is visible only if j − prefix < lengths[b] (padding keys are masked).',
    shape: ([q, , , len]) => lengthsCheck(q!, len) ?? q!,
  },
  expand_batch: {
    inputs: ['x', 'like'],
    attrs: [],
    doc: 'x [P,D] repeated over the batch of `like` [B,...] → [B,P,D].',
    shape: ([x, like]) => [like![0]!, ...x!],
  },
  dropout: {
    inputs: ['x'],
    attrs: ['p', 'seed'],
    doc:
      'Inverted dropout: element i is kept iff pcg(i + pcg(seed + pcg(step))) ≥ floor(p·2³²) (u32 arithmetic; ' +
      'step is the executor\'s training step), kept values are scaled by 1/(1−p). Identity when p = 0 or in eval mode.',
    shape: same,
  },
  pool: {
    inputs: ['x', 'lengths?'],
    attrs: ['mode'],
    doc:
      'x [B,S,D] → [B,D]: the first position (`first`), the last (`last`) or the mean over S (`mean`). With the optional ' +
      'lengths i32 [B] (real positions per row), `last` takes position lengths[b]−1 and `mean` averages positions < lengths[b].',
    shape: ([x, len]) => (x!.length === 3 ? (lengthsCheck(x!, len) ?? [x![0]!, x![2]!]) : `pool needs [B, S, D], got ${formatShape(x!)}`),
  },
  cross_entropy: {
    inputs: ['logits', 'targets'],
    attrs: ['ignore_index'],
    doc:
      'logits [..., V], targets i32 [...] → scalar []: mean over positions whose target ≠ ignore_index of ' +
      '−log softmax(logits)[target]; 0 when no position counts.',
    shape: () => [],
  },

  // ------------------------------------------------------------ backward
  linear_grad_weight: {
    inputs: ['x', 'dy'],
    attrs: ['layout'],
    doc: 'Weight gradient of linear, summed over all rows: in_out → xᵀ·dy [in,out]; out_in → dyᵀ·x [out,in].',
    shape: ([x, dy], a) => (a.layout === 'in_out' ? [last(x!), last(dy!)] : [last(dy!), last(x!)]),
  },
  sum_to: {
    inputs: ['x', 'like'],
    attrs: [],
    doc: 'Sums x over its leading dims until its shape equals like\'s (like\'s shape is a suffix of x\'s).',
    shape: ([, like]) => like!,
  },
  layernorm_grad_x: {
    inputs: ['x', 'dy', 'gamma?'],
    attrs: ['eps'],
    doc: 'dL/dx of layernorm (gamma taken as 1 when absent).',
    shape: same,
  },
  layernorm_grad_gamma: {
    inputs: ['x', 'dy'],
    attrs: ['eps'],
    doc: 'Σ_rows dy · x̂ → [D].',
    shape: ([x]) => [last(x!)],
  },
  rmsnorm_grad_x: { inputs: ['x', 'dy', 'gamma'], attrs: ['eps'], doc: 'dL/dx of rmsnorm.', shape: same },
  rmsnorm_grad_gamma: {
    inputs: ['x', 'dy'],
    attrs: ['eps'],
    doc: 'Σ_rows dy · x / sqrt(mean(x²) + eps) → [D].',
    shape: ([x]) => [last(x!)],
  },
  gelu_grad: unaryGrad('dy · gelu\'(x).'),
  relu_grad: unaryGrad('dy · [x > 0].'),
  silu_grad: unaryGrad('dy · (s + x·s·(1 − s)), s = sigmoid(x).'),
  tanh_grad: unaryGrad('dy · (1 − tanh(x)²).'),
  pad: {
    inputs: ['x'],
    attrs: ['axis', 'start', 'total'],
    doc: 'Zeros of size `total` along `axis` with x placed at `start` (the backward of slice).',
    shape: ([x], a) => {
      const out = [...x!];
      out[normAxis(a.axis as number, x!.length)] = a.total as number;
      return out;
    },
  },
  attention_lse: {
    inputs: ['q', 'k', 'lengths?'],
    attrs: ['heads', 'kv_heads', 'causal', 'prefix'],
    doc:
      'The log-sum-exp of each softmax row of attention (same operands, attributes and mask): ' +
      'lse[b,h,i] = log Σ_j exp(q_i·k_j/√hd) over the keys query i of head h sees. → [B,heads,S]. ' +
      'Saved for the backward, which then needs no softmax statistics pass: p_ij = exp(s_ij − lse_i).',
    shape: ([q, , len], a) => lengthsCheck(q!, len) ?? (q!.length === 3 ? [q![0]!, a.heads as Dim, q![1]!] : `q must be [B, S, heads·hd], got ${formatShape(q!)}`),
  },
  attention_grad_q: attentionGrad('dL/dq', 0),
  attention_grad_k: attentionGrad('dL/dk', 1),
  attention_grad_v: attentionGrad('dL/dv', 2),
  embedding_grad: {
    inputs: ['ids', 'dy'],
    attrs: ['rows'],
    doc: 'Scatter-add of dy [..., D] into a [rows, D] zero table at ids (the table gradient).',
    shape: ([, dy], a) => [a.rows as number, last(dy!)],
  },
  soft_embedding_grad: {
    inputs: ['ids', 'dy'],
    attrs: ['offset', 'rows'],
    doc:
      'Scatter-add of the dy [..., D] rows whose id is in [offset, offset+rows) into a [rows, D] zero table at id − offset; ' +
      'other ids are skipped (the table gradient of soft_embedding: offset 0 and N rows, or offset N and V rows).',
    shape: ([, dy], a) => [a.rows as number, last(dy!)],
  },
  pool_grad: {
    inputs: ['dy', 'x', 'lengths?'],
    attrs: ['mode'],
    doc: 'The backward of pool: dy [B,D] spread back to x\'s shape [B,S,D] (lengths as in pool).',
    shape: ([, x, len]) => lengthsCheck(x!, len) ?? x!,
  },
  cross_entropy_grad: {
    inputs: ['logits', 'targets'],
    attrs: ['ignore_index'],
    doc: 'd(cross_entropy)/dlogits = (softmax(logits) − onehot(target)) / count, 0 on ignored positions.',
    shape: ([l]) => l!,
  },

  // ------------------------------------------------------------ several adapters in one batch (gather-ops.ts)
  ...GATHER_OPS,
};

export function opSpec(op: string): OpSpec {
  const s = OPS[op];
  if (!s) throw new Error(`unknown op ${op}`);
  return s;
}
