// Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al.; He et al. parallel) as a
// rewrite of one module call with input x and output y:
//   serial:   y' = y + dropout(s · up(act(down(y))))
//   parallel: y' = y + dropout(s · up(act(down(x))))
// as AdapterHub's bottleneck Adapter. `init = mam` (its mam_adapter): down kaiming-uniform, up at
// zero, so the adapter starts as the identity; `init = bert` (its default): both normal(0, 0.02).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';
import { chain } from './chain.ts';

/**
 * An adapter's activation by name → the IR op computing it: `gelu` is the exact GELU (AdapterHub's
 * and transformers' "gelu"), `gelu_tanh` the tanh form ("gelu_new"), as the builtin functions.
 */
export const ACTIVATION_OPS: Readonly<Record<string, string>> = { relu: 'relu', gelu: 'gelu_erf', gelu_tanh: 'gelu', silu: 'silu', tanh: 'tanh' };

export function adapterWidth(s: MethodApp['settings'], d: number): number {
  return (s.bottleneck as number) || Math.max(1, Math.floor(d / (s.reduction as number)));
}

export function applyAdapter(t: MethodHost, app: MethodApp, x: Tensor, y: Tensor, range: SourceRange): Value {
  const s = app.settings;
  const src = s.placement === 'parallel' ? x : y;
  const din = lastDim(t, src);
  const dout = lastDim(t, y);
  if (din === undefined || dout === undefined) {
    t.r.error(Codes.MethodNotApplicable, `an adapter on \`${app.module.path}\` needs a tensor output with a fixed feature size`, app.range);
    return POISON;
  }
  const m = adapterWidth(s, dout);
  const path = `${app.module.path}.adapter`;
  const opts = { origin: 'adapter' as const, module: path, method: app, src: app.range };
  const saved = t.b.scope;
  t.b.scope = path;
  const bert = s.init === 'bert';
  const normal = { kind: 'normal' as const, std: 0.02 };
  const wd = t.param(`${path}.down.weight`, [m, din], { ...opts, init: bert ? normal : { kind: 'uniform', bound: 1 / Math.sqrt(din) } });
  const bd = t.param(`${path}.down.bias`, [m], { ...opts, init: { kind: 'zeros' } });
  const wu = t.param(`${path}.up.weight`, [dout, m], { ...opts, init: bert ? normal : { kind: 'zeros' } });
  const bu = t.param(`${path}.up.bias`, [dout], { ...opts, init: { kind: 'zeros' } });
  const out = chain(src, [
    (v) => t.op('linear', [v, wd, bd], { layout: 'out_in' }, range, 'adapter down'),
    (v) => t.op(ACTIVATION_OPS[s.activation as string]!, [v], {}, range),
    (v) => t.op('linear', [v, wu, bu], { layout: 'out_in' }, range, 'adapter up'),
    (v) => (s.scale === 1 ? v : t.op('scale', [v], { factor: s.scale as number }, range)),
    (v) => t.dropout(v, (s.dropout as number | undefined) ?? 0, range),
    (v) => t.op('add', [y, v], {}, range, 'adapter'),
  ]);
  t.b.scope = saved;
  return out;
}

function lastDim(t: MethodHost, x: Tensor): number | undefined {
  const s = t.shapeOf(x);
  const d = s[s.length - 1];
  return typeof d === 'number' ? d : undefined;
}
