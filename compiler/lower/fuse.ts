// Fusion: which IR nodes one kernel dispatch computes. Each fusion is a small pattern over
// the nodes that are executed; a node that must be materialised (logits, loss, a gradient)
// is never absorbed into another kernel. Pure: the result is a list of groups in execution order.
//
//   bias_activation  linear (with or without bias) whose only user is gelu/relu/silu
//                    → one matmul with the activation in its epilogue.
//   scale_alpha      linear without bias whose only user is scale (LoRA's alpha/r)
//                    → one matmul with alpha = factor.
//   accumulate       add(a, b) where b is a linear (or a scale_alpha group) read only by the add
//                    and a an elementwise-equal value computed before it, read only by the add
//                    → the matmul adds into a's memory (C += result), which the add's value is
//                    (LoRA's adds when sum_of_products is off).
//   sum_of_products  add(p, q) where p and q are linears (or scale_alpha groups) of the same shape
//                    read only by the add, q without bias and with no frozen operand
//                    → one matmul computing both products (MatmulSpec.second: q, the smaller K),
//                    placed where the later of the two was (LoRA: base + scale·(x·Aᵀ)·Bᵀ forward,
//                    dy·Wᵀ + (scale·dy·B)·A backward: the base output is written once).
//                    Tried before accumulate, which remains for the other adds.
//   scale_fold       scale whose every reader takes it as a matmul operand (LoRA's backward:
//                    dy·alpha/r feeds both of lora_B's gradient products)
//                    → no kernel; each reader's alpha is multiplied by the factor.
//   cross_entropy    cross_entropy and cross_entropy_grad of the same logits and targets
//                    → one kernel that writes per-row losses and the logits gradient.
//   pad_concat       a tree of adds over pads that tile one axis exactly (the gradient of
//                    slicing q, k and v out of one projection: pad + pad + add + pad + add)
//                    → a chain of concats of the pads' operands (5 dispatches become 2).
//   attention_lse    attention and the attention_lse of the same operands (the backward's)
//                    → one kernel at the attention's place: the online softmax has lse for free.
//   attention_grad_kv  attention_grad_k and attention_grad_v of the same operands, where the
//                    kernel's bindings fit FuseInput.maxBindings (8 by default: 9 with lengths)
//                    → one kernel writing both, each softmax weight computed once.
//
// Epilogues: elementwise readers of a matmul group's value (a linear, a scale_alpha or a
// sum_of_products group, nothing else fused after it) computed by the matmul's kernel
// (MatmulSpec's epilogue fields). Each adds bindings; none applies where the kernel would bind
// more storage buffers than FuseInput.maxBindings.
//   activation_aux   the value has a gelu/relu/silu reader act(value) and other readers too
//                    (training: the activation's gradient reads the pre-activation)
//                    → the matmul writes the value and, as a second output, the activation.
//   activation_grad  the value's only reader is gelu_grad/relu_grad/silu_grad/tanh_grad(pre, value)
//                    (the gradient through an activation: value = dy·Wᵀ), pre already computed
//                    → the matmul multiplies by act'(pre) (an extra input).
//   residual         the value's only reader is add(x, value), or a dropout read only by such an
//                    add, x already computed and elementwise equal (its other readers, like
//                    layernorm's, are why accumulate cannot write into it)
//                    → the matmul writes x + dropout(value) to a new value (dropout's mask drawn
//                    in the epilogue; in evaluation the dropout is the value itself).
//                    Tried after sum_of_products and accumulate.
//   norm_residual    add(layernorm_grad_x(…), g) or add(rmsnorm_grad_x(…), g), the gradient read
//                    only by the add, g already computed and elementwise equal (the residual
//                    stream's gradient) → the gradient kernel adds g to its output.
import type { Graph, Node } from '../ir/types.ts';

export type FusionKind =
  | 'bias_activation'
  | 'scale_alpha'
  | 'cross_entropy'
  | 'pad_concat'
  | 'accumulate'
  | 'scale_fold'
  | 'sum_of_products'
  | 'attention_lse'
  | 'attention_grad_kv'
  | 'activation_aux'
  | 'activation_grad'
  | 'residual'
  | 'norm_residual';
