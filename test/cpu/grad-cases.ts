// Gradient cases: each forward op (or small composition) with its backward written in catalog
// ops, as the autodiff rules will write it. gradients.test.ts checks every case by central
// finite differences in float64; coverage.test.ts checks that together they use every
// backward op of the catalog.
import type { Attrs } from '../../compiler/ir/types.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { ints, randomNormal, randomUniform, type Tensor } from '../../runtime/cpu/tensor.ts';
import { run } from './helpers.ts';
import { gatherCases } from './gather-grad-cases.ts';

export interface GradCase {
  name: string;
  /** Operands: float inputs are Float64Array; integer ones (ids, targets) are not differentiated. */
  inputs: Tensor[];
  /** Indices of the inputs to differentiate. */
  wrt: number[];
  forward(xs: Tensor[]): Tensor;
  /** The gradients of ⟨forward(xs), g⟩ with respect to xs[wrt[0]], xs[wrt[1]], …, in catalog ops. */
  backward(xs: Tensor[], g: Tensor): Tensor[];
}

const rng = new Random(20240611);
const rand = (shape: number[], std = 1) => randomNormal(shape, rng, std);

/** Values bounded away from 0 (for relu's kink). */
function awayFromZero(shape: number[]): Tensor {
  const t = randomUniform(shape, rng, 0.1, 2);
  for (let i = 0; i < t.data.length; i++) if (rng.next() < 0.5) t.data[i] = -t.data[i]!;
  return t;
}

function linearCases(): GradCase[] {
  const out: GradCase[] = [];
  for (const layout of ['in_out', 'out_in'] as const) {
    for (const bias of [true, false]) {
      for (const xShape of [[2, 3, 5], [4, 5]]) {
        const w = layout === 'in_out' ? rand([5, 6]) : rand([6, 5]);
        const inputs = [rand(xShape), w, ...(bias ? [rand([6])] : [])];
        const other = layout === 'in_out' ? 'out_in' : 'in_out';
        out.push({
          name: `linear ${layout} ${bias ? 'with' : 'without'} bias x${JSON.stringify(xShape)}`,
          inputs,
          wrt: bias ? [0, 1, 2] : [0, 1],
          forward: (xs) => run('linear', xs, { layout }),
          backward: ([x, w, b], g) => [
            // dx = dy·Wᵀ: the same weight read in the other layout.
            run('linear', [g, w!], { layout: other }),
            run('linear_grad_weight', [x!, g], { layout }),
            ...(b ? [run('sum_to', [g, b])] : []),
          ],
        });
      }
    }
  }
  return out;
}

function broadcastCases(): GradCase[] {
  const shapes: [number[], number[]][] = [
    [[2, 3, 4], [2, 3, 4]],
    [[2, 3, 4], [3, 4]],
    [[4], [2, 3, 4]],
    [[2, 3], []],
  ];
  const out: GradCase[] = [];
  for (const [sa, sb] of shapes) {
    out.push({
      name: `add ${JSON.stringify(sa)} + ${JSON.stringify(sb)}`,
      inputs: [rand(sa), rand(sb)],
      wrt: [0, 1],
      forward: (xs) => run('add', xs),
      backward: ([a, b], g) => [run('sum_to', [g, a!]), run('sum_to', [g, b!])],
    });
    out.push({
      name: `mul ${JSON.stringify(sa)} * ${JSON.stringify(sb)}`,
      inputs: [rand(sa), rand(sb)],
      wrt: [0, 1],
      forward: (xs) => run('mul', xs),
      backward: ([a, b], g) => [run('sum_to', [run('mul', [g, b!]), a!]), run('sum_to', [run('mul', [g, a!]), b!])],
    });
  }
  out.push({
    name: 'scale',
    inputs: [rand([3, 4])],
    wrt: [0],
    forward: (xs) => run('scale', xs, { factor: -0.75 }),
    backward: (_xs, g) => [run('scale', [g], { factor: -0.75 })],
  });
  return out;
}

function activationCases(): GradCase[] {
  return (['gelu', 'gelu_erf', 'relu', 'silu', 'tanh'] as const).map((op) => ({
    name: op,
    inputs: [op === 'relu' ? awayFromZero([3, 7]) : rand([3, 7], 2)],
    wrt: [0],
    forward: (xs) => run(op, xs),
    backward: ([x], g) => [run(`${op}_grad`, [x!, g])],
  }));
}

