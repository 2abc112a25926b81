// Reverse-mode autodiff over the Model IR, pruned to the trainable partition.
// A node gets a gradient only if it depends on a trainable parameter and the loss
// depends on it; a rule emits gradients only for operands that need one. Hence:
// frozen weights get no weight-gradient ops, layers below the lowest trainable
// parameter get no backward at all, and prompt tuning differentiates activations
// through every layer but no frozen weight.
import { opSpec } from '../ir/ops.ts';
import type { Attrs, Graph, Node } from '../ir/types.ts';
import { RECOMPUTED, blocksOf, recomputeSets, type RecomputeMode } from './recompute.ts';
import { gradRule, NO_GRAD, type GradContext } from './rules.ts';

export interface OptimizerConfig {
  kind: 'adamw' | 'sgd';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Momentum for SGD (0: plain SGD). */
  momentum: number;
  /** Clip gradients to this global L2 norm; 0 disables clipping. */
  clipNorm: number;
}

export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  kind: 'adamw',
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  momentum: 0,
  clipNorm: 1.0,
};

export interface TrainingGraph {
  /** Forward nodes, then backward nodes, in one list (same id rules as the Model IR). */
  graph: Graph;
  /** Nodes [0, forwardEnd) are the forward pass. */
  forwardEnd: number;
  /** The gradient node of every trainable parameter the loss depends on. */
  grads: { path: string; node: number }[];
  optimizer: OptimizerConfig;
}

/**
 * A term a fine-tuning method adds to the gradients after the backward pass (AdaLoRA's
 * orthogonality regulariser, compiler/peft/orthogonality.ts): the training graph with nodes
 * appended and `grads` pointing at the regularised gradients. The autodiff knows no method;
 * compiler/training.ts passes each method's regulariser in.
 */
export type Regulariser = (t: TrainingGraph) => TrainingGraph;

/**
 * The Training IR of `model`: its backward pass pruned to the trainable partition, then
 * `regularisers` in order. With `recompute` = `blocks`, each repeated block's forward values its
 * gradients read are recomputed from the block's input when the backward pass reaches the block
 * (recompute.ts), so the forward pass need keep only the blocks' inputs.
 */
export function differentiate(
  model: Graph,
  optimizer: OptimizerConfig = DEFAULT_OPTIMIZER,
  regularisers: readonly Regulariser[] = [],
  recompute: RecomputeMode = 'none',
): TrainingGraph {
  let t: TrainingGraph;
  if (recompute === 'blocks') {
    const block = blocksOf(model.nodes, model.nodes.length);
    const reads = new Set<number>();
    backwardPass(model, optimizer, { block, reads });
    t = backwardPass(model, optimizer, { block, sets: recomputeSets(model.nodes, block, reads) });
  } else {
    t = backwardPass(model, optimizer);
  }
  return regularisers.reduce((acc, regularise) => regularise(acc), t);
}

/**
 * How one backward pass treats the repeated blocks: `reads` collects the forward values each
 * block's own gradient rules read; `sets` (from those) says what each block recomputes.
 */
interface BlockPass {
  block: readonly (string | undefined)[];
  reads?: Set<number>;
  sets?: ReadonlyMap<string, number[]>;
}

