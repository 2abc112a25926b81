// The settings of `adapter`, with AdapterHub's bottleneck configurations as presets:
// `adapter(preset = seq_bn)` (Pfeiffer), `double_seq_bn` (Houlsby), `par_bn` (He et al.'s
// parallel adapter). (`config` would be AdapterHub's word, but it is a keyword of the language.)
// A preset fills every setting the user leaves out with that config class's default (adapters'
// configuration/adapter_config.py: SeqBnConfig, DoubleSeqBnConfig, ParBnConfig); AdapterHub's
// flags that change the computation (original_ln_before, original_ln_after, residual_before_ln)
// are settings too, and only mean something with a preset, where the adapter sits at the
// sub-layer's residual junction (sublayer.ts).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { ParamSpec, Reporter } from '../evaluate.ts';
import { describe, type Const } from '../values.ts';
import type { Checker, Settings } from './setting-checker.ts';

export const ADAPTER_ACTIVATIONS = ['relu', 'gelu', 'gelu_tanh', 'silu', 'tanh'];

/** AdapterHub's config names → what peftc's settings are under them. */
export const BN_CONFIGS: Readonly<Record<string, Settings>> = {
  // SeqBnConfig: one adapter after the feed-forward, the layer's LayerNorm applied before it too.
  seq_bn: { reduction: 16, activation: 'relu', init: 'bert', scale: 1, placement: 'serial', original_ln_before: true, original_ln_after: true, residual_before_ln: true },
  // DoubleSeqBnConfig: after attention and after the feed-forward; "swish" is SiLU.
  double_seq_bn: { reduction: 16, activation: 'silu', init: 'bert', scale: 1, placement: 'serial', original_ln_before: false, original_ln_after: true, residual_before_ln: true },
  // ParBnConfig: reads the sub-layer's residual input, scaled by 4, up-projection at zero.
  par_bn: { reduction: 2, activation: 'relu', init: 'mam', scale: 4, placement: 'parallel', original_ln_before: false, original_ln_after: true, residual_before_ln: true },
};

export const JUNCTION_FLAGS = ['original_ln_before', 'original_ln_after', 'residual_before_ln'] as const;

const num = (v: number): Const => ({ kind: 'num', v });
const sym = (name: string): Const => ({ kind: 'sym', name });
const bool = (v: boolean): Const => ({ kind: 'bool', v });

/**
 * The arguments in their positional order (new ones last, so `adapter(16)` keeps its meaning).
 * A bound value that is one of these very default objects was left out by the user: a preset
 * may then replace it.
 */
export const ADAPTER_ARGS: ParamSpec[] = [
  { name: 'bottleneck', default: num(0) },
  { name: 'reduction', default: num(0) },
  { name: 'activation', default: sym('relu') },
  { name: 'placement', default: sym('serial') },
  { name: 'scale', default: num(1) },
  { name: 'dropout', default: num(0) },
  { name: 'init', default: sym('mam') },
  { name: 'preset', default: sym('none') },
  { name: 'original_ln_before', default: bool(false) },
  { name: 'original_ln_after', default: bool(true) },
  { name: 'residual_before_ln', default: bool(true) },
];

const DEFAULTS = new Set(ADAPTER_ARGS.map((a) => a.default));

/** Checks the bound settings of one `adapter(…)`; `c` is the method checker of methods.ts. */
export function checkAdapter(c: Checker, bound: Map<string, Const>, range: SourceRange, r: Reporter): Settings | undefined {
  const named = bound.get('preset')!;
  const preset = named.kind === 'sym' ? BN_CONFIGS[named.name] : undefined;
  if (!(named.kind === 'sym' && (named.name === 'none' || preset))) {
    r.error(Codes.BadMethodSetting, `\`adapter\`'s preset must be one of none, ${Object.keys(BN_CONFIGS).join(', ')} (AdapterHub's bottleneck configs); found ${describe(named)}`, range);
    return undefined;
  }
  const given = (key: string) => !DEFAULTS.has(bound.get(key)!);
  const lnBeforeWritten = given('original_ln_before'); // before the preset fills it in
  if (!preset) {
    const stray = JUNCTION_FLAGS.find(given);
    if (stray) {
      r.error(Codes.BadMethodSetting, `\`${stray}\` is one of AdapterHub's flags: it needs \`preset = seq_bn\`, \`double_seq_bn\` or \`par_bn\`, which place the adapter at the sub-layer's residual junction`, range);
      return undefined;
    }
  } else {
    // The preset's value for every setting left out; `bottleneck` given replaces its reduction.
    for (const [key, v] of Object.entries(preset)) {
      if (given(key) || (key === 'reduction' && given('bottleneck'))) continue;
      bound.set(key, typeof v === 'number' ? num(v) : typeof v === 'boolean' ? bool(v) : sym(v));
    }
  }
  c.int('bottleneck', 0);
  c.number('reduction', 0);
  c.option('activation', ADAPTER_ACTIVATIONS);
  c.option('placement', ['serial', 'parallel']);
  c.number('scale');
  c.number('dropout', 0, 0.999);
  c.option('init', ['mam', 'bert']);
  if (preset) {
    c.out.preset = (named as { name: string }).name;
    c.flag('original_ln_before');
    c.flag('original_ln_after');
    const rbl = bound.get('residual_before_ln')!;
    if (rbl.kind === 'sym' && rbl.name === 'post_add') c.out.residual_before_ln = 'post_add';
    else if (rbl.kind === 'bool') c.out.residual_before_ln = rbl.v;
    else {
      r.error(Codes.BadMethodSetting, `\`adapter\`'s residual_before_ln must be \`true\`, \`false\` or \`post_add\`; found ${describe(rbl)}`, range);
      return undefined;
    }
  }
  const s = c.done();
  if (!s) return undefined;
  if ((s.bottleneck === 0) === (s.reduction === 0)) {
    r.error(Codes.BadMethodSetting, '`adapter` needs exactly one of `bottleneck` (the width) or `reduction` (width = d / reduction)', range);
    return undefined;
  }
  if (preset && s.placement === 'parallel' && s.original_ln_before === true) {
    const why = "is for serial adapters: a parallel one reads the sub-layer's residual input";
    r.error(Codes.BadMethodSetting, lnBeforeWritten
      ? `\`original_ln_before = true\` ${why} (AdapterHub's ParallelAdapter ignores the flag)`
      : `\`placement = parallel\` meets ${String(c.out.preset)}'s \`original_ln_before = true\`, which ${why}: write \`original_ln_before = false\`, or use \`preset = par_bn\` (AdapterHub's parallel adapter)`, range);
    return undefined;
  }
  if (s.residual_before_ln === 'post_add' && s.original_ln_before !== true) {
    r.error(Codes.BadMethodSetting, '`residual_before_ln = post_add` takes the residual after the layer\'s own residual add, so it needs `original_ln_before = true`', range);
    return undefined;
  }
  return s;
}
