// DyLoRA's `update = sampled` (Valipour et al. 2023, the lower ranks frozen): the step that draws
// rank b trains only the b-th row of A and the b-th column of B. The forward pass still uses the
// first b ranks (ranked-lora.ts); this pass multiplies the gradients by the module's
// `rank_update.<module>` input, one at b − 1 and zero elsewhere, so the other rows and columns get
// no gradient (and take no part in clipping). The runtime keeps their optimizer state as it was
// (runtime/rank-controller.ts), since AdamW would otherwise move them on their moments.
import type { Regulariser, TrainingGraph } from '../autodiff/backward.ts';
import { opSpec } from '../ir/ops.ts';
import type { Attrs, Node } from '../ir/types.ts';
import { rankedModules } from './ranked-modules.ts';

/** ∂L/∂A ← diag(u)·∂L/∂A and ∂L/∂B ← ∂L/∂B·diag(u), u the module's rank_update input. */
export const sampledRankGradients: Regulariser = (t: TrainingGraph): TrainingGraph => {
  const mods = rankedModules(t.graph).filter((m) => m.update !== undefined);
  if (!mods.length) return t;
  const nodes = t.graph.nodes;
  let scope = '';
  const emit = (op: string, inputs: number[], attrs: Attrs = {}): number => {
    const shape = opSpec(op).shape(inputs.map((i) => nodes[i]!.shape), attrs);
    if (typeof shape === 'string') throw new Error(`sampled DyLoRA update: ${op}: ${shape}`);
    const id = nodes.length;
    const n: Node = { id, op, inputs, attrs, shape, dtype: 'f32', scope };
    nodes.push(n);
    return id;
  };
  const grads = t.grads.map((g) => ({ ...g }));
  for (const m of mods) {
    const u = t.graph.inputs[m.update!];
    if (u === undefined) continue;
    scope = `${m.module} ∂sampled rank`;
    const a = grads.find((g) => g.path === m.A);
    // A [r, in]: the mask runs along the rows, so it multiplies Aᵀ's last axis.
    if (a) a.node = emit('transpose', [emit('mul', [emit('transpose', [a.node]), u])]);
    const b = grads.find((g) => g.path === m.B);
    if (b) b.node = emit('mul', [b.node, u]);
  }
  return { ...t, grads };
};