function normCases(): GradCase[] {
  const eps = { eps: 1e-5 };
  const D = 6;
  const x = () => rand([2, 3, D]);
  return [
    {
      name: 'layernorm with gamma and beta',
      inputs: [x(), rand([D]), rand([D])],
      wrt: [0, 1, 2],
      forward: (xs) => run('layernorm', xs, eps),
      backward: ([x, gamma, beta], g) => [
        run('layernorm_grad_x', [x!, g, gamma!], eps),
        run('layernorm_grad_gamma', [x!, g], eps),
        run('sum_to', [g, beta!]),
      ],
    },
    {
      name: 'layernorm with gamma only',
      inputs: [x(), rand([D])],
      wrt: [0, 1],
      forward: (xs) => run('layernorm', xs, eps),
      backward: ([x, gamma], g) => [run('layernorm_grad_x', [x!, g, gamma!], eps), run('layernorm_grad_gamma', [x!, g], eps)],
    },
    {
      name: 'layernorm without gamma and beta',
      inputs: [x()],
      wrt: [0],
      forward: (xs) => run('layernorm', xs, eps),
      backward: ([x], g) => [run('layernorm_grad_x', [x!, g], eps)],
    },
    {
      name: 'rmsnorm',
      inputs: [x(), rand([D])],
      wrt: [0, 1],
      forward: (xs) => run('rmsnorm', xs, { eps: 1e-6 }),
      backward: ([x, gamma], g) => [run('rmsnorm_grad_x', [x!, g, gamma!], { eps: 1e-6 }), run('rmsnorm_grad_gamma', [x!, g], { eps: 1e-6 })],
    },
  ];
}

function movementCases(): GradCase[] {
  const out: GradCase[] = [];
  for (const [axis, start, size] of [[1, 1, 3], [-1, 2, 2], [0, 1, 1], [2, 0, 4]] as const) {
    const shape = [2, 5, 4];
    const ax = axis < 0 ? axis + 3 : axis;
    out.push({
      name: `slice axis ${axis} ${start}:${start + size}`,
      inputs: [rand(shape)],
      wrt: [0],
      forward: (xs) => run('slice', xs, { axis, start, size }),
      backward: (_xs, g) => [run('pad', [g], { axis, start, total: shape[ax]! })],
    });
    out.push({
      name: `pad axis ${axis} at ${start}`,
      inputs: [rand(shape.map((d, i) => (i === ax ? size : d)))],
      wrt: [0],
      forward: (xs) => run('pad', xs, { axis, start, total: shape[ax]! }),
      backward: (_xs, g) => [run('slice', [g], { axis, start, size })],
    });
  }
  for (const [axis, sa, sb] of [
    [1, [2, 3, 4], [2, 2, 4]],
    [-1, [2, 3, 4], [2, 3, 1]],
    [0, [1, 3], [2, 3]],
  ] as [number, number[], number[]][]) {
    const ax = axis < 0 ? axis + sa.length : axis;
    out.push({
      name: `concat axis ${axis}`,
      inputs: [rand(sa), rand(sb)],
      wrt: [0, 1],
      forward: (xs) => run('concat', xs, { axis }),
      backward: (_xs, g) => [
        run('slice', [g], { axis, start: 0, size: sa[ax]! }),
        run('slice', [g], { axis, start: sa[ax]!, size: sb[ax]! }),
      ],
    });
  }
  out.push({
    name: 'transpose',
    inputs: [rand([3, 5])],
    wrt: [0],
    forward: (xs) => run('transpose', xs, {}),
    backward: (_xs, g) => [run('transpose', [g], {})],
  });
  out.push({
    name: 'expand_batch',
    inputs: [rand([3, 4]), ints([2, 5], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])],
    wrt: [0],
    forward: (xs) => run('expand_batch', xs),
    backward: ([x], g) => [run('sum_to', [g, x!])],
  });
  return out;
}

function ropeCases(): GradCase[] {
  return [false, true].map((inverse) => {
    const attrs: Attrs = { heads: 2, theta: 10000, inverse };
    return {
      name: `rope${inverse ? ' inverse' : ''}`,
      inputs: [rand([2, 5, 12])],
      wrt: [0],
      forward: (xs) => run('rope', xs, attrs),
      backward: (_xs, g) => [run('rope', [g], { ...attrs, inverse: !inverse })],
    };
  });
}

