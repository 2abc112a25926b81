// DoRA (Liu et al. 2024, weight-decomposed LoRA) as Hugging Face PEFT computes it
// (tuners/lora/dora.py, DoraLinearLayer.forward):
//   V = W + s·B·A (W as [out, in]),  k = m / ‖V‖ (per output feature, the norm of its row),
//   y' = y + (k − 1)·(x̃·Wᵀ) + k·s·(x̃·Aᵀ)·Bᵀ,  x̃ = dropout(x)
// with the norm ‖V‖ a constant of the backward pass (PEFT detaches it; inv_row_norm has no
// gradient), and the magnitude m = <module>.lora_magnitude_vector [out], starting at ‖W‖ so the
// model starts at the base. Without dropout x̃·Wᵀ is y less the bias, as PEFT takes it.
// On a token embedding, PEFT's DoraEmbeddingLayer (applyDoraEmbedding, below).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';

export function applyDora(t: MethodHost, app: MethodApp, m: ModuleInst, xd: Tensor, y: Tensor, branch: Tensor, A: Tensor, B: Tensor, s: number, range: SourceRange): Value {
  const layout = m.settings.layout as 'in_out' | 'out_in';
  const W = t.moduleParam(m, 'weight');
  const mag = magnitude(t, app, m, m.settings.out as number, layout);
  return poisonable(() => {
    const op = ops(t, range);
    // k = m / ‖W + s·B·A‖, the norm read as a constant.
    const Wo = layout === 'in_out' ? op('transpose', [W], {}, 'DoRA weight') : W;
    const k = scaleOf(op, mag, Wo, A, B, s);
    // x̃·Wᵀ: y less its bias, or the base linear again on the dropped-out input xd (the LoRA branch's).
    let base = y;
    if ((app.settings.dropout as number) > 0) base = op('linear', [xd, W], { layout }, 'DoRA base');
    else if (m.settings.bias) base = op('add', [y, op('scale', [t.moduleParam(m, 'bias')], { factor: -1 })]);
    // y + k·(x̃·Wᵀ + s·lora) − x̃·Wᵀ
    const delta = op('add', [op('mul', [op('add', [base, branch]), k], {}, 'DoRA'), op('scale', [base], { factor: -1 })]);
    return op('add', [y, delta], {}, 'lora');
  });
}

/**
 * DoRA on a token embedding, as PEFT's DoraEmbeddingLayer (fan_in_fan_out = True: the table
 * [num, dim] is Wᵀ, so the magnitude has one entry per embedding dimension, a column of the table):
 *   V = tableᵀ + s·B·A [dim, num],  k = m / ‖V‖ (its rows),  y' = k ⊙ (table[ids] + s·Aᵀ[ids]·Bᵀ)
 * with the norm a constant of the backward pass and m = <module>.lora_magnitude_vector [dim]
 * starting at the table's column norms. `branch` is s·Aᵀ[ids]·Bᵀ.
 */
export function applyDoraEmbedding(t: MethodHost, app: MethodApp, m: ModuleInst, y: Tensor, branch: Tensor, A: Tensor, B: Tensor, s: number, range: SourceRange): Value {
  const table = t.moduleParam(m, 'weight');
  // row_norm over the table as [in, out] = [num, dim]: the norm of each column.
  const mag = magnitude(t, app, m, m.settings.dim as number, 'in_out');
  return poisonable(() => {
    const op = ops(t, range);
    const k = scaleOf(op, mag, op('transpose', [table], {}, 'DoRA weight'), A, B, s);
    return op('mul', [op('add', [y, branch]), k], {}, 'lora');
  });
}

type Op = (name: string, inputs: Tensor[], attrs?: Record<string, number | string>, what?: string) => Tensor;

/** <module>.lora_magnitude_vector [n], starting at the norms of `weight`'s output features. */
function magnitude(t: MethodHost, app: MethodApp, m: ModuleInst, n: number, layout: 'in_out' | 'out_in'): Tensor {
  return t.param(`${m.path}.lora_magnitude_vector`, [n], {
    origin: 'lora', module: m.path, method: app, src: app.range, init: { kind: 'row_norm', weight: `${m.path}.weight`, layout },
  });
}

/** k = m / ‖W + s·B·A‖ per row of W [out, in], the norm a constant (inv_row_norm has no gradient). */
function scaleOf(op: Op, mag: Tensor, W: Tensor, A: Tensor, B: Tensor, s: number): Tensor {
  const V = op('add', [W, op('scale', [op('linear', [B, A], { layout: 'in_out' }, 'DoRA B·A')], { factor: s })]);
  return op('mul', [mag, op('inv_row_norm', [V], {}, 'DoRA weight norm')], {}, 'DoRA scale');
}

/** Ops whose results are tensors: a shape error (reported) stops the rewrite, which gives POISON. */
function ops(t: MethodHost, range: SourceRange): Op {
  return (name, inputs, attrs = {}, what) => {
    const v = t.op(name, inputs, attrs, range, what);
    if (v.kind !== 'tensor') throw POISONED;
    return v;
  };
}

function poisonable(build: () => Tensor): Value {
  try {
    return build();
  } catch (e) {
    if (e === POISONED) return POISON;
    throw e;
  }
}

const POISONED = Symbol('poisoned');
