// AdaLoRA's orthogonality regulariser, part of LoRA's `regularise` plug-in (rank-gradients.ts):
// the autodiff runs it after the backward pass (autodiff/backward.ts takes regularisers as input).
// Its two forms, with M_P = PPᵀ − I for P = A [r, in] and M_P = PᵀP − I for P = B [out, r]:
//   form = peft (Hugging Face PEFT's AdaLoraModel.forward):  R = γ/N · Σ_P ‖M_P‖_F, the mean over
//     the N = 2·(auto modules) matrices of the unsquared norms, whose gradient is
//     ∂R/∂A = (2γ/N)·M_A·A / ‖M_A‖_F,   ∂R/∂B = (2γ/N)·B·M_B / ‖M_B‖_F;
//   form = paper (Zhang et al. 2023):  R = Σ_modules γ·(‖M_A‖²_F + ‖M_B‖²_F), whose gradient is
//     ∂R/∂A = 4γ·M_A·A = 4γ·(AAᵀA − A),   ∂R/∂B = 4γ·B·M_B = 4γ·(BBᵀB − B).
// The terms are added to the gradients of A and B (before clipping); the logged loss stays the
// task's. Both are written in catalog ops; PEFT's norm needs the identity and a ones column,
// built from one graph input of ones (`orthogonality.ones.<r>`, f32 [r, 1], fill 1).
import type { Regulariser, TrainingGraph } from '../autodiff/backward.ts';
import { opSpec } from '../ir/ops.ts';
import type { Attrs, Node } from '../ir/types.ts';
import { rankedModules } from './ranked-modules.ts';

type Emit = (op: string, inputs: number[], attrs?: Attrs) => number;

export const orthogonalityGradients: Regulariser = (t: TrainingGraph): TrainingGraph => {
  const all = rankedModules(t.graph).filter((m) => m.mode === 'auto');
  const mods = all.filter((m) => (m.settings.orth as number) > 0);
  if (!mods.length) return t;
  const nodes = t.graph.nodes;
  const paramNode = new Map<string, number>();
  for (const n of nodes) if (n.op === 'param') paramNode.set(n.attrs.path as string, n.id);
  let scope = '';
  const emit: Emit = (op, inputs, attrs = {}) => {
    const shape = opSpec(op).shape(inputs.map((i) => nodes[i]!.shape), attrs);
    if (typeof shape === 'string') throw new Error(`orthogonality regulariser: ${op}: ${shape}`);
    const id = nodes.length;
    const n: Node = { id, op, inputs, attrs, shape, dtype: 'f32', scope };
    nodes.push(n);
    return id;
  };
  const consts = new Map<number, { ones: number; eye: number }>();
  const constants = (r: number) => {
    if (!consts.has(r)) {
      scope = '∂orthogonality';
      consts.set(r, identity(t, emit, r));
    }
    return consts.get(r)!;
  };
  const grads = t.grads.map((g) => ({ ...g }));
  for (const m of mods) {
    const gamma = m.settings.orth as number;
    for (const [path, side] of [[m.A, 'A'], [m.B, 'B']] as const) {
      const entry = grads.find((g) => g.path === path);
      const w = paramNode.get(path);
      if (!entry || w === undefined) continue;
      const c = m.form === 'paper' ? undefined : constants(m.rank);
      scope = `${m.module} ∂orthogonality`;
      // A [r, in]: G = A·Aᵀ [r, r], then G·A.   B [out, r]: G = Bᵀ·B [r, r], then B·G.
      const gram = side === 'A' ? emit('linear', [w, w], { layout: 'out_in' }) : emit('linear_grad_weight', [w, w], { layout: 'in_out' });
      const times = (g: number) => (side === 'A' ? emit('linear', [g, w], { layout: 'in_out' }) : emit('linear', [w, g], { layout: 'in_out' }));
      let reg: number;
      if (!c) {
        reg = emit('add', [emit('scale', [times(gram)], { factor: 4 * gamma }), emit('scale', [w], { factor: -4 * gamma })]);
      } else {
        const M = emit('add', [gram, emit('scale', [c.eye], { factor: -1 })]);
        reg = emit('scale', [times(emit('mul', [M, invFrobenius(emit, M, c.ones)]))], { factor: (2 * gamma) / (2 * all.length) });
      }
      entry.node = emit('add', [entry.node, reg]);
    }
  }
  return { ...t, grads };
};

/** The ones input [r, 1] and the identity [r, r] built from it (row i: a one padded to r at i). */
function identity(t: TrainingGraph, emit: Emit, r: number): { ones: number; eye: number } {
  const name = `orthogonality.ones.${r}`;
  const ones = t.graph.nodes.length;
  t.graph.nodes.push({ id: ones, op: 'input', inputs: [], attrs: { name, fill: 1 }, shape: [r, 1], dtype: 'f32', scope: '∂orthogonality' });
  t.graph.inputs[name] = ones;
  const one = emit('slice', [ones], { axis: 0, start: 0, size: 1 });
  let eye = emit('pad', [one], { axis: 1, start: 0, total: r });
  for (let i = 1; i < r; i++) eye = emit('concat', [eye, emit('pad', [one], { axis: 1, start: i, total: r })], { axis: 0 });
  return { ones, eye };
}

/**
 * 1/‖M‖_F of a symmetric M [r, r], broadcast to [r]: the row norms ‖M_j‖ = (Σ_i M_ij²)·(1/‖M_j‖)
 * as one row [1, r], whose norm is ‖M‖_F (inv_row_norm), spread over r by a product with ones.
 */
function invFrobenius(emit: Emit, M: number, ones: number): number {
  const colsq = emit('linear_grad_weight', [ones, emit('mul', [M, M])], { layout: 'in_out' }); // [1, r]
  const norms = emit('mul', [colsq, emit('inv_row_norm', [M])]); // [1, r]
  return emit('linear', [emit('inv_row_norm', [norms]), ones], { layout: 'out_in' }); // [1] → [r]
}
