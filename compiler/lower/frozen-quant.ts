// Which frozen weights a plan stores quantized (PlanOptions.frozenQuant): exactly those the CPU
// quantizes (compiler/quant/select.ts, over the forward pass, so a tied table read by the
// backward pass with the other layout is still the same weight), each with the layout its codes
// and scales run in. Every reader of such a weight must be a kernel that dequantizes: a linear
// layer's weight (matmul's B) or an embedding's table; anything else is a PlanError naming it.
import type { TrainingGraph } from '../autodiff/backward.ts';
import { quantizableWeights } from '../quant/select.ts';
import type { QuantDtype } from '../quant/weight.ts';
import type { ArenaQuant } from './memory.ts';
import { PlanError } from './plan-error.ts';

export function frozenQuantOf(t: TrainingGraph, dtype: QuantDtype): ArenaQuant {
  const g = t.graph;
  const layouts = quantizableWeights({ ...g, nodes: g.nodes.slice(0, t.forwardEnd) });
  const ids = new Map(g.nodes.filter((n) => n.op === 'param' && layouts.has(n.attrs.path as string)).map((n) => [n.id, n.attrs.path as string]));
  for (const n of g.nodes) {
    n.inputs.forEach((id, i) => {
      const path = ids.get(id);
      if (path === undefined || (n.op === 'linear' && i === 1) || (n.op === 'embedding' && i === 0)) return;
      throw new PlanError(`the frozen weight ${path} is stored in ${dtype}, but ${n.op} (node %${n.id}${n.scope ? ` in ${n.scope}` : ''}) reads it, and only linear layers and embedding lookups dequantize`);
    });
  }
  return { dtype, layouts };
}
