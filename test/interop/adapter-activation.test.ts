// Adapter activations by name, as the builtin functions name them: `gelu` is the exact GELU
// (the IR op gelu_erf; AdapterHub's and transformers' "gelu"), `gelu_tanh` the tanh form (the
// IR op gelu; "gelu_new"). AdapterHub export writes those names and import reads them back; the
// same for the adapter's init (AdapterHub's "mam_adapter" or "bert") and dropout.
import { describe, expect, it } from 'vitest';
import { emitPeft } from '../../runtime/interop/emit-peft.ts';
import { parseAdapterConfig } from '../../runtime/interop/hf-config.ts';
import { planExport } from '../../runtime/interop/hf-peft.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { pyDumps } from '../../runtime/interop/pyjson.ts';
import { compilePeft, GPT2_FIXTURE } from './helpers.ts';

const tune = (act: string) => compilePeft(`import "gpt2.peft"\npeft { adapter(bottleneck = 4, activation = ${act}) on "h.*.attn", "h.*.mlp" }`, GPT2_FIXTURE, true).graph;

describe('adapter activations', () => {
  it.each([['gelu', 'gelu_erf', 'gelu'], ['gelu_tanh', 'gelu', 'gelu_new'], ['relu', 'relu', 'relu']])('%s is the IR op %s and AdapterHub\'s "%s", both ways', (ours, op, theirs) => {
    const g = tune(ours);
    const adapterOps = g.nodes.filter((n) => n.scope.includes('.adapter') && ['gelu', 'gelu_erf', 'relu'].includes(n.op)).map((n) => n.op);
    expect(new Set(adapterOps)).toEqual(new Set([op]));
    const part = planExport(g, hfNameMap(g), { baseModel: null }).parts.find((p) => p.part === 'bottleneck')!;
    const config = part.config.config as Record<string, unknown>;
    expect(config.non_linearity).toBe(theirs);
    const back = parseAdapterConfig(pyDumps(part.config), 'x/adapter_config.json');
    expect(back.kind === 'bottleneck' && back.activation).toBe(ours);
  });
});

describe('adapter init and dropout, as AdapterHub names them', () => {
  const adapter = (settings: string) => compilePeft(`import "gpt2.peft"\npeft { adapter(bottleneck = 4${settings}) on "h.*.attn", "h.*.mlp" }`, GPT2_FIXTURE, true).graph;

  it('init = mam (the default) starts up at zero; init = bert draws both from normal(0, 0.02)', () => {
    const initOf = (g: ReturnType<typeof adapter>, p: string) => g.params.find((x) => x.path === `h.0.attn.adapter.${p}`)!.init;
    expect(initOf(adapter(''), 'up.weight')).toEqual({ kind: 'zeros' });
    expect(initOf(adapter(''), 'down.weight')).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(32) });
    expect(initOf(adapter(', init = bert'), 'up.weight')).toEqual({ kind: 'normal', std: 0.02 });
    expect(initOf(adapter(', init = bert'), 'down.weight')).toEqual({ kind: 'normal', std: 0.02 });
    expect(initOf(adapter(', init = bert'), 'down.bias')).toEqual({ kind: 'zeros' });
  });

  it('dropout applies to the scaled branch, before the sum', () => {
    const g = adapter(', dropout = 0.25, scale = 2');
    const drop = g.nodes.find((n) => n.op === 'dropout' && n.scope.startsWith('h.0.attn.adapter'))!;
    expect(drop.attrs.p).toBe(0.25);
    expect(g.nodes[drop.inputs[0]!]!.op).toBe('scale');
    expect(g.nodes.find((n) => n.inputs.includes(drop.id))!.op).toBe('add');
  });

  it('exports init_weights ("mam_adapter" or "bert") and dropout, and --emit-peft writes them back', () => {
    // --emit-peft writes AdapterHub's computation: a preset, here DoubleSeqBn's flags (the same as a plain serial adapter on GPT-2).
    const emits = { '': 'adapter(preset = double_seq_bn, reduction = 8, activation = relu, init = mam)', ', dropout = 0.1, init = bert': 'adapter(preset = double_seq_bn, reduction = 8, activation = relu, dropout = 0.1)' };
    for (const [settings, init, dropout] of [['', 'mam_adapter', 0], [', dropout = 0.1, init = bert', 'bert', 0.1]] as const) {
      const g = adapter(settings);
      const part = planExport(g, hfNameMap(g), { baseModel: null }).parts.find((p) => p.part === 'bottleneck')!;
      const text = pyDumps(part.config);
      const config = JSON.parse(text).config as Record<string, unknown>;
      expect([config.init_weights, config.dropout]).toEqual([init, dropout]);
      const back = parseAdapterConfig(text, 'x/adapter_config.json');
      const emitted = emitPeft([{ where: 'x', config: back }], g, hfNameMap(g), 'gpt2.peft', 'x');
      expect(emitted).toContain(emits[settings]);
    }
  });
});
