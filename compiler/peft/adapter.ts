// Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020; He et al. 2021's parallel
// adapter), as AdapterHub's bottleneck Adapter computes its branch:
//   A(v) = dropout(s · up(act(down(v))))
// `init = mam` (its mam_adapter): down kaiming-uniform, up at zero, so the adapter starts as the
// identity; `init = bert` (its default): both normal(0, 0.02).
//
// Without a preset the adapter wraps one module call with input x and output y:
//   serial:   y' = y + A(y)          parallel: y' = y + A(x)
// With `preset = seq_bn | double_seq_bn | par_bn` (AdapterHub's configs) it sits where the sub-layer's output h meets
// the residual input x (sublayer.ts) and computes AdapterHub's BottleneckLayer there
// (methods/bottleneck.py with modeling.py's Adapter.pre_forward / forward / post_forward):
//   serial:    hs  = original_ln_before ? norm(h + x) : h     (no norm before a pre-LN layer)
//              res = residual_before_ln = true: h, post_add: h + x, false: hs
//              out = A(hs) + res
//   parallel:  out = A(x) + h
//   result:    original_ln_after ? norm(out + x) : out
// On a pre-LN layer the norm is none and the enclosing block adds x itself, so the module returns
// out (original_ln_after) or out − x.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';
import { chain } from './chain.ts';
import { findJunction, type Junction } from './sublayer.ts';

/**
 * An adapter's activation by name → the IR op computing it: `gelu` is the exact GELU (AdapterHub's
 * and transformers' "gelu"), `gelu_tanh` the tanh form ("gelu_new"), as the builtin functions.
 */
export const ACTIVATION_OPS: Readonly<Record<string, string>> = { relu: 'relu', gelu: 'gelu_erf', gelu_tanh: 'gelu', silu: 'silu', tanh: 'tanh' };

export function adapterWidth(s: MethodApp['settings'], d: number): number {
  return (s.bottleneck as number) || Math.max(1, Math.floor(d / (s.reduction as number)));
}

export function applyAdapter(t: MethodHost, app: MethodApp, inputs: Tensor[], y: Tensor, range: SourceRange): Value {
  if (app.settings.preset) return atJunction(t, app, inputs, y, range);
  const src = app.settings.placement === 'parallel' ? inputs[0]! : y;
  const din = lastDim(t, src);
  const dout = lastDim(t, y);
  if (din === undefined || dout === undefined) return notApplicable(t, app, 'needs a tensor output with a fixed feature size');
  const a = branch(t, app, src, din, dout, range);
  if (a.kind !== 'tensor') return a;
  // The residual add belongs to the adapter's scope: stacking finds the trained adapter as that
  // last step of the module and attaches frozen adapters below it (compiler/multi/edit.ts).
  const saved = t.b.scope;
  t.b.scope = `${app.module.path}.adapter`;
  const out = t.op('add', [y, a], {}, range, 'adapter');
  t.b.scope = saved;
  return out;
}

/** AdapterHub's BottleneckLayer at the sub-layer's residual junction (see the header). */
function atJunction(t: MethodHost, app: MethodApp, inputs: Tensor[], y: Tensor, range: SourceRange): Value {
  const s = app.settings;
  const serial = s.placement === 'serial';
  const needsSum = (form: 'post' | 'pre') => form === 'post' && (s.original_ln_after === true || (serial && (s.original_ln_before === true || s.residual_before_ln === 'post_add')));
  const j = findJunction(t, app.module.path, inputs, y, needsSum);
  if (!j) {
    return notApplicable(t, app, `is AdapterHub's ${s.preset}: it goes where a sub-layer meets the residual stream, on a block that returns \`norm(h + residual)\` with its own norm (post-LN: BERT's \`attention.output\`, \`output\`) or on a module called as \`f(norm(x))\` beside that norm (pre-LN: GPT-2's \`attn\`, \`mlp\`); \`${app.module.path}\` is neither`);
  }
  if (j.form === 'pre' && s.residual_before_ln === 'post_add') return notApplicable(t, app, 'is on a pre-LN layer, which has no residual add before the adapter for `residual_before_ln = post_add` to read (AdapterHub fails there too)');
  const d = lastDim(t, j.h);
  if (d === undefined || d !== lastDim(t, j.x)) return notApplicable(t, app, 'needs the sub-layer output and its residual input to have the same fixed feature size');
  const add = (a: Tensor, b: Tensor) => t.op('add', [a, b], {}, range, 'adapter');
  const norm = (v: Tensor): Value => (j.norm ? t.op(j.norm.op, [v, ...j.norm.params], j.norm.attrs, range) : v);
  const hx = (): Value => j.sum ?? add(j.h, j.x);
  let hs: Value = j.h;
  let res: Value = j.h;
  if (!serial) hs = j.x;
  else {
    const pre = s.original_ln_before === true || s.residual_before_ln === 'post_add' ? hx() : undefined;
    if (s.original_ln_before === true) hs = pre!.kind === 'tensor' ? norm(pre!) : POISON;
    res = s.residual_before_ln === true ? j.h : s.residual_before_ln === 'post_add' ? pre! : hs;
  }
  if (hs.kind !== 'tensor' || res.kind !== 'tensor') return POISON;
  const a = branch(t, app, hs, d, d, range);
  if (a.kind !== 'tensor') return POISON;
  return finish(t, j, a, res, s.original_ln_after === true, { add, norm, hx, range });
}

/** out = a + res, then the layer's residual add and norm as original_ln_after says. */
function finish(t: MethodHost, j: Junction, a: Tensor, res: Tensor, after: boolean, f: { add: (a: Tensor, b: Tensor) => Value; norm: (v: Tensor) => Value; hx: () => Value; range: SourceRange }): Value {
  if (j.form === 'pre') {
    // The enclosing block adds x after the module: return out, or out − x when nothing should be added.
    const out = f.add(a, res);
    if (after || out.kind !== 'tensor') return out;
    const nx = t.op('scale', [j.x], { factor: -1 }, f.range);
    return nx.kind === 'tensor' ? f.add(out, nx) : nx;
  }
  if (!after) return f.add(a, res);
  // (a + h) + x as a + (h + x): the model's own sum, so nothing it computed goes unused.
  const hx = res.id === j.h.id ? f.hx() : f.add(a, res);
  if (hx.kind !== 'tensor') return hx;
  const total = res.id === j.h.id ? f.add(a, hx) : f.add(hx, j.x);
  return total.kind === 'tensor' ? f.norm(total) : total;
}

/** A(v) = dropout(s · up(act(down(v)))), its parameters under `<module>.adapter`. */
function branch(t: MethodHost, app: MethodApp, src: Tensor, din: number, dout: number, range: SourceRange): Value {
  const s = app.settings;
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
  ]);
  t.b.scope = saved;
  return out;
}

function notApplicable(t: MethodHost, app: MethodApp, why: string): Value {
  t.r.error(Codes.MethodNotApplicable, `an adapter on \`${app.module.path}\` ${why}`, app.range);
  return POISON;
}

function lastDim(t: MethodHost, x: Tensor): number | undefined {
  const s = t.shapeOf(x);
  const d = s[s.length - 1];
  return typeof d === 'number' ? d : undefined;
}
