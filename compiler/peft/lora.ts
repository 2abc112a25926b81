// LoRA (Hu et al. 2021) as a rewrite of one Linear call:
//   y' = y + s · (dropout(x) · Aᵀ) · Bᵀ,  A [r, in], B [out, r],  s = alpha / r (alpha / √r with rsLoRA).
// A starts kaiming-uniform (bound 1/√in), B at zero, so the model starts exactly at the base.
// `init = pissa | olora` (PEFT's init_lora_weights) start A and B from a decomposition of W
// (SVD, QR) and W as its residual W − s·B·A, so again the model starts at the base; the host
// computes them (runtime/lora-init.ts), hence the same on every backend. `init = pissa(niter = K)`
// is PEFT's "pissa_niter_K": the randomised SVD.
// `rank = auto(…)` (AdaLoRA) and `rank = dynamic(…)` (DyLoRA) are built by ranked-lora.ts.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';
import { chain } from './chain.ts';
import { Codes } from '../codes.ts';
import type { InitRule } from '../ir/types.ts';
import { applyDora } from './dora.ts';
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
  const inits = factorInits(app, m, r, fin, fout);
  if (!inits) {
    t.r.error(Codes.BadMethodSetting, `\`init = ${app.settings.init}\` takes the top ${r} of W's ${Math.min(fin, fout)} directions: rank ${r} exceeds min(in, out) of \`${m.path}\` (${fin}, ${fout})`, app.range);
    return POISON;
  }
  const A = t.param(`${m.path}.lora_A.weight`, [r, fin], { ...opts, init: inits.A });
  const B = t.param(`${m.path}.lora_B.weight`, [fout, r], { ...opts, init: inits.B });
  const xd = t.dropout(x, app.settings.dropout as number, range);
  if (xd.kind !== 'tensor') return xd;
  const branch = chain(xd, [
    (v) => t.op('linear', [v, A], { layout: 'out_in' }, range, 'lora_A'),
    (v) => t.op('linear', [v, B], { layout: 'out_in' }, range, 'lora_B'),
    (v) => t.op('scale', [v], { factor: loraScale(app.settings) }, range),
  ]);
  if (branch.kind !== 'tensor') return branch;
  if (app.settings.dora) return applyDora(t, app, m, xd, y, branch, A, B, loraScale(app.settings), range);
  return t.op('add', [y, branch], {}, range, 'lora');
}

/** A's and B's init rules (PEFT's init_lora_weights); undefined when a decomposition has too few directions. */
function factorInits(app: MethodApp, m: ModuleInst, r: number, fin: number, fout: number): { A: InitRule; B: InitRule } | undefined {
  const init = app.settings.init;
  // kaiming-uniform (True), or normal with std 1/r ("gaussian"); B zero.
  if (init !== 'pissa' && init !== 'olora') {
    return { A: init === 'gaussian' ? { kind: 'normal', std: 1 / r } : { kind: 'uniform', bound: 1 / Math.sqrt(fin) }, B: { kind: 'zeros' } };
  }
  if (r > Math.min(fin, fout)) return undefined;
  const niter = app.settings.niter as number | undefined; // `init = pissa(niter = K)`
  const rule = { kind: init, weight: `${m.path}.weight`, layout: m.settings.layout as 'in_out' | 'out_in', scale: loraScale(app.settings), ...(niter === undefined ? {} : { niter }) } as const;
  return { A: { ...rule, factor: 'A' }, B: { ...rule, factor: 'B' } };
}
