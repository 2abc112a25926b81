// Rank-masked LoRA, beyond a fixed `rank = r` (settings in rank-settings.ts):
//
//   rank = auto(target = 8, init = 12, …)   AdaLoRA (Zhang et al. 2023): ΔW = B·diag(E ⊙ m)·A,
//       A [init, in], E [init] (the singular values), B [out, init], s = alpha / init; m is the
//       module's rank mask, an f32 [init] graph input of zeros and ones (fill 1) that the runtime
//       (runtime/rank-controller.ts) lowers as the global budget falls on AdaLoRA's cubic schedule, keeping the
//       most important singular triplets. The orthogonality regulariser γ·(‖AAᵀ − I‖² + ‖BᵀB − I‖²)
//       enters the training IR's gradients (orthogonality.ts).
//   rank = dynamic(max = 8)                 DyLoRA (Valipour et al. 2023): ΔW = B·diag(m)·A with
//       A [max, in], B [out, max]; the mask input carries the scale too: m_i = alpha/b for i < b,
//       0 beyond, b drawn per training step from min … max; fill alpha/max, i.e. the full rank.
//       With `update = sampled` a second input, `rank_update.<module>` (f32 [max], fill 1), is one
//       at b − 1 and zero elsewhere: sampled-rank.ts multiplies the gradients of A's rows and B's
//       columns by it, so only the b-th rank learns that step (the paper's frozen lower ranks).
//
// Both are ordinary IR: the mask is an `input` node named `rank_mask.<module>`, multiplied into
// the branch with `mul` (suffix broadcasting over [r]).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';
import { chain } from './chain.ts';
import { dyloraUpdate } from './rank-settings.ts';
import { rankMaskName, rankUpdateName } from './ranked-modules.ts';

/** A rank input of a module (`name`): f32 [r], the value `fill` when a batch leaves it out. */
function maskInput(t: MethodHost, name: string, r: number, fill: number): Tensor {
  const id = t.b.input(name, [r], 'f32');
  t.b.node(id).attrs.fill = fill;
  t.inputs[name] = id;
  return { kind: 'tensor', id, src: t.root.range };
}

/** AdaLoRA: y' = y + s · ((dropout(x)·Aᵀ) ⊙ (E ⊙ m)) · Bᵀ. HF PEFT's init: E zeros, A and B normal(0, 0.02). */
export function applyAdaLora(t: MethodHost, app: MethodApp, m: ModuleInst, x: Tensor, y: Tensor, range: SourceRange): Value {
  const s = app.settings;
  const r = s.rank as number;
  const opts = { origin: 'lora' as const, module: m.path, method: app, src: app.range };
  const A = t.param(`${m.path}.lora_A.weight`, [r, m.settings.in as number], { ...opts, init: { kind: 'normal', std: 0.02 } });
  const E = t.param(`${m.path}.lora_E.weight`, [r], { ...opts, init: { kind: 'zeros' } });
  const B = t.param(`${m.path}.lora_B.weight`, [m.settings.out as number, r], { ...opts, init: { kind: 'normal', std: 0.02 } });
  const mask = maskInput(t, rankMaskName(m.path), r, 1);
  return chain(x, [
    (v) => t.dropout(v, s.dropout as number, range),
    (v) => t.op('linear', [v, A], { layout: 'out_in' }, range, 'lora_A'),
    (v) => {
      const gate = t.op('mul', [E, mask], {}, range, 'lora_E');
      return gate.kind === 'tensor' ? t.op('mul', [v, gate], {}, range, 'lora_E') : POISON;
    },
    (v) => t.op('linear', [v, B], { layout: 'out_in' }, range, 'lora_B'),
    (v) => t.op('scale', [v], { factor: (s.alpha as number) / r }, range),
    (v) => t.op('add', [y, v], {}, range, 'lora'),
  ]);
}

/** DyLoRA: y' = y + ((dropout(x)·Aᵀ) ⊙ m) · Bᵀ, m_i = alpha/b for i < b (the scale rides on the mask). */
export function applyDyLora(t: MethodHost, app: MethodApp, m: ModuleInst, x: Tensor, y: Tensor, range: SourceRange): Value {
  const s = app.settings;
  const r = s.rank as number;
  const fin = m.settings.in as number;
  const opts = { origin: 'lora' as const, module: m.path, method: app, src: app.range };
  const A = t.param(`${m.path}.lora_A.weight`, [r, fin], { ...opts, init: { kind: 'uniform', bound: 1 / Math.sqrt(fin) } });
  const B = t.param(`${m.path}.lora_B.weight`, [m.settings.out as number, r], { ...opts, init: { kind: 'zeros' } });
  const mask = maskInput(t, rankMaskName(m.path), r, (s.alpha as number) / r);
  if (dyloraUpdate(s) === 'sampled') maskInput(t, rankUpdateName(m.path), r, 1);
  return chain(x, [
    (v) => t.dropout(v, s.dropout as number, range),
    (v) => t.op('linear', [v, A], { layout: 'out_in' }, range, 'lora_A'),
    (v) => t.op('mul', [v, mask], {}, range, 'rank mask'),
    (v) => t.op('linear', [v, B], { layout: 'out_in' }, range, 'lora_B'),
    (v) => t.op('add', [y, v], {}, range, 'lora'),
  ]);
}