function backwardPass(model: Graph, optimizer: OptimizerConfig, blocks?: BlockPass): TrainingGraph {
  const nodes: Node[] = model.nodes.map((n) => ({ ...n, inputs: [...n.inputs], attrs: { ...n.attrs } }));
  const graph: Graph = { ...model, nodes, params: model.params };
  const trainable = new Set(model.params.filter((p) => p.partition === 'trainable').map((p) => p.path));
  const needs = dependsOnTrainable(nodes, trainable);
  const live = ancestors(nodes, model.outputs.loss);
  const wants = (id: number) => needs[id]! && live[id]!;
  const forwardEnd = nodes.length;
  const grad = new Map<number, number>();
  /** Recomputed copies of forward nodes, and the blocks already recomputed. */
  const copy = new Map<number, number>();
  const recomputed = new Set<string>();
  let scope = '';
  let ruleBlock: string | undefined;

  const emit = (op: string, inputs: number[], attrs: Attrs = {}): number => {
    const shape = opSpec(op).shape(inputs.map((i) => nodes[i]!.shape), attrs);
    if (typeof shape === 'string') throw new Error(`autodiff: ${op}: ${shape}`);
    const id = nodes.length;
    nodes.push({ id, op, inputs, attrs, shape, dtype: 'f32', scope });
    if (blocks?.reads && ruleBlock !== undefined) for (const i of inputs) if (i < forwardEnd && blocks.block[i] === ruleBlock) blocks.reads.add(i);
    return id;
  };
  const accumulate = (target: number, g: number) => {
    const prev = grad.get(target);
    grad.set(target, prev === undefined ? g : emit('add', [prev, g]));
  };
  /** The block's forward values its gradients read, computed again from the block's input. */
  const recompute = (b: string) => {
    recomputed.add(b);
    for (const id of blocks?.sets?.get(b) ?? []) {
      const n = nodes[id]!;
      const c = nodes.length;
      nodes.push({ ...n, id: c, inputs: n.inputs.map((i) => copy.get(i) ?? i), attrs: { ...n.attrs }, scope: `${n.scope} ${RECOMPUTED}`.trimStart() });
      copy.set(id, c);
    }
  };
  const remap = (i: number) => copy.get(i) ?? i;

  const loss = model.outputs.loss;
  if (wants(loss)) grad.set(loss, loss); // seed: the loss rule ignores its upstream gradient (1)
  for (let id = loss; id >= 0; id--) {
    const n = nodes[id]!;
    const g = grad.get(id);
    if (g === undefined || NO_GRAD.has(n.op)) continue;
    const rule = gradRule(n.op);
    if (!rule) throw new Error(`autodiff: no gradient rule for ${n.op}`);
    ruleBlock = blocks?.block[id];
    if (ruleBlock !== undefined && blocks?.sets && !recomputed.has(ruleBlock)) recompute(ruleBlock);
    scope = `${n.scope ? n.scope + ' ' : ''}∂${n.op}`;
    const ctx: GradContext = { emit, need: (i) => wants(n.inputs[i]!), shape: (x) => nodes[x]!.shape };
    // The rule reads the recomputed values (its own output included) where there are copies.
    const view = copy.size ? { ...n, id: remap(n.id), inputs: n.inputs.map(remap) } : n;
    rule(ctx, view, g).forEach((gi, i) => {
      if (gi !== undefined) accumulate(n.inputs[i]!, gi);
    });
  }
  const grads = nodes
    .filter((n) => n.op === 'param' && trainable.has(n.attrs.path as string) && grad.has(n.id))
    .map((n) => ({ path: n.attrs.path as string, node: grad.get(n.id)! }));
  return { graph, forwardEnd, grads, optimizer };
}

function dependsOnTrainable(nodes: Node[], trainable: Set<string>): boolean[] {
  const needs = new Array<boolean>(nodes.length).fill(false);
  for (const n of nodes) {
    needs[n.id] = n.op === 'param' ? trainable.has(n.attrs.path as string) : !NO_GRAD.has(n.op) && n.inputs.some((i) => needs[i]);
  }
  return needs;
}

function ancestors(nodes: Node[], root: number): boolean[] {
  const live = new Array<boolean>(nodes.length).fill(false);
  live[root] = true;
  for (let id = root; id >= 0; id--) {
    if (live[id]) for (const i of nodes[id]!.inputs) live[i] = true;
  }
  return live;
}

/** Backward ops by op name, for tests and `--emit train-ir` summaries. */
export function backwardOpCounts(t: TrainingGraph): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of t.graph.nodes.slice(t.forwardEnd)) counts[n.op] = (counts[n.op] ?? 0) + 1;
  return counts;
}
