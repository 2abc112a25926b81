// `peftc params`: the compact module tree (golden, no colour), the flat table behind
// --flat, and --json exactly as before: summarize()'s object.
import { describe, expect, it } from 'vitest';
import { paramsText } from '../../cli/params.ts';
import { summarize } from '../../compiler/params.ts';
import { expectGolden } from '../grammar/golden.ts';
import { compileExample, tinySet } from '../helpers.ts';

describe('peftc params', () => {
  const lora = compileExample('gpt2-lora.peft');

  it('gpt2-lora: the module tree, identical layers collapsed (golden)', () => {
    const text = paramsText(lora, {});
    expectGolden(new URL('golden/gpt2-lora.params.txt', import.meta.url), text);
    expect(text).toContain('h.0–11 ×12');
    expect(text).toContain('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    expect(text).not.toContain('\x1b[');
  });

  it('layers that differ are grouped by runs', () => {
    const text = paramsText(compileExample('gpt2-lora-prompt.peft', tinySet('gpt2').map((s) => s.replace('n_layer=2', 'n_layer=4'))), {});
    expect(text).toMatch(/├─ h +repeat ×4/);
    expect(text).toMatch(/│  ├─ h\.0 +Block/);
    expect(text).toMatch(/│  └─ h\.2–3 ×2 +Block/);
  });

  it('an adapter shows the size setting it was given: reduction (its own or its preset\'s) or bottleneck, not both', () => {
    const preset = paramsText(compileExample('bert-seq-bn.peft', tinySet('bert')), {});
    expect(preset).toContain('adapter(reduction=16, activation=relu');
    expect(preset).not.toContain('bottleneck=');
    expect(paramsText(compileExample('bert-adapter.peft', tinySet('bert')), {})).toMatch(/adapter\(reduction=16, activation=gelu/);
    const width = paramsText(compileExample('tiny-gpt-adapter.peft'), {});
    expect(width).toContain('adapter(bottleneck=16, activation=relu');
    expect(width).not.toContain('reduction=');
  });

  it('colours only when asked (a terminal)', () => {
    expect(paramsText(lora, {}, { color: true })).toContain('\x1b[34m▏');
  });

  it('--flat: one row per parameter, as before', () => {
    const text = paramsText(lora, { flat: true });
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^path +shape +count +partition +origin$/);
    expect(lines.find((l) => l.startsWith('h.0.attn.c_attn.lora_A.weight '))).toMatch(/^h\.0\.attn\.c_attn\.lora_A\.weight +\[8, 768\] +6,144 +trainable +lora$/);
    expect(text.endsWith('\n\ntrainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364\n')).toBe(true);
  });

  it('--json: summarize() as it was', () => {
    const json = JSON.parse(paramsText(lora, { json: true }));
    expect(json).toEqual(JSON.parse(JSON.stringify(summarize(lora.graph!))));
    expect(Object.keys(json)).toEqual(['total', 'trainable', 'frozen', 'trainable_percent', 'kept', 'params']);
    expect(Object.keys(json.params[0])).toEqual(['path', 'shape', 'count', 'partition', 'origin']);
  });

  it('prefix tuning adds the line after training', () => {
    const text = paramsText(compileExample('gpt2-prefix.peft'), {});
    expect(text).toContain('after training (reparameterisation discarded): trainable params: 368,640');
    expect(text).toMatch(/└─ prefix_encoder +PrefixEncoder +9,864,704 +9,864,704 +██████████ +100%/);
  });
});
