// Gradient rules: one entry per forward op of the catalog (compiler/ir/ops.ts), written in IR
// ops: a rule, or an explicit "no gradient" with its reason. The table is typed by the catalog,
// so a forward op without an entry is a type error, and each rule reads its node's attributes
// as the catalog types them (the verifier has checked them). A rule receives the node, its
// upstream gradient `g` and which operands need a gradient, and returns one gradient (or
// undefined) per operand. Only operands that need a gradient get one: a frozen weight never gets
// a linear_grad_weight, which is where parameter-efficient training saves its work.
import { opsWithRole, type ForwardOp, type Layout, type OpAttrs, type OpName, type OpNode } from '../ir/ops.ts';
import type { Dim, Node } from '../ir/types.ts';

/** The attributes argument of emitting op K: optional when K has no required attribute. */
type AttrArgs<K extends OpName> = {} extends OpAttrs<K> ? [attrs?: OpAttrs<K>] : [attrs: OpAttrs<K>];

export interface GradContext {
  /** Emits an op and returns its id. */
  emit<K extends OpName>(op: K, inputs: number[], ...attrs: AttrArgs<K>): number;
  /** Whether operand i of the current node needs a gradient. */
  need(i: number): boolean;
  shape(id: number): Dim[];
}

export type GradRule<K extends ForwardOp> = (c: GradContext, n: OpNode<K>, g: number) => (number | undefined)[];

/** A forward op whose output carries no gradient to its operands, and why. */
export interface NoGradient {
  none: string;
}

const flip = (layout: Layout): Layout => (layout === 'in_out' ? 'out_in' : 'in_out');
const when = (c: GradContext, i: number, f: () => number) => (c.need(i) ? f() : undefined);
const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** dy reduced to the shape of operand `like` (for broadcasting). */
function reduceTo(c: GradContext, g: number, like: number): number {
  return c.shape(g).length === c.shape(like).length ? g : c.emit('sum_to', [g, like]);
}

/** Dimension `axis` of node `id`, which the rule needs as a fixed size (a table's rows, a stack's count). */
function fixed(c: GradContext, id: number, axis: number, what: string): number {
  const d = c.shape(id)[axis];
  if (typeof d !== 'number') throw new Error(`autodiff: ${what} needs a fixed size along axis ${axis}, got ${String(d)}`);
  return d;
}

const activation =
  (gradOp: 'gelu_grad' | 'gelu_erf_grad' | 'relu_grad' | 'silu_grad' | 'tanh_grad') =>
  (c: GradContext, n: { inputs: number[] }, g: number) => [when(c, 0, () => c.emit(gradOp, [n.inputs[0]!, g]))];

