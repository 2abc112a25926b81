// The work of one training step, estimated from the forward graph: the matrix products
// (every `linear`, and attention counted dense) forward, and backward the two kinds of
// gradient a product can need. Frozen weights need no weight gradient, but the input
// gradient still flows through them down to the lowest trainable part — which is why a
// LoRA step costs about two thirds of a full one, not 0.24 % of it.
//
//   forward          2·rows·in·out per linear            4·T·Tk·C per attention
//   input gradient   the same, where the input depends on a trainable parameter
//   weight gradient  2·rows·in·out, where the weight is trainable
//
// Norms, activations, the loss and the optimizer are left out (a few percent, and alike
// for both). Per token: the step is counted for one sequence of `seq` tokens, divided by it.
import { evalDim } from '../compiler/ir/dims.ts';
import type { Dim, Graph } from '../compiler/ir/types.ts';

/** The sequence length the estimate assumes. */
export const FLOPS_SEQ = 512;

export interface StepFlops {
  /** Sequence length of the estimate. */
  seq: number;
  /** FLOPs per token of each part. */
  forward: number;
  inputGrad: number;
  weightGrad: number;
  total: number;
}

export function stepFlops(graph: Graph, seq = FLOPS_SEQ): StepFlops {
  const env = { B: 1, T: seq };
  const size = (s: readonly Dim[]) => s.reduce<number>((a, d) => a * evalDim(d, env), 1);
  const last = (s: readonly Dim[]) => evalDim(s[s.length - 1]!, env);
  const trainable = new Set(graph.params.filter((p) => p.partition === 'trainable').map((p) => p.path));
  // needsGrad[i]: node i depends on a trainable parameter, so the backward pass reaches it.
  const needsGrad: boolean[] = [];
  const trainableParam = (i: number) => graph.nodes[i]!.op === 'param' && trainable.has(graph.nodes[i]!.attrs.path as string);
  const f = { seq, forward: 0, inputGrad: 0, weightGrad: 0, total: 0 };
  for (const n of graph.nodes) {
    needsGrad[n.id] = n.op === 'param' ? trainableParam(n.id) : n.inputs.some((i) => needsGrad[i]);
    const x = graph.nodes[n.inputs[0]!];
    if (!x) continue;
    if (n.op === 'linear') {
      const work = 2 * size(n.shape) * last(x.shape);
      f.forward += work;
      if (needsGrad[x.id]) f.inputGrad += work;
      if (trainableParam(n.inputs[1]!)) f.weightGrad += work;
    } else if (n.op === 'attention') {
      const k = graph.nodes[n.inputs[1]!]!;
      const work = 4 * size(n.shape) * evalDim(k.shape[k.shape.length - 2]!, env);
      f.forward += work;
      if (n.inputs.slice(0, 3).some((i) => needsGrad[i])) f.inputGrad += 2 * work;
    }
  }
  f.forward /= seq;
  f.inputGrad /= seq;
  f.weightGrad /= seq;
  f.total = f.forward + f.inputGrad + f.weightGrad;
  return f;
}
