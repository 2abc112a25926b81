// AdaLoRA's orthogonality regulariser, LoRA's `regularise` plug-in (plugins.ts): the autodiff
// runs it after the backward pass (autodiff/backward.ts takes regularisers as input).
import type { Regulariser, TrainingGraph } from '../autodiff/backward.ts';
import { opSpec } from '../ir/ops.ts';
import type { Attrs, Node } from '../ir/types.ts';
import { rankedModules } from './ranked-modules.ts';

/**
 * The orthogonality regulariser of AdaLoRA, γ·(‖AAᵀ − I‖²_F + ‖BᵀB − I‖²_F) per module, as the
 * terms it adds to the gradients of A and B (the logged loss stays the task's loss):
 *   ∂/∂A = 4γ·(AAᵀA − A),   ∂/∂B = 4γ·(BBᵀB − B),
 * written in catalog ops (linear, linear_grad_weight, scale, add) after the backward pass.
 */
export const orthogonalityGradients: Regulariser = (t: TrainingGraph): TrainingGraph => {
  const mods = rankedModules(t.graph).filter((m) => m.mode === 'auto' && (m.settings.orth as number) > 0);
  if (!mods.length) return t;
  const nodes = t.graph.nodes;
  const paramNode = new Map<string, number>();
  for (const n of nodes) if (n.op === 'param') paramNode.set(n.attrs.path as string, n.id);
  let scope = '';
  const emit = (op: string, inputs: number[], attrs: Attrs = {}): number => {
    const shape = opSpec(op).shape(inputs.map((i) => nodes[i]!.shape), attrs);
    if (typeof shape === 'string') throw new Error(`orthogonality regulariser: ${op}: ${shape}`);
    const id = nodes.length;
    const n: Node = { id, op, inputs, attrs, shape, dtype: 'f32', scope };
    nodes.push(n);
    return id;
  };
  const grads = t.grads.map((g) => ({ ...g }));
  for (const m of mods) {
    const gamma = m.settings.orth as number;
    for (const [path, side] of [[m.A, 'A'], [m.B, 'B']] as const) {
      const entry = grads.find((g) => g.path === path);
      const w = paramNode.get(path);
      if (!entry || w === undefined) continue;
      scope = `${m.module} ∂orthogonality`;
      // A [r, in]: G = A·Aᵀ [r, r], then G·A.   B [out, r]: G = Bᵀ·B [r, r], then B·G.
      const gram = side === 'A' ? emit('linear', [w, w], { layout: 'out_in' }) : emit('linear_grad_weight', [w, w], { layout: 'in_out' });
      const prod = side === 'A' ? emit('linear', [gram, w], { layout: 'in_out' }) : emit('linear', [w, gram], { layout: 'in_out' });
      const reg = emit('add', [emit('scale', [prod], { factor: 4 * gamma }), emit('scale', [w], { factor: -4 * gamma })]);
      entry.node = emit('add', [entry.node, reg]);
    }
  }
  return { ...t, grads };
};
