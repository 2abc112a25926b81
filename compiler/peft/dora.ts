// DoRA (Liu et al. 2024, weight-decomposed LoRA) as Hugging Face PEFT computes it
// (tuners/lora/dora.py, DoraLinearLayer.forward):
//   V = W + s·B·A (W as [out, in]),  k = m / ‖V‖ (per output feature, the norm of its row),
//   y' = y + (k − 1)·(x̃·Wᵀ) + k·s·(x̃·Aᵀ)·Bᵀ,  x̃ = dropout(x)
// with the norm ‖V‖ a constant of the backward pass (PEFT detaches it; inv_row_norm has no
// gradient), and the magnitude m = <module>.lora_magnitude_vector [out], starting at ‖W‖ so the
// model starts at the base. Without dropout x̃·Wᵀ is y less the bias, as PEFT takes it.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';

export function applyDora(t: MethodHost, app: MethodApp, m: ModuleInst, xd: Tensor, y: Tensor, branch: Tensor, A: Tensor, B: Tensor, s: number, range: SourceRange): Value {
  const layout = m.settings.layout as 'in_out' | 'out_in';
  const W = t.moduleParam(m, 'weight');
  const mag = t.param(`${m.path}.lora_magnitude_vector`, [m.settings.out as number], {
    origin: 'lora', module: m.path, method: app, src: app.range, init: { kind: 'row_norm', weight: `${m.path}.weight`, layout },
  });
  // Each step's operands are tensors; a shape error (reported) stops the rewrite with POISON.
  const op = (name: string, inputs: Tensor[], attrs: Record<string, number | string> = {}, what?: string): Tensor => {
    const v = t.op(name, inputs, attrs, range, what);
    if (v.kind !== 'tensor') throw POISONED;
    return v;
  };
  try {
    // k = m / ‖W + s·B·A‖, the norm read as a constant.
    const Wo = layout === 'in_out' ? op('transpose', [W], {}, 'DoRA weight') : W;
    const V = op('add', [Wo, op('scale', [op('linear', [B, A], { layout: 'in_out' }, 'DoRA B·A')], { factor: s })]);
    const k = op('mul', [mag, op('inv_row_norm', [V], {}, 'DoRA weight norm')], {}, 'DoRA scale');
    // x̃·Wᵀ: y less its bias, or the base linear again on the dropped-out input xd (the LoRA branch's).
    let base = y;
    if ((app.settings.dropout as number) > 0) base = op('linear', [xd, W], { layout }, 'DoRA base');
    else if (m.settings.bias) base = op('add', [y, op('scale', [t.moduleParam(m, 'bias')], { factor: -1 })]);
    // y + k·(x̃·Wᵀ + s·lora) − x̃·Wᵀ
    const delta = op('add', [op('mul', [op('add', [base, branch]), k], {}, 'DoRA'), op('scale', [base], { factor: -1 })]);
    return op('add', [y, delta], {}, 'lora');
  } catch (e) {
    if (e === POISONED) return POISON;
    throw e;
  }
}

const POISONED = Symbol('poisoned');
