// Adapter activations by name, as the builtin functions name them: `gelu` is the exact GELU
// (the IR op gelu_erf; AdapterHub's and transformers' "gelu"), `gelu_tanh` the tanh form (the
// IR op gelu; "gelu_new"). AdapterHub export writes those names and import reads them back.
import { describe, expect, it } from 'vitest';
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
