// Gradient rules: one entry per differentiable op of the catalog (compiler/ir/ops.ts),
// written in IR ops. A rule receives the node, its upstream gradient `g` and which
// operands need a gradient, and returns one gradient (or undefined) per operand.
// Only operands that need a gradient get one: a frozen weight never gets a
// linear_grad_weight, which is where parameter-efficient training saves its work.
import type { Attrs, Dim, Node } from '../ir/types.ts';

export interface GradContext {
  /** Emits an op and returns its id. */
  emit(op: string, inputs: number[], attrs?: Attrs): number;
  /** Whether operand i of the current node needs a gradient. */
  need(i: number): boolean;
  shape(id: number): Dim[];
}

export type GradRule = (c: GradContext, n: Node, g: number) => (number | undefined)[];

const flip = (layout: unknown) => (layout === 'in_out' ? 'out_in' : 'in_out');
const when = (c: GradContext, i: number, f: () => number) => (c.need(i) ? f() : undefined);

/** dy reduced to the shape of operand `like` (for broadcasting). */
function reduceTo(c: GradContext, g: number, like: number): number {
  return c.shape(g).length === c.shape(like).length ? g : c.emit('sum_to', [g, like]);
}

const activation = (gradOp: string): GradRule => (c, n, g) => [when(c, 0, () => c.emit(gradOp, [n.inputs[0]!, g]))];