/** dq, dk, dv as the backward computes them: from the forward's output and attention_lse. */
function attentionGrads([q, k, v]: Tensor[], g: Tensor, a: Attrs, len?: Tensor): Tensor[] {
  const withLen = (xs: Tensor[]) => (len ? [...xs, len] : xs);
  const o = run('attention', withLen([q!, k!, v!]), a);
  const lse = run('attention_lse', withLen([q!, k!]), a);
  return ['q', 'k', 'v'].map((x) => run(`attention_grad_${x}`, withLen([q!, k!, v!, g, o, lse]), a));
}

function attentionCases(): GradCase[] {
  const configs = [
    { heads: 2, kv_heads: 2, causal: true, prefix: 0 },
    { heads: 2, kv_heads: 2, causal: false, prefix: 0 },
    { heads: 2, kv_heads: 2, causal: true, prefix: 2 },
    { heads: 2, kv_heads: 1, causal: false, prefix: 3 },
    { heads: 4, kv_heads: 2, causal: true, prefix: 1 },
    { heads: 4, kv_heads: 1, causal: true, prefix: 0 },
  ];
  return configs.map((a): GradCase => {
    const B = 2, S = 4, hd = 3;
    return {
      name: `attention ${a.causal ? 'causal' : 'bidirectional'} prefix ${a.prefix} heads ${a.heads}→${a.kv_heads}`,
      inputs: [rand([B, S, a.heads * hd]), rand([B, a.prefix + S, a.kv_heads * hd]), rand([B, a.prefix + S, a.kv_heads * hd])],
      wrt: [0, 1, 2],
      forward: (xs) => run('attention', xs, a),
      backward: ([q, k, v], g) => attentionGrads([q!, k!, v!], g, a),
    };
  }).concat(lengthsAttentionCases());
}

/** Non-causal attention with the lengths operand (padding keys masked), with and without prefix keys. */
function lengthsAttentionCases(): GradCase[] {
  const configs = [
    { heads: 2, kv_heads: 2, causal: false, prefix: 0 },
    { heads: 2, kv_heads: 1, causal: false, prefix: 2 },
  ];
  return configs.map((a): GradCase => {
    const B = 3, S = 4, hd = 3;
    const lengths = ints([B], a.prefix ? [4, 1, 0] : [4, 2, 1]);
    return {
      name: `attention bidirectional with lengths prefix ${a.prefix} heads ${a.heads}→${a.kv_heads}`,
      inputs: [rand([B, S, a.heads * hd]), rand([B, a.prefix + S, a.kv_heads * hd]), rand([B, a.prefix + S, a.kv_heads * hd]), lengths],
      wrt: [0, 1, 2],
      forward: (xs) => run('attention', xs, a),
      backward: ([q, k, v, len], g) => attentionGrads([q!, k!, v!], g, a, len),
    };
  });
}

function otherCases(): GradCase[] {
  const out: GradCase[] = [];
  // Dropout is linear in x with a fixed mask (same seed and step): its backward is itself.
  out.push({
    name: 'dropout p = 0.3',
    inputs: [rand([4, 9])],
    wrt: [0],
    forward: (xs) => run('dropout', xs, { p: 0.3, seed: 7 }),
    backward: (_xs, g) => [run('dropout', [g], { p: 0.3, seed: 7 })],
  });
  for (const mode of ['first', 'last', 'mean']) {
    out.push({
      name: `pool ${mode}`,
      inputs: [rand([2, 4, 3])],
      wrt: [0],
      forward: (xs) => run('pool', xs, { mode }),
      backward: ([x], g) => [run('pool_grad', [g, x!], { mode })],
    });
    out.push({
      name: `pool ${mode} with lengths`,
      inputs: [rand([3, 4, 3]), ints([3], [4, 2, 1])],
      wrt: [0],
      forward: (xs) => run('pool', xs, { mode }),
      backward: ([x, len], g) => [run('pool_grad', [g, x!, len!], { mode })],
    });
  }
  out.push({
    name: 'embedding with repeated ids',
    inputs: [rand([7, 4]), ints([2, 5], [3, 1, 3, 0, 6, 6, 6, 2, 3, 1])],
    wrt: [0],
    forward: (xs) => run('embedding', xs),
    backward: ([, ids], g) => [run('embedding_grad', [ids!, g], { rows: 7 })],
  });
  out.push({
    name: 'soft_embedding: vocabulary ids and soft-token ids (≥ 7), repeated',
    inputs: [rand([7, 4]), rand([3, 4]), ints([2, 5], [7, 8, 3, 9, 6, 3, 7, 9, 0, 8])],
    wrt: [0, 1],
    forward: (xs) => run('soft_embedding', xs),
    backward: ([, , ids], g) => [
      run('soft_embedding_grad', [ids!, g], { offset: 0, rows: 7 }),
      run('soft_embedding_grad', [ids!, g], { offset: 7, rows: 3 }),
    ],
  });
  const ce = (name: string, logits: Tensor, targets: Tensor): GradCase => ({
    name,
    inputs: [logits, targets],
    wrt: [0],
    forward: (xs) => run('cross_entropy', xs, { ignore_index: -100 }),
    // The loss is a scalar: its upstream gradient g [] scales the rule's output.
    backward: (xs, g) => [run('mul', [run('cross_entropy_grad', xs, { ignore_index: -100 }), g])],
  });
  out.push(ce('cross_entropy [B,S,V] with ignored positions', rand([2, 4, 6], 2), ints([2, 4], [1, -100, 5, 0, -100, -100, 2, 3])));
  out.push(ce('cross_entropy [B,V] classification', rand([3, 5], 2), ints([3], [4, 0, 2])));
  out.push(ce('cross_entropy with every position ignored', rand([2, 3], 2), ints([2], [-100, -100])));
  return out;
}