export const FUSION_KINDS: readonly FusionKind[] = [
  'bias_activation',
  'scale_alpha',
  'cross_entropy',
  'pad_concat',
  'accumulate',
  'scale_fold',
  'sum_of_products',
  'attention_lse',
  'attention_grad_kv',
  'activation_aux',
  'activation_grad',
  'residual',
  'norm_residual',
];

/** A matmul group's epilogue: the nodes its kernel computes after the product, and what they read. */
export interface Epilogue {
  kind: 'activation_aux' | 'activation_grad' | 'residual';
  /** activation_aux: the activation; activation_grad: the gradient; residual: the dropout (unless aliased) and the add. */
  nodes: number[];
  /** activation_grad: the pre-activation; residual: the add's other operand. */
  operand?: number;
  /** residual: the dropout node whose mask the epilogue draws (training, p > 0). */
  dropout?: number;
}

export interface Group {
  /** The node whose value the group produces (its `out` binding). */
  output: number;
  /** Every node the group computes, in order (the output last, except for cross_entropy and activation_aux). */
  nodes: number[];
  fusion?: FusionKind;
  /** A second value the kernel writes: cross_entropy's gradient, activation_aux's activation, attention's lse, attention_grad_v. */
  extraOutput?: number;
  /** pad_concat: the pads' operands in order along `axis`, to be concatenated. */
  concat?: { axis: number; parts: number[] };
  /**
   * accumulate (alone or after scale_alpha): the group's last node is an add whose value is the
   * memory of `into`, its other operand; the matmul adds its result there.
   */
  into?: number;
  /**
   * scale_fold: a group that dispatches nothing. Its value is `of`'s times `factor`, and only
   * matmuls read it, each multiplying its alpha by the factor and reading `of` instead.
   */
  fold?: { of: number; factor: number };
  /**
   * sum_of_products: the two matmul groups whose sum (the group's last node, an add) one kernel
   * computes; `second` is the one added as MatmulSpec.second.
   */
  products?: { main: Group; second: Group };
  /** A matmul group's epilogue (activation_aux, activation_grad, residual); `fusion` stays the product's. */
  epilogue?: Epilogue;
  /** norm_residual: the value the norm's gradient kernel adds to its output. */
  addend?: number;
}

export interface FuseInput {
  graph: Graph;
  /** Nodes [0, end) are executed (forwardEnd for a forward-only plan). */
  end: number;
  /** Nodes whose values must exist after the run (logits, loss, gradients). */
  keep: ReadonlySet<number>;
  enabled: ReadonlySet<FusionKind>;
  /** Nodes that are another node's value (dropout in evaluation): not computed at all. */
  alias?: ReadonlyMap<number, number>;
  /** Storage buffers one kernel may bind (maxStorageBuffersPerShaderStage; default 8): caps the epilogues. */
  maxBindings?: number;
}

const ACTIVATIONS = new Set(['gelu', 'gelu_erf', 'relu', 'silu']);
const ACTIVATION_GRADS = new Set(['gelu_grad', 'gelu_erf_grad', 'relu_grad', 'silu_grad', 'tanh_grad']);
const NORM_GRADS = new Set(['layernorm_grad_x', 'rmsnorm_grad_x']);
const MATMULS = new Set(['linear', 'linear_grad_weight']);

const sameShape = (a: Node, b: Node): boolean => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/**
 * Dropout nodes that are the identity (evaluation mode), each mapped to the node whose value it
 * is (chains resolved). A kept node (a gradient, say) is not aliased: it gets a copy kernel.
 */
export function dropoutAliases(nodes: readonly Node[], end: number, keep: ReadonlySet<number>): Map<number, number> {
  const alias = new Map<number, number>();
  for (let id = 0; id < end; id++) {
    const n = nodes[id]!;
    if (n.op !== 'dropout' || keep.has(id)) continue;
    const x = n.inputs[0]!;
    alias.set(id, alias.get(x) ?? x);
  }
  return alias;
}

