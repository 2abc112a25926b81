// A forward-only interpreter for decoding graphs: the CPU reference kernels plus the decoding
// kernels of one batch (kernels.ts). Each value is released after its last use.
import type { Graph } from '../../compiler/ir/types.ts';
import { paramView, type ParamStore } from '../arena.ts';
import { filledInput } from '../cpu/executor.ts';
import { KERNELS, type Kernel } from '../cpu/kernels/index.ts';
import type { FloatTensor, Tensor } from '../cpu/tensor.ts';

/** Last use of every node (the logits are kept). */
export function lastUses(g: Graph): number[] {
  const last = g.nodes.map((n) => n.id);
  for (const n of g.nodes) for (const i of n.inputs) last[i] = Math.max(last[i]!, n.id);
  last[g.outputs.logits] = Infinity;
  return last;
}

export function runDecodeGraph(
  g: Graph, last: number[], store: ParamStore, inputs: Record<string, Tensor>, kernels: Record<string, Kernel>,
): FloatTensor {
  const values: (Tensor | undefined)[] = new Array(g.nodes.length);
  const ctx = { precision: 'f32' as const, step: 0, training: false };
  for (const n of g.nodes) {
    if (n.op === 'param') values[n.id] = { shape: n.shape as number[], data: paramView(store, n.attrs.path as string) };
    else if (n.op === 'input') {
      const t = inputs[n.attrs.name as string] ?? filledInput(n);
      if (!t) throw new Error(`decode: the graph has an input \`${n.attrs.name}\` that was not given`);
      values[n.id] = t;
    } else {
      const k = kernels[n.op] ?? KERNELS[n.op];
      if (!k) throw new Error(`decode: no CPU kernel for ${n.op}`);
      values[n.id] = k(n.inputs.map((i) => values[i]!), n.attrs, ctx);
    }
    for (const i of n.inputs) if (last[i] === n.id) values[i] = undefined;
  }
  return values[g.outputs.logits] as FloatTensor;
}