export const GRAD_RULES: Record<string, GradRule> = {
  embedding: (c, n, g) => {
    const [table, ids] = n.inputs as [number, number];
    return [when(c, 0, () => c.emit('embedding_grad', [ids, g], { rows: c.shape(table)[0] as number })), undefined];
  },
  // Each table gets the rows of its own id range (the vocabulary's, or the soft tokens').
  soft_embedding: (c, n, g) => {
    const [table, soft, ids] = n.inputs as [number, number, number];
    const N = c.shape(table)[0] as number;
    return [
      when(c, 0, () => c.emit('soft_embedding_grad', [ids, g], { offset: 0, rows: N })),
      when(c, 1, () => c.emit('soft_embedding_grad', [ids, g], { offset: N, rows: c.shape(soft)[0] as number })),
      undefined,
    ];
  },
  linear: (c, n, g) => {
    const [x, w, b] = n.inputs;
    return [
      when(c, 0, () => c.emit('linear', [g, w!], { layout: flip(n.attrs.layout) })),
      when(c, 1, () => c.emit('linear_grad_weight', [x!, g], { layout: n.attrs.layout as string })),
      b === undefined ? undefined : when(c, 2, () => c.emit('sum_to', [g, b])),
    ];
  },
  add: (c, n, g) => [when(c, 0, () => reduceTo(c, g, n.inputs[0]!)), when(c, 1, () => reduceTo(c, g, n.inputs[1]!))],
  mul: (c, n, g) => {
    const [a, b] = n.inputs as [number, number];
    return [when(c, 0, () => reduceTo(c, c.emit('mul', [g, b]), a)), when(c, 1, () => reduceTo(c, c.emit('mul', [g, a]), b))];
  },
  scale: (c, n, g) => [when(c, 0, () => c.emit('scale', [g], { factor: n.attrs.factor as number }))],
  layernorm: (c, n, g) => {
    const [x, gamma, beta] = n.inputs;
    const eps = { eps: n.attrs.eps as number };
    return [
      when(c, 0, () => c.emit('layernorm_grad_x', gamma === undefined ? [x!, g] : [x!, g, gamma], eps)),
      gamma === undefined ? undefined : when(c, 1, () => c.emit('layernorm_grad_gamma', [x!, g], eps)),
      beta === undefined ? undefined : when(c, 2, () => c.emit('sum_to', [g, beta])),
    ];
  },
  rmsnorm: (c, n, g) => {
    const [x, gamma] = n.inputs as [number, number];
    const eps = { eps: n.attrs.eps as number };
    return [when(c, 0, () => c.emit('rmsnorm_grad_x', [x, g, gamma], eps)), when(c, 1, () => c.emit('rmsnorm_grad_gamma', [x, g], eps))];
  },
  gelu: activation('gelu_grad'),
  relu: activation('relu_grad'),
  silu: activation('silu_grad'),
  tanh: activation('tanh_grad'),
  slice: (c, n, g) => {
    const x = n.inputs[0]!;
    const s = c.shape(x);
    const axis = (n.attrs.axis as number) < 0 ? (n.attrs.axis as number) + s.length : (n.attrs.axis as number);
    return [when(c, 0, () => c.emit('pad', [g], { axis, start: n.attrs.start as number, total: s[axis]! }))];
  },
  concat: (c, n, g) => {
    const [a, b] = n.inputs as [number, number];
    const s = c.shape(a);
    const axis = (n.attrs.axis as number) < 0 ? (n.attrs.axis as number) + s.length : (n.attrs.axis as number);
    const sizeA = s[axis]!;
    if (typeof sizeA !== 'number') throw new Error('concat: the first operand needs a fixed size along the axis');
    return [
      when(c, 0, () => c.emit('slice', [g], { axis, start: 0, size: sizeA })),
      when(c, 1, () => c.emit('slice', [g], { axis, start: sizeA, size: c.shape(b)[axis]! })),
    ];
  },
  rope: (c, n, g) => [when(c, 0, () => c.emit('rope', [g], { ...n.attrs, inverse: !n.attrs.inverse }))],
  // The gradients read the forward's output and the softmax rows' log-sum-exp (attention_lse,
  // which the plan computes in the forward attention's kernel), so they need no statistics pass.
  // The optional lengths operand (i32 [B]) gets no gradient; it comes last in the gradient ops.
  attention: (c, n, g) => {
    const [q, k, v, lengths] = n.inputs as [number, number, number, number | undefined];
    const need = [0, 1, 2].some((i) => c.need(i));
    const lse = need ? c.emit('attention_lse', lengths === undefined ? [q, k] : [q, k, lengths], n.attrs) : -1;
    const ins = [q, k, v, g, n.id, lse, ...(lengths === undefined ? [] : [lengths])];
    return [
      when(c, 0, () => c.emit('attention_grad_q', ins, n.attrs)),
      when(c, 1, () => c.emit('attention_grad_k', ins, n.attrs)),
      when(c, 2, () => c.emit('attention_grad_v', ins, n.attrs)),
      ...(lengths === undefined ? [] : [undefined]),
    ];
  },
  expand_batch: (c, n, g) => [when(c, 0, () => c.emit('sum_to', [g, n.inputs[0]!])), undefined],
  dropout: (c, n, g) => [when(c, 0, () => c.emit('dropout', [g], n.attrs))],
  pool: (c, n, g) => {
    const [x, lengths] = n.inputs as [number, number | undefined];
    const ins = lengths === undefined ? [g, x] : [g, x, lengths];
    return [when(c, 0, () => c.emit('pool_grad', ins, n.attrs)), ...(lengths === undefined ? [] : [undefined])];
  },
  // Stacked adapters, one index per sequence (gather-ops.ts): the same three products as linear,
  // each over the sequences of one slice; the ids get no gradient.
  linear_gather: (c, n, g) => {
    const [x, w, ids, b] = n.inputs as [number, number, number, number | undefined];
    const count = c.shape(w)[0] as number;
    return [
      when(c, 0, () => c.emit('linear_gather', [g, w, ids], { layout: flip(n.attrs.layout) })),
      when(c, 1, () => c.emit('linear_gather_grad_weight', [x, g, ids], { layout: n.attrs.layout as string, count })),
      undefined,
      b === undefined ? undefined : when(c, 3, () => c.emit('linear_gather_grad_bias', [g, ids], { count })),
    ];
  },
  // The loss is the root: its upstream gradient is 1, so `g` is not used.
  cross_entropy: (c, n) => [when(c, 0, () => c.emit('cross_entropy_grad', n.inputs, n.attrs)), undefined],
};

/** Ops with no gradient to propagate (integer outputs, leaves). */
export const NO_GRAD = new Set(['input', 'param', 'positions']);