export const GRAD_RULES: { [K in ForwardOp]: GradRule<K> | NoGradient } = {
  embedding: (c, n, g) => {
    const [table, ids] = n.inputs as [number, number];
    return [when(c, 0, () => c.emit('embedding_grad', [ids, g], { rows: fixed(c, table, 0, 'embedding') })), undefined];
  },
  // Each table gets the rows of its own id range (the vocabulary's, or the soft tokens').
  soft_embedding: (c, n, g) => {
    const [table, soft, ids] = n.inputs as [number, number, number];
    const N = fixed(c, table, 0, 'soft_embedding');
    return [
      when(c, 0, () => c.emit('soft_embedding_grad', [ids, g], { offset: 0, rows: N })),
      when(c, 1, () => c.emit('soft_embedding_grad', [ids, g], { offset: N, rows: fixed(c, soft, 0, 'soft_embedding') })),
      undefined,
    ];
  },
  linear: (c, n, g) => {
    const [x, w, b] = n.inputs;
    return [
      when(c, 0, () => c.emit('linear', [g, w!], { layout: flip(n.attrs.layout) })),
      when(c, 1, () => c.emit('linear_grad_weight', [x!, g], { layout: n.attrs.layout })),
      b === undefined ? undefined : when(c, 2, () => c.emit('sum_to', [g, b])),
    ];
  },
  add: (c, n, g) => [when(c, 0, () => reduceTo(c, g, n.inputs[0]!)), when(c, 1, () => reduceTo(c, g, n.inputs[1]!))],
  mul: (c, n, g) => {
    const [a, b] = n.inputs as [number, number];
    return [when(c, 0, () => reduceTo(c, c.emit('mul', [g, b]), a)), when(c, 1, () => reduceTo(c, c.emit('mul', [g, a]), b))];
  },
  scale: (c, n, g) => [when(c, 0, () => c.emit('scale', [g], { factor: n.attrs.factor }))],
  layernorm: (c, n, g) => {
    const [x, gamma, beta] = n.inputs;
    const eps = { eps: n.attrs.eps };
    return [
      when(c, 0, () => c.emit('layernorm_grad_x', gamma === undefined ? [x!, g] : [x!, g, gamma], eps)),
      gamma === undefined ? undefined : when(c, 1, () => c.emit('layernorm_grad_gamma', [x!, g], eps)),
      beta === undefined ? undefined : when(c, 2, () => c.emit('sum_to', [g, beta])),
    ];
  },
  rmsnorm: (c, n, g) => {
    const [x, gamma] = n.inputs as [number, number];
    const eps = { eps: n.attrs.eps };
    return [when(c, 0, () => c.emit('rmsnorm_grad_x', [x, g, gamma], eps)), when(c, 1, () => c.emit('rmsnorm_grad_gamma', [x, g], eps))];
  },
  gelu: activation('gelu_grad'),
  gelu_erf: activation('gelu_erf_grad'),
  relu: activation('relu_grad'),
  silu: activation('silu_grad'),
  tanh: activation('tanh_grad'),
  slice: (c, n, g) => {
    const x = n.inputs[0]!;
    const s = c.shape(x);
    const axis = axisOf(n.attrs.axis, s.length);
    return [when(c, 0, () => c.emit('pad', [g], { axis, start: n.attrs.start, total: s[axis]! }))];
  },
  transpose: (c, n, g) => [when(c, 0, () => c.emit('transpose', [g], {}))],
  concat: (c, n, g) => {
    const [a, b] = n.inputs as [number, number];
    const axis = axisOf(n.attrs.axis, c.shape(a).length);
    const sizeA = fixed(c, a, axis, 'concat (its first operand)');
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
    const count = fixed(c, w, 0, 'linear_gather (the stacked weight)');
    return [
      when(c, 0, () => c.emit('linear_gather', [g, w, ids], { layout: flip(n.attrs.layout) })),
      when(c, 1, () => c.emit('linear_gather_grad_weight', [x, g, ids], { layout: n.attrs.layout, count })),
      undefined,
      b === undefined ? undefined : when(c, 3, () => c.emit('linear_gather_grad_bias', [g, ids], { count })),
    ];
  },
  positions: { none: 'its output is integer positions' },
  inv_row_norm: { none: "DoRA's weight norm is a constant of the backward pass (PEFT detaches it)" },
  // The loss is the root: its upstream gradient is 1, so `g` is not used.
  cross_entropy: (c, n) => [when(c, 0, () => c.emit('cross_entropy_grad', n.inputs, n.attrs)), undefined],
};

const hasRule = (op: string): op is ForwardOp => Object.hasOwn(GRAD_RULES, op) && typeof GRAD_RULES[op as ForwardOp] === 'function';

/** Ops with no gradient to propagate: the leaves, and the forward ops whose entry says so. */
export const NO_GRAD: ReadonlySet<string> = new Set([...opsWithRole('leaf'), ...opsWithRole('forward').filter((op) => !hasRule(op))]);

type NodeRule = (c: GradContext, n: Node, g: number) => (number | undefined)[];

/** The gradient rule of op `op`, undefined when it has none (a leaf, or an entry that says so). */
export function gradRule(op: string): NodeRule | undefined {
  // A verified graph's node of op K holds OpAttrs<K>: the verifier checked them against the catalog.
  return hasRule(op) ? (GRAD_RULES[op] as NodeRule) : undefined;
}
