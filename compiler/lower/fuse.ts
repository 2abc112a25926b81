// Fusion: which IR nodes one kernel dispatch computes. Each fusion is a small pattern over
// the nodes that are executed; a node that must be materialised (logits, loss, a gradient)
// is never absorbed into another kernel. Pure: the result is a list of groups in execution order.
//
//   bias_activation  linear (with or without bias) whose only user is gelu/relu/silu
//                    → one matmul with the activation in its epilogue.
//   scale_alpha      linear without bias whose only user is scale (LoRA's alpha/r)
//                    → one matmul with alpha = factor.
//   cross_entropy    cross_entropy and cross_entropy_grad of the same logits and targets
//                    → one kernel that writes per-row losses and the logits gradient.
//   pad_concat       a tree of adds over pads that tile one axis exactly (the gradient of
//                    slicing q, k and v out of one projection: pad + pad + add + pad + add)
//                    → a chain of concats of the pads' operands (5 dispatches become 2).
import type { Graph, Node } from '../ir/types.ts';

export type FusionKind = 'bias_activation' | 'scale_alpha' | 'cross_entropy' | 'pad_concat';
export const FUSION_KINDS: readonly FusionKind[] = ['bias_activation', 'scale_alpha', 'cross_entropy', 'pad_concat'];

export interface Group {
  /** The node whose value the group produces (its `out` binding). */
  output: number;
  /** Every node the group computes, in order (the output last, except for cross_entropy). */
  nodes: number[];
  fusion?: FusionKind;
  /** cross_entropy: the gradient node, written by the same kernel. */
  extraOutput?: number;
  /** pad_concat: the pads' operands in order along `axis`, to be concatenated. */
  concat?: { axis: number; parts: number[] };
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
}

const ACTIVATIONS = new Set(['gelu', 'relu', 'silu']);

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

const sameInputs = (a: Node, b: Node): boolean =>
  a.inputs.length === b.inputs.length && a.inputs.every((x, i) => x === b.inputs[i]) && a.attrs.ignore_index === b.attrs.ignore_index;

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
  for (let id = 0; id < f.end; id++) {
    const n = nodes[id]!;
    const tree = trees.get(id);
    if (tree) {
      groups.push({ output: id, nodes: tree.members, fusion: 'pad_concat', concat: tree.concat });
      continue;
    }
    if (!live[id] || absorbed.has(id) || n.op === 'param' || n.op === 'input' || f.alias?.has(id)) continue;
    if (n.op === 'linear') {
      const u = soleUser(id);
      if (u && ACTIVATIONS.has(u.op) && f.enabled.has('bias_activation')) {
        absorbed.add(u.id);
        groups.push({ output: u.id, nodes: [id, u.id], fusion: 'bias_activation' });
        continue;
      }
      if (u && u.op === 'scale' && n.inputs.length === 2 && f.enabled.has('scale_alpha')) {
        absorbed.add(u.id);
        groups.push({ output: u.id, nodes: [id, u.id], fusion: 'scale_alpha' });
        continue;
      }
    }
    if (n.op === 'cross_entropy' && f.enabled.has('cross_entropy')) {
      const grad = nodes.slice(id + 1, f.end).find((m) => live[m.id] && m.op === 'cross_entropy_grad' && sameInputs(m, n));
      if (grad) {
        absorbed.add(grad.id);
        groups.push({ output: id, nodes: [id, grad.id], fusion: 'cross_entropy', extraOutput: grad.id });
        continue;
      }
    }
    groups.push({ output: id, nodes: [id] });
  }
  return groups;
}
