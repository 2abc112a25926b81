// Which frozen parameters a quantized dtype applies to: the weight matrices every reader of which
// takes them as a linear layer's weight or an embedding's table (the readers that dequantize).
// Only the base model's: frozen adapters stacked below (--frozen-adapter) stay as trained. Vectors
// (biases, norms) and matrices read any other way stay in f32.
import type { Graph } from '../ir/types.ts';
import type { WeightLayout } from './weight.ts';

/** Frozen weight matrices by path, with the layout their readers see them in. */
export function quantizableWeights(g: Graph): Map<string, WeightLayout> {
  const frozen = new Map(g.params.filter((p) => p.partition === 'frozen' && p.origin === 'base' && p.shape.length === 2).map((p) => [p.path, p]));
  const layouts = new Map<number, Set<WeightLayout | 'other'>>();
  const note = (id: number, l: WeightLayout | 'other') => layouts.set(id, (layouts.get(id) ?? new Set()).add(l));
  for (const n of g.nodes) {
    n.inputs.forEach((id, i) => {
      if (n.op === 'linear' && i === 1) note(id, n.attrs.layout === 'in_out' ? 'in_out' : 'out_in');
      else if (n.op === 'embedding' && i === 0) note(id, 'table');
      else note(id, 'other');
    });
  }
  const out = new Map<string, WeightLayout>();
  for (const n of g.nodes) {
    if (n.op !== 'param' || !frozen.has(n.attrs.path as string)) continue;
    const seen = layouts.get(n.id);
    if (!seen || seen.has('other')) continue;
    // A tied table (GPT-2's wte, also the output projection) is an [out, in] weight: the same rows
    // (int8 channels) and the same blocks.
    if (seen.size === 2 && seen.has('table') && seen.has('out_in')) seen.delete('table');
    if (seen.size !== 1) continue;
    out.set(n.attrs.path as string, [...seen][0] as WeightLayout);
  }
  return out;
}
