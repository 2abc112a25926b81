// `adapter(preset = seq_bn | double_seq_bn | par_bn)`: the presets' settings (AdapterHub's config
// classes' defaults), what a user setting overrides, where the adapter may sit (a sub-layer's
// residual junction) and the one-line errors otherwise. The numbers against PyTorch are in
// test/core/adapterhub-reference.test.ts.
import { describe, expect, it } from 'vitest';
import { describeAdapter } from '../../compiler/multi/describe.ts';
import { TINY_GPT2 } from '../core/gpt2-fixture.ts';
import { summarize } from '../../compiler/params.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { batchFor } from '../webgpu/plan-suite.ts';
import { compileText, graphOf, graphOfText, tinySet } from '../helpers.ts';

const GPT2 = TINY_GPT2;
const BERT = ['vocab_size=64,hidden_size=32,num_hidden_layers=2,num_attention_heads=4,intermediate_size=64,max_position_embeddings=16,num_labels=3'];

function settingsOf(model: string, rule: string, set: string[]) {
  const g = graphOfText(`import "${model}.peft"\npeft { ${rule} }`, set);
  const p = g.params.find((x) => x.path.endsWith('.adapter.down.weight'))!;
  return { settings: p.method!.settings, width: p.shape[0], ops: g.nodes.map((n) => n.op) };
}

function errorsOf(model: string, rule: string, set: string[]): string[] {
  return compileText(`import "${model}.peft"\npeft { ${rule} }`, set).diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
}

