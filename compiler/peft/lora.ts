// LoRA (Hu et al. 2021) as a rewrite of one Linear call:
//   y' = y + s · (dropout(x) · Aᵀ) · Bᵀ,  A [r, in], B [out, r],  s = alpha / r (alpha / √r with rsLoRA).
// A starts kaiming-uniform (bound 1/√in), B at zero, so the model starts exactly at the base.
// `rank = auto(…)` (AdaLoRA) and `rank = dynamic(…)` (DyLoRA) are built by ranked-lora.ts.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';
import { applyAdaLora, applyDyLora } from './ranked-lora.ts';
import { rankMode } from './rank-settings.ts';

export function loraScale(s: MethodApp['settings']): number {
  const r = s.rank as number;
  const alpha = s.alpha as number;
  return s.rslora ? alpha / Math.sqrt(r) : alpha / r;
}

export function applyLora(t: MethodHost, app: MethodApp, m: ModuleInst, x: Tensor, y: Tensor, range: SourceRange): Value {
  const mode = rankMode(app.settings);
  if (mode === 'auto') return applyAdaLora(t, app, m, x, y, range);
  if (mode === 'dynamic') return applyDyLora(t, app, m, x, y, range);
  const r = app.settings.rank as number;
  const fin = m.settings.in as number;
  const fout = m.settings.out as number;
  const opts = { origin: 'lora' as const, module: m.path, method: app, src: app.range };
  const A = t.param(`${m.path}.lora_A.weight`, [r, fin], { ...opts, init: { kind: 'uniform', bound: 1 / Math.sqrt(fin) } });
  const B = t.param(`${m.path}.lora_B.weight`, [fout, r], { ...opts, init: { kind: 'zeros' } });
  const xd = t.dropout(x, app.settings.dropout as number, range);
  if (xd.kind !== 'tensor') return POISON;
  const down = t.op('linear', [xd, A], { layout: 'out_in' }, range, 'lora_A');
  if (down.kind !== 'tensor') return POISON;
  const up = t.op('linear', [down, B], { layout: 'out_in' }, range, 'lora_B');
  if (up.kind !== 'tensor') return POISON;
  const scaled = t.op('scale', [up], { factor: loraScale(app.settings) }, range);
  return scaled.kind === 'tensor' ? t.op('add', [y, scaled], {}, range, 'lora') : POISON;
}
