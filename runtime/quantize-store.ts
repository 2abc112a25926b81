// A quantized frozen base on the CPU: each frozen weight matrix of the base (compiler/quant/select)
// is quantized and its f32 slot replaced by the dequantized values. The CPU reference then computes
// exactly with the numbers a quantized store stands for: it keeps them dequantized in f32 (it is the
// oracle; its memory is not the point), while the quantized codes and scales are returned for
// whatever stores or uploads them.
import type { Graph } from '../compiler/ir/types.ts';
import { quantizableWeights } from '../compiler/quant/select.ts';
import { dequantizeWeight, quantizeWeight, type QuantDtype, type QuantizedWeight } from '../compiler/quant/weight.ts';
import type { ParamStore } from './arena.ts';

export function quantizeFrozen(g: Graph, store: ParamStore, dtype: QuantDtype): Map<string, QuantizedWeight> {
  const out = new Map<string, QuantizedWeight>();
  for (const [path, layout] of quantizableWeights(g)) {
    const view = store.frozen.view(path);
    const shape = g.params.find((p) => p.path === path)!.shape;
    const q = quantizeWeight(view, shape, layout, dtype);
    view.set(dequantizeWeight(q));
    out.set(path, q);
  }
  return out;
}