describe('adapter presets', () => {
  it('fill every setting left out with the AdapterHub config class default', () => {
    const d = 32; // the tiny models' width
    expect(settingsOf('gpt2', 'adapter(preset = seq_bn) on "h.*.mlp"', GPT2)).toMatchObject({
      settings: { preset: 'seq_bn', reduction: 16, activation: 'relu', init: 'bert', scale: 1, placement: 'serial', original_ln_before: true, original_ln_after: true, residual_before_ln: true },
      width: d / 16,
    });
    expect(settingsOf('gpt2', 'adapter(preset = double_seq_bn) on "h.*.attn", "h.*.mlp"', GPT2).settings).toMatchObject({ activation: 'silu', init: 'bert', original_ln_before: false });
    expect(settingsOf('bert', 'adapter(preset = par_bn) on "encoder.layer.*.output"', BERT)).toMatchObject({
      settings: { reduction: 2, activation: 'relu', init: 'mam', scale: 4, placement: 'parallel' },
      width: d / 2,
    });
  });

  it('keep what the user sets, and `bottleneck` replaces the preset reduction', () => {
    const s = settingsOf('gpt2', 'adapter(preset = par_bn, bottleneck = 3, scale = 1, init = bert, original_ln_after = false) on "h.*.mlp"', GPT2);
    expect(s.width).toBe(3);
    expect(s.settings).toMatchObject({ bottleneck: 3, reduction: 0, scale: 1, init: 'bert', original_ln_after: false, placement: 'parallel' });
  });

  it('leave a plain adapter as it was: no preset settings, the module output wrapped', () => {
    const s = settingsOf('gpt2', 'adapter(bottleneck = 4) on "h.*.mlp"', GPT2);
    expect(Object.keys(s.settings).sort()).toEqual(['activation', 'bottleneck', 'dropout', 'init', 'placement', 'reduction', 'scale']);
  });

  it('re-apply a post-LN layer norm without leaving the model\'s own behind (no dead nodes)', () => {
    for (const preset of ['seq_bn', 'double_seq_bn', 'par_bn']) {
      const g = graphOfText(`import "bert.peft"\npeft { adapter(preset = ${preset}) on "encoder.layer.*.attention.output", "encoder.layer.*.output" }`, BERT);
      const used = new Set(g.nodes.flatMap((n) => n.inputs));
      const dead = g.nodes.filter((n) => !used.has(n.id) && n.op !== 'param' && n.op !== 'input' && n.id !== g.outputs.loss);
      expect(dead.map((n) => `${n.op} ${n.scope}`), preset).toEqual([]);
      // one norm per sub-layer, two with seq_bn (original_ln_before: AdapterHub applies it twice)
      expect(g.nodes.filter((n) => n.op === 'layernorm').length, preset).toBe(1 + 2 * 2 * (preset === 'seq_bn' ? 2 : 1));
    }
  });

  it('refuse, in one line each, what AdapterHub has no place or meaning for', () => {
    expect(errorsOf('gpt2', 'adapter(preset = houlsby) on "h.*.mlp"', GPT2)).toEqual(['`adapter`\'s preset must be one of none, seq_bn, double_seq_bn, par_bn (AdapterHub\'s bottleneck configs); found the option `houlsby`']);
    expect(errorsOf('gpt2', 'adapter(bottleneck = 4, original_ln_before = true) on "h.*.mlp"', GPT2)[0]).toMatch(/^`original_ln_before` is one of AdapterHub's flags: it needs `preset = seq_bn`/);
    expect(errorsOf('gpt2', 'adapter(preset = par_bn, original_ln_before = true) on "h.*.mlp"', GPT2)[0]).toMatch(/^`original_ln_before = true` is for serial adapters/);
    // Not written but the preset's: the error says where it came from and what to write.
    expect(errorsOf('gpt2', 'adapter(preset = seq_bn, placement = parallel) on "h.*.mlp"', GPT2)).toEqual([
      "`placement = parallel` meets seq_bn's `original_ln_before = true`, which is for serial adapters: a parallel one reads the sub-layer's residual input: write `original_ln_before = false`, or use `preset = par_bn` (AdapterHub's parallel adapter)",
    ]);
    expect(errorsOf('gpt2', 'adapter(preset = double_seq_bn, residual_before_ln = post_add) on "h.*.mlp"', GPT2)[0]).toMatch(/needs `original_ln_before = true`$/);
    expect(errorsOf('gpt2', 'adapter(preset = seq_bn, residual_before_ln = post_add) on "h.*.mlp"', GPT2)).toEqual(
      ['an adapter on `h.0.mlp` is on a pre-LN layer, which has no residual add before the adapter for `residual_before_ln = post_add` to read (AdapterHub fails there too)'],
    );
    const where = errorsOf('gpt2', 'adapter(preset = seq_bn) on "h.*.mlp.c_fc"', GPT2);
    expect(where).toHaveLength(1); // the first layer's error stops the trace
    expect(where[0]).toMatch(/^an adapter on `h\.0\.mlp\.c_fc` is AdapterHub's seq_bn: it goes where a sub-layer meets the residual stream, .* `h\.0\.mlp\.c_fc` is neither$/);
    // BERT's intermediate reads a LayerNorm's output, but not its sibling's: not a pre-LN junction.
    expect(errorsOf('bert', 'adapter(preset = seq_bn) on "encoder.layer.0.intermediate"', BERT)[0]).toMatch(/`encoder\.layer\.0\.intermediate` is neither$/);
  });
});

describe('adapter presets among several adapters', () => {
  it('are not stacked into a bank of module-output adapters: they run their own graph', () => {
    const preset = describeAdapter(graphOfText('import "gpt2.peft"\npeft { adapter(preset = par_bn) on "h.*.mlp" }', GPT2));
    expect(preset.adapters).toEqual([]);
    expect(preset.other).toContain('h.0.mlp.adapter.down.weight');
    expect(describeAdapter(graphOfText('import "gpt2.peft"\npeft { adapter(bottleneck = 4) on "h.*.mlp" }', GPT2)).adapters).toHaveLength(2);
  });
});

describe('the preset examples', () => {
  it('count as AdapterHub does: BERT-base seq_bn 894,528 (+ the classifier), GPT-2 par_bn on the MLPs 7,091,712', () => {
    const bert = summarize(graphOf('bert-seq-bn.peft'));
    expect(bert.trainable).toBe(12 * (768 * 48 + 48 + 48 * 768 + 768) + (768 * 2 + 2));
    expect(bert.trainable).toBe(896_066);
    expect(summarize(graphOf('gpt2-par-bn.peft')).trainable).toBe(7_091_712);
  });
});

describe('adapter presets with --recompute blocks', () => {
  it.each(['bert-seq-bn.peft', 'gpt2-par-bn.peft'])('%s: loss and every gradient bit for bit those without recomputation (dropout on)', (file) => {
    const g = graphOf(file, tinySet(file));
    const run = (mode: 'none' | 'blocks') => {
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 3 });
      const rng = new Random(3);
      const d = store.trainable.data;
      for (let i = 0; i < d.length; i++) d[i] = d[i]! + rng.normal(0, 0.1); // par_bn's up starts at zero
      return new CpuExecutor(buildTrainingGraph(g, undefined, mode)).run(store, batchFor(g, rng, 2, 6), { precision: 'f32', training: true, step: 3 });
    };
    const [plain, again] = [run('none'), run('blocks')];
    expect(again.loss).toBe(plain.loss);
    for (const [path, grad] of plain.grads) expect(Array.from(again.grads.get(path)!.data), path).toEqual(Array.from(grad.data));
  });
});