/** Nodes [0, end) that contribute to a kept node. */
export function liveNodes(nodes: readonly Node[], end: number, keep: ReadonlySet<number>): boolean[] {
  const live = new Array<boolean>(end).fill(false);
  for (const k of keep) if (k < end) live[k] = true;
  for (let id = end - 1; id >= 0; id--) {
    if (live[id]) for (const i of nodes[id]!.inputs) live[i] = true;
  }
  return live;
}

/** The live users of every node (ids, ascending). */
export function usersOf(nodes: readonly Node[], live: readonly boolean[]): number[][] {
  const users: number[][] = live.map(() => []);
  live.forEach((l, id) => {
    if (l) for (const i of nodes[id]!.inputs) users[i]!.push(id);
  });
  return users;
}

const sameOperands = (a: Node, b: Node): boolean => a.inputs.length === b.inputs.length && a.inputs.every((x, i) => x === b.inputs[i]);

const ATTENTION_ATTRS = ['heads', 'kv_heads', 'causal', 'prefix'];
const sameAttention = (a: Node, b: Node): boolean => ATTENTION_ATTRS.every((k) => a.attrs[k] === b.attrs[k]);

/**
 * Fusions of a node with a later node that the same kernel writes (the group's extraOutput):
 * `partner` says which node pairs with `n`, `bindings` how many storage buffers the kernel binds.
 */
const PAIRS: { kind: FusionKind; op: string; partner: (n: Node, m: Node) => boolean; bindings?: (n: Node) => number }[] = [
  // attention_lse reads attention's q, k and lengths (attention: q, k, v, lengths?; lse: q, k, lengths?)
  {
    kind: 'attention_lse',
    op: 'attention',
    partner: (n, m) => m.op === 'attention_lse' && sameAttention(n, m) && m.inputs[0] === n.inputs[0] && m.inputs[1] === n.inputs[1] && m.inputs[2] === n.inputs[3],
  },
  // q, k, v, dy, o, lse, lengths?, dk, dv: one binding more than each gradient alone
  { kind: 'attention_grad_kv', op: 'attention_grad_k', partner: (n, m) => m.op === 'attention_grad_v' && sameAttention(n, m) && sameOperands(n, m), bindings: (n) => n.inputs.length + 2 },
  { kind: 'cross_entropy', op: 'cross_entropy', partner: (n, m) => m.op === 'cross_entropy_grad' && sameOperands(n, m) && n.attrs.ignore_index === m.attrs.ignore_index },
];

/**
 * The add tree rooted at `root` when its leaves are pads (each with a single user, in the tree)
 * of equal shape along one axis whose ranges tile [0, total) exactly: then the sum is the
 * concatenation of the pads' operands. Returns the tree's nodes and the operands in order.
 */
function padTree(nodes: readonly Node[], root: number, soleUser: (id: number) => Node | undefined): { members: number[]; concat: { axis: number; parts: number[] } } | undefined {
  const members: number[] = [];
  const leaves: Node[] = [];
  const walk = (id: number, parent: number | undefined): boolean => {
    const n = nodes[id]!;
    if (parent !== undefined && soleUser(id)?.id !== parent) return false;
    members.push(id);
    if (n.op === 'add') return n.inputs.length === 2 && walk(n.inputs[0]!, id) && walk(n.inputs[1]!, id);
    if (n.op === 'pad') return leaves.push(n) > 0;
    return false;
  };
  if (!walk(root, undefined) || leaves.length < 2) return undefined;
  const { axis, total } = leaves[0]!.attrs;
  const rank = nodes[root]!.shape.length;
  if (leaves.some((l) => l.attrs.axis !== axis || l.attrs.total !== total || l.shape.length !== rank)) return undefined;
  leaves.sort((a, b) => (a.attrs.start as number) - (b.attrs.start as number));
  let at = 0;
  for (const l of leaves) {
    const size = nodes[l.inputs[0]!]!.shape[axis as number];
    if (l.attrs.start !== at || typeof size !== 'number') return undefined;
    at += size;
  }
  if (at !== total) return undefined;
  return { members: members.sort((a, b) => a - b), concat: { axis: axis as number, parts: leaves.map((l) => l.inputs[0]!) } };
}