/** A small GPT-style attention block: layernorm → fused qkv → rope → attention → out proj + residual. */
function blockCase(): GradCase {
  const B = 2, S = 3, D = 8, H = 2;
  const at = { heads: H, kv_heads: H, causal: true, prefix: 0 };
  const rp = { heads: H, theta: 10000 };
  const sl = (i: number) => ({ axis: -1, start: i * D, size: D });
  return {
    name: 'composite: pre-norm attention block with rope and residual',
    inputs: [rand([B, S, D]), rand([D]), rand([D, 3 * D], 0.5), rand([3 * D]), rand([D, D], 0.5)],
    wrt: [0, 1, 2, 3, 4],
    forward: ([x, gamma, wqkv, bqkv, wo]) => {
      const h = run('layernorm', [x!, gamma!], { eps: 1e-5 });
      const qkv = run('linear', [h, wqkv!, bqkv!], { layout: 'in_out' });
      const q = run('rope', [run('slice', [qkv], sl(0))], { ...rp, inverse: false });
      const k = run('rope', [run('slice', [qkv], sl(1))], { ...rp, inverse: false });
      const v = run('slice', [qkv], sl(2));
      const a = run('attention', [q, k, v], at);
      return run('add', [x!, run('linear', [a, wo!], { layout: 'in_out' })]);
    },
    backward: ([x, gamma, wqkv, bqkv, wo], g) => {
      const h = run('layernorm', [x!, gamma!], { eps: 1e-5 });
      const qkv = run('linear', [h, wqkv!, bqkv!], { layout: 'in_out' });
      const q = run('rope', [run('slice', [qkv], sl(0))], { ...rp, inverse: false });
      const k = run('rope', [run('slice', [qkv], sl(1))], { ...rp, inverse: false });
      const v = run('slice', [qkv], sl(2));
      const a = run('attention', [q, k, v], at);
      const dwo = run('linear_grad_weight', [a, g], { layout: 'in_out' });
      const da = run('linear', [g, wo!], { layout: 'out_in' });
      const [gq, gk, dv] = attentionGrads([q, k, v], da, at) as [Tensor, Tensor, Tensor];
      const dq = run('rope', [gq], { ...rp, inverse: true });
      const dk = run('rope', [gk], { ...rp, inverse: true });
      const pad = (t: Tensor, i: number) => run('pad', [t], { axis: -1, start: i * D, total: 3 * D });
      const dqkv = run('add', [run('add', [pad(dq, 0), pad(dk, 1)]), pad(dv, 2)]);
      const dwqkv = run('linear_grad_weight', [h, dqkv], { layout: 'in_out' });
      const dbqkv = run('sum_to', [dqkv, bqkv!]);
      const dh = run('linear', [dqkv, wqkv!], { layout: 'out_in' });
      const dx = run('add', [g, run('layernorm_grad_x', [x!, dh, gamma!], { eps: 1e-5 })]);
      const dgamma = run('layernorm_grad_gamma', [x!, dh], { eps: 1e-5 });
      return [dx, dgamma, dwqkv, dbqkv, dwo];
    },
  };
}

export const GRAD_CASES: GradCase[] = [
  ...linearCases(),
  ...broadcastCases(),
  ...activationCases(),
  ...normCases(),
  ...movementCases(),
  ...ropeCases(),
  ...attentionCases(),
  ...otherCases(),
  blockCase(),
  ...gatherCases(),
];