/** Groups the live compute nodes (not params or inputs) into kernel dispatches. */
export function groupNodes(f: FuseInput): Group[] {
  const nodes = f.graph.nodes;
  const live = liveNodes(nodes, f.end, f.keep);
  const users = usersOf(nodes, live);
  const absorbed = new Set<number>();
  const groups: Group[] = [];
  const soleUser = (id: number): Node | undefined => {
    const u = users[id]!;
    return u.length === 1 && !f.keep.has(id) ? nodes[u[0]!] : undefined;
  };
  // pad_concat trees, largest first (a tree inside a larger one is part of it).
  const trees = new Map<number, { members: number[]; concat: { axis: number; parts: number[] } }>();
  if (f.enabled.has('pad_concat')) {
    for (let id = f.end - 1; id >= 0; id--) {
      if (!live[id] || nodes[id]!.op !== 'add' || absorbed.has(id)) continue;
      const tree = padTree(nodes, id, soleUser);
      if (!tree) continue;
      trees.set(id, tree);
      for (const m of tree.members) absorbed.add(m);
    }
  }
  /** Nodes whose value a group already pushed computes (and values that need no kernel). */
  const computed = new Set<number>();
  const folded = new Set<number>();
  const push = (gr: Group) => {
    groups.push(gr);
    for (const x of gr.nodes) computed.add(x);
  };
  /**
   * accumulate: `sum` = add(a, b), b the value of the matmul group being formed (`members`):
   * the add's other operand when it is already computed, read only by the add, elementwise equal,
   * memory of its own (not a parameter, input or alias) and no operand of the matmul.
   */
  const accumulateInto = (sum: Node | undefined, b: number, members: number[]): number | undefined => {
    if (!sum || sum.op !== 'add' || sum.inputs.length !== 2 || absorbed.has(sum.id) || f.keep.has(sum.id) || !f.enabled.has('accumulate')) return undefined;
    const a = sum.inputs[0] === b ? sum.inputs[1]! : sum.inputs[0]!;
    const an = nodes[a]!;
    if (a === b || !computed.has(a) || folded.has(a) || soleUser(a)?.id !== sum.id || f.alias?.has(a) || an.op === 'param' || an.op === 'input') return undefined;
    if (!sameShape(an, sum) || !sameShape(nodes[b]!, sum) || an.dtype !== sum.dtype) return undefined;
    if (members.some((m) => nodes[m]!.inputs.includes(a))) return undefined;
    return a;
  };
  const frozen = new Set(f.graph.params.filter((p) => p.partition === 'frozen').map((p) => p.path));
  const isFrozen = (id: number): boolean => nodes[id]!.op === 'param' && frozen.has(nodes[id]!.attrs.path as string);
  /** A group that is one linear, or a linear and its scale (scale_alpha), and nothing more. */
  const plainMatmul = (gr: Group): boolean =>
    nodes[gr.nodes[0]!]!.op === 'linear' && (gr.fusion === undefined || gr.fusion === 'scale_alpha') && gr.into === undefined && !gr.products && !gr.epilogue;
  /** Its reduction length: the last dimension of the linear's input, when known. */
  const depth = (gr: Group): number | undefined => {
    const d = nodes[nodes[gr.nodes[0]!]!.inputs[0]!]!.shape.at(-1);
    return typeof d === 'number' ? d : undefined;
  };
  const canBeSecond = (gr: Group): boolean => {
    const head = nodes[gr.nodes[0]!]!;
    return head.inputs.length === 2 && !head.inputs.some(isFrozen) && depth(gr) !== undefined;
  };
  /**
   * sum_of_products: `gr` (a matmul group being formed) and an earlier one, both read only by
   * `sum`: the earlier one is taken back out of `groups`, and the group of both returned.
   */
  const sumOfProducts = (sum: Node | undefined, gr: Group): Group | undefined => {
    if (!sum || sum.op !== 'add' || sum.inputs.length !== 2 || absorbed.has(sum.id) || f.keep.has(sum.id) || !f.enabled.has('sum_of_products')) return undefined;
    if (!plainMatmul(gr)) return undefined;
    const other = sum.inputs[0] === gr.output ? sum.inputs[1]! : sum.inputs[0]!;
    if (other === gr.output || soleUser(other)?.id !== sum.id) return undefined;
    const j = groups.findIndex((g) => g.output === other);
    const earlier = groups[j];
    if (!earlier || !plainMatmul(earlier)) return undefined;
    if (!sameShape(nodes[other]!, sum) || !sameShape(nodes[gr.output]!, sum)) return undefined;
    // The second product is the shallower one (LoRA's rank): its loop reads scalars.
    const [main, second] = canBeSecond(gr) && (!canBeSecond(earlier) || depth(gr)! <= depth(earlier)!) ? [earlier, gr] : [gr, earlier];
    if (!canBeSecond(second)) return undefined;
    groups.splice(j, 1);
    absorbed.add(sum.id);
    return { output: sum.id, nodes: [...main.nodes, ...second.nodes, sum.id], fusion: 'sum_of_products', products: { main, second } };
  };
  const maxBindings = f.maxBindings ?? 8;
  /** Storage buffers a matmul group's kernel binds before any epilogue: A, B, bias, a second product's A and B, C. */
  const matmulBindings = (gr: Group): number => {
    const inputs = (g: Group) => nodes[g.nodes[0]!]!.inputs.length;
    return (gr.products ? inputs(gr.products.main) + 2 : inputs(gr)) + 1;
  };
  /** An epilogue's extra operand: computed already, with memory of its own (not a folded scale), elementwise equal to `like`. */
  const extraOperand = (id: number, like: Node): boolean => computed.has(id) && !folded.has(id) && sameShape(nodes[id]!, like) && nodes[id]!.dtype === 'f32';
  /** The epilogue of a matmul group whose value `v` has the readers the kernel can compute, with `room` bindings to spare. */
  const epilogueOf = (gr: Group): Epilogue | undefined => {
    const v = gr.output;
    const value = nodes[v]!;
    const room = maxBindings - matmulBindings(gr);
    const u = soleUser(v);
    const fresh = (n: Node | undefined): n is Node => !!n && !absorbed.has(n.id);
    if (fresh(u) && ACTIVATION_GRADS.has(u.op) && f.enabled.has('activation_grad') && room >= 1) {
      const [pre, dy] = u.inputs as [number, number];
      if (dy === v && pre !== v && sameShape(value, u) && extraOperand(pre, u)) return { kind: 'activation_grad', nodes: [u.id], operand: pre };
    }
    if (fresh(u) && f.enabled.has('residual')) {
      // add(x, value), or add(x, dropout(value)): a dropout in training draws its mask in the
      // epilogue; in evaluation it is the value itself (an alias, computed by nobody).
      const drop = u.op === 'dropout' && u.inputs[0] === v ? u : undefined;
      const sum = drop ? soleUser(drop.id) : u;
      const masked = drop && !f.alias?.has(drop.id) && typeof drop.attrs.p === 'number' && drop.attrs.p > 0;
      if (fresh(sum) && sum.op === 'add' && sum.inputs.length === 2 && room >= (masked ? 2 : 1)) {
        const addend = drop ?? value;
        const x = sum.inputs[0] === addend.id ? sum.inputs[1]! : sum.inputs[0]!;
        if (x !== addend.id && sameShape(addend, sum) && sameShape(value, sum) && extraOperand(x, sum)) {
          const through = drop && !f.alias?.has(drop.id) ? [drop.id] : [];
          return { kind: 'residual', nodes: [...through, sum.id], operand: x, ...(masked ? { dropout: drop.id } : {}) };
        }
      }
    }
    const readers = users[v]!;
    if (readers.length >= 2 && f.enabled.has('activation_aux') && room >= 1) {
      const act = readers.map((r) => nodes[r]!).find((r) => ACTIVATIONS.has(r.op) && r.inputs[0] === v && !absorbed.has(r.id));
      if (act) return { kind: 'activation_aux', nodes: [act.id] };
    }
    return undefined;
  };
  /** Pushes a matmul group with what follows it fused: an add (accumulate), or an epilogue. */
  const withEpilogue = (gr: Group) => {
    const ep = epilogueOf(gr);
    if (!ep) return push(gr);
    for (const n of ep.nodes) absorbed.add(n);
    if (ep.kind === 'activation_aux') return push({ ...gr, nodes: [...gr.nodes, ...ep.nodes], extraOutput: ep.nodes[0]!, epilogue: ep });
    push({ ...gr, output: ep.nodes.at(-1)!, nodes: [...gr.nodes, ...ep.nodes], epilogue: ep });
  };
  const matmulGroup = (gr: Group) => {
    const sum = sumOfProducts(soleUser(gr.output), gr);
    if (sum) return withEpilogue(sum);
    const into = accumulateInto(soleUser(gr.output), gr.output, gr.nodes);
    if (into === undefined) return withEpilogue(gr);
    const add = soleUser(gr.output)!.id;
    absorbed.add(add);
    push({ ...gr, output: add, nodes: [...gr.nodes, add], into });
  };
  /** norm_residual: the norm gradient `n` read only by an add whose other operand is computed. */
  const normResidual = (n: Node): number | undefined => {
    const sum = soleUser(n.id);
    if (!sum || sum.op !== 'add' || sum.inputs.length !== 2 || absorbed.has(sum.id) || !f.enabled.has('norm_residual')) return undefined;
    const g = sum.inputs[0] === n.id ? sum.inputs[1]! : sum.inputs[0]!;
    if (g === n.id || !sameShape(n, sum) || !extraOperand(g, sum) || n.inputs.length + 2 > maxBindings) return undefined;
    return g;
  };
  for (let id = 0; id < f.end; id++) {
    const n = nodes[id]!;
    const tree = trees.get(id);
    if (tree) {
      push({ output: id, nodes: tree.members, fusion: 'pad_concat', concat: tree.concat });
      continue;
    }
    if (!live[id] || absorbed.has(id) || n.op === 'param' || n.op === 'input' || f.alias?.has(id)) {
      if (live[id] && (n.op === 'param' || n.op === 'input' || f.alias?.has(id))) computed.add(id);
      continue;
    }
    if (n.op === 'linear') {
      const u = soleUser(id);
      if (u && ACTIVATIONS.has(u.op) && f.enabled.has('bias_activation')) {
        absorbed.add(u.id);
        push({ output: u.id, nodes: [id, u.id], fusion: 'bias_activation' });
        continue;
      }
      if (u && u.op === 'scale' && n.inputs.length === 2 && f.enabled.has('scale_alpha')) {
        absorbed.add(u.id);
        matmulGroup({ output: u.id, nodes: [id, u.id], fusion: 'scale_alpha' });
        continue;
      }
      matmulGroup({ output: id, nodes: [id] });
      continue;
    }
    if (n.op === 'scale' && typeof n.attrs.factor === 'number' && f.enabled.has('scale_fold') && !f.keep.has(id)) {
      const readers = users[id]!.map((u) => nodes[u]!);
      if (readers.length > 0 && readers.every((r) => MATMULS.has(r.op) && r.inputs.indexOf(id) < 2 && r.inputs.lastIndexOf(id) < 2)) {
        push({ output: id, nodes: [id], fusion: 'scale_fold', fold: { of: n.inputs[0]!, factor: n.attrs.factor } });
        folded.add(id);
        continue;
      }
    }
    // The first live match after the node: the backward's lse, grad_v right after grad_k, the loss's gradient.
    const pair = PAIRS.find((p) => p.op === n.op && f.enabled.has(p.kind) && (p.bindings?.(n) ?? 0) <= maxBindings);
    const partner = pair && nodes.slice(id + 1, f.end).find((m) => live[m.id] && !absorbed.has(m.id) && pair.partner(n, m));
    if (partner) {
      absorbed.add(partner.id);
      push({ output: id, nodes: [id, partner.id], fusion: pair.kind, extraOutput: partner.id });
      continue;
    }
    if (NORM_GRADS.has(n.op)) {
      const addend = normResidual(n);
      if (addend !== undefined) {
        const sum = soleUser(id)!.id;
        absorbed.add(sum);
        push({ output: sum, nodes: [id, sum], fusion: 'norm_residual', addend });
        continue;
      }
    }
    push({ output: id, nodes: [id] });
  }
  return groups;
}
