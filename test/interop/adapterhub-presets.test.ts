// AdapterHub folders of the bottleneck presets, both ways: the reference's folders
// (test/fixtures/adapterhub-bn-tiny, written as `save_adapter(…, use_safetensors=True)` writes
// them) import into `adapter(preset = …)` and give the PyTorch numbers; a checkpoint of each
// exports to the same adapter_config.json and tensors; --emit-peft writes a rule that computes the
// same; a trained head travels as `save_adapter(…, with_head=True)` writes it, a trained LayerNorm
// is refused in one line.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { folderFiles } from '../../cli/interop.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { parseAdapterConfig } from '../../runtime/interop/hf-config.ts';
import { importAdapters } from '../../runtime/interop/hf-import.ts';
import { emitPeft } from '../../runtime/interop/emit-peft.ts';
import { exportCheckpoint, importToCheckpoint, readAdapterFolders } from '../../runtime/interop/interop-node.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { BN_CASES, BN_DIR, bnBatch, bnModel, bnWeights, expectMatches, TINY_BERT } from '../core/adapterhub-fixture.ts';
import { TINY_GPT2 } from '../core/gpt2-fixture.ts';
import { compilePeft, makeCheckpoint, tempDir } from './helpers.ts';

const cases = Object.keys(BN_CASES);
const setOf = (c: string) => (bnModel(c) === 'gpt2' ? TINY_GPT2 : TINY_BERT);
const textOf = (c: string) => `import "${bnModel(c)}.peft"\npeft {\n  ${BN_CASES[c]}\n}`;

describe('AdapterHub preset folders', () => {
  const tmp = tempDir();

  it.each(cases)('%s: the reference folder imports and gives the PyTorch numbers', async (c) => {
    const { graph: g } = compilePeft(textOf(c), setOf(c), true);
    const values = importAdapters(g, hfNameMap(g), await readAdapterFolders(join(BN_DIR, c)));
    const store = createStore(g, 'f64');
    loadWeights(g, store, bnWeights(c)); // the base (and the reference's adapter, replaced next)
    for (const [path, v] of values) store.trainable.view(path).set(v);
    const res = new CpuExecutor(buildTrainingGraph(g)).run(store, bnBatch(c, g).batch, { precision: 'f64', training: false, step: 0 });
    expectMatches(c, { loss: res.loss, logits: res.logits.data, grads: new Map([...res.grads].map(([k, v]) => [k, v.data])) }, 2e-6, 1e-5, 1e-5);
  });

  it.each(cases)('%s: export writes the config dict and tensors AdapterHub writes', async (c) => {
    const ck = join(tmp, `${c}-ck`);
    const model = compilePeft(textOf(c), setOf(c), true);
    await importToCheckpoint(join(BN_DIR, c), { graph: model.graph, source: { entry: model.entry, files: model.files }, set: setOf(c) }, ck);
    const out = join(tmp, `${c}-out`);
    const res = await exportCheckpoint(ck, out, { baseModel: null, adapterName: 'bn' });
    expect(res.plan.skipped).toEqual([]);
    expect(readdirSync(out).sort()).toEqual(['adapter.safetensors', 'adapter_config.json']);
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(BN_DIR, c, 'adapter_config.json'), 'utf8')));
    const [got, want] = [join(out, 'adapter.safetensors'), join(BN_DIR, c, 'adapter.safetensors')].map((f) => parseSafetensors(readFileSync(f)));
    expect([...got!.tensors.keys()].sort()).toEqual([...want!.tensors.keys()].sort());
    for (const k of want!.tensors.keys()) expect(getFloat32(got!, k), k).toEqual(getFloat32(want!, k));
  });

  it.each(cases)('%s: --emit-peft writes a rule that computes the same', async (c) => {
    const [folder] = await readAdapterFolders(join(BN_DIR, c));
    const base = compilePeft(`import "${bnModel(c)}.peft"`, setOf(c)).graph;
    const text = emitPeft([{ where: c, config: folder!.config }], base, hfNameMap(base), `${bnModel(c)}.peft`, 'x');
    expect(text).toMatch(/adapter\(preset = /);
    const settings = (t: string) => {
      const g = compilePeft(t, setOf(c)).graph;
      // The width, not how it was asked for; the preset's name only supplies defaults (the flags say it all).
      return g.params.filter((p) => p.path.endsWith('.adapter.down.weight')).map((p) => ({ module: p.method!.module, width: p.shape[0], ...p.method!.settings, bottleneck: 0, reduction: 0, preset: typeof p.method!.settings.preset }));
    };
    expect(settings(text)).toEqual(settings(textOf(c)));
  });

  it('a trained classifier goes beside the adapter as head_config.json and model_head.safetensors, and comes back', async () => {
    const text = `import "bert.peft"\npeft {\n  adapter(preset = seq_bn, reduction = 4) on "encoder.layer.*.output"\n  train "classifier"\n}`;
    const ck = join(tmp, 'head-ck');
    const { adapter } = await makeCheckpoint(ck, text, TINY_BERT);
    const out = join(tmp, 'head-out');
    const res = await exportCheckpoint(ck, out, { baseModel: 'tiny-bert' });
    // What `peftc export` prints: each weights file with its own count.
    expect(folderFiles(res.plan.parts[0]!)).toBe('adapter_config.json, head_config.json, adapter.safetensors: 8 tensors, model_head.safetensors: 2 tensors');
    expect(readdirSync(out).sort()).toEqual(['adapter.safetensors', 'adapter_config.json', 'head_config.json', 'model_head.safetensors']);
    const head = JSON.parse(readFileSync(join(out, 'head_config.json'), 'utf8'));
    expect(head).toEqual({
      config: null, hidden_size: 32, label2id: { LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 }, model_class: 'BertForSequenceClassification',
      model_name: 'tiny-bert', model_type: 'bert', name: null, num_labels: 3, version: 'adapters.1.2.0',
    });
    const weights = parseSafetensors(readFileSync(join(out, 'model_head.safetensors')));
    expect([...weights.tensors.keys()].sort()).toEqual(['classifier.bias', 'classifier.weight']);
    expect(getFloat32(weights, 'classifier.weight')).toEqual(adapter['classifier.weight']!.data);
    const model = compilePeft(text, TINY_BERT, true);
    const back = join(tmp, 'head-back');
    await importToCheckpoint(out, { graph: model.graph, source: { entry: model.entry, files: model.files }, set: TINY_BERT }, back);
    const got = parseSafetensors(readFileSync(join(back, 'adapter.safetensors')));
    expect([...got.tensors.keys()].sort()).toEqual(Object.keys(adapter).sort());
    for (const [name, t] of Object.entries(adapter)) expect(getFloat32(got, name), name).toEqual(t.data);
    // --emit-peft trains the head the folder carries, so the .peft it prints imports the folder.
    const base = compilePeft('import "bert.peft"', TINY_BERT).graph;
    const emitted = emitPeft(await readAdapterFolders(out), base, hfNameMap(base), 'bert.peft', 'x');
    expect(emitted).toContain('  adapter(preset = seq_bn, reduction = 4) on "encoder.layer.*.output"\n  train "classifier"\n}');
    const fromEmitted = compilePeft(emitted, TINY_BERT, true);
    await importToCheckpoint(out, { graph: fromEmitted.graph, source: { entry: fromEmitted.entry, files: fromEmitted.files }, set: TINY_BERT }, join(tmp, 'head-emitted'));
  });

  it('a trained LayerNorm outside the adapter is refused in one line, nothing written', async () => {
    const ck = join(tmp, 'ln-ck');
    await makeCheckpoint(ck, `import "bert.peft"\npeft {\n  adapter(preset = double_seq_bn) on "encoder.layer.*.attention.output", "encoder.layer.*.output"\n  train "classifier", "encoder.layer.*.output.LayerNorm"\n}`, TINY_BERT);
    const out = join(tmp, 'ln-out');
    await expect(exportCheckpoint(ck, out)).rejects.toThrow(
      /^trained module\(s\) encoder\.layer\.0\.output\.LayerNorm, encoder\.layer\.1\.output\.LayerNorm \(and with them the head classifier, which is not written alone\): an AdapterHub adapter folder holds the bottleneck adapter and a prediction head only; .*`peftc merge` the whole model$/,
    );
    expect(readdirSync(tmp)).not.toContain('ln-out');
  });

  it('two different presets in one fine-tune are refused in one line naming a module of each', async () => {
    const ck = join(tmp, 'two-ck');
    await makeCheckpoint(ck, `import "bert.peft"\npeft {\n  adapter(preset = seq_bn) on "encoder.layer.*.output"\n  adapter(preset = double_seq_bn) on "encoder.layer.*.attention.output"\n}`, TINY_BERT);
    const out = join(tmp, 'two-out');
    await expect(exportCheckpoint(ck, out)).rejects.toThrow(
      /two-ck: nothing in this fine-tune can be exported: bottleneck adapters with different preset settings \(encoder\.layer\.0\.attention\.output: double_seq_bn, encoder\.layer\.0\.output: seq_bn\): one `adapters` config has one preset$/,
    );
    expect(readdirSync(tmp)).not.toContain('two-out');
  });

  it('a config without "version" is read as the library reads it: "gelu" is then gelu_new', () => {
    const c = JSON.parse(readFileSync(resolve(BN_DIR, 'gpt2-seq_bn', 'adapter_config.json'), 'utf8'));
    c.config.non_linearity = 'gelu';
    const versioned = parseAdapterConfig(JSON.stringify(c), 'x');
    delete c.version;
    const legacy = parseAdapterConfig(JSON.stringify(c), 'x');
    expect([versioned.kind === 'bottleneck' && versioned.activation, legacy.kind === 'bottleneck' && legacy.activation]).toEqual(['gelu', 'gelu_tanh']);
  });

  it('hostile configs are refused in one line naming the field', async () => {
    const good = JSON.parse(readFileSync(resolve(BN_DIR, 'gpt2-par_bn', 'adapter_config.json'), 'utf8'));
    const base = compilePeft('import "gpt2.peft"', TINY_GPT2).graph;
    const tries: [(c: { config: Record<string, unknown> }) => void, RegExp][] = [
      [(c) => (c.config.reduction_factor = 0), /reduction_factor must be a positive number or an object of numbers$/],
      [(c) => (c.config.reduction_factor = { '1': 4 }), /reduction_factor per layer needs a "default"$/],
      [(c) => (c.config.non_linearity = 'leakyrelu'), /non_linearity "leakyrelu" has no exact counterpart here/],
      [(c) => (c.config.scaling = 'learned'), /scaling "learned" is not supported/],
      [(c) => (c.config.residual_before_ln = 'pre_add'), /residual_before_ln "pre_add" must be true, false or "post_add"$/],
      [(c) => (c.config.ln_after = true), /ln_after = true \(a new LayerNorm after the bottleneck\) has no counterpart/],
      [(c) => (c.config.leave_out = ['0']), /leave_out must be a list of layer numbers$/],
      [(c) => (c.config.output_adapter = false), /the config places no adapter/],
      [(c) => (c.config.architecture = 'lora'), /an `adapters` lora adapter; peftc imports bottleneck adapters/],
    ];
    for (const [edit, message] of tries) {
      const c = structuredClone(good);
      edit(c);
      const run = () => emitPeft([{ where: 'x', config: parseAdapterConfig(JSON.stringify(c), 'x/adapter_config.json') }], base, hfNameMap(base), 'gpt2.peft', 'x');
      expect(run, JSON.stringify(c.config).slice(0, 80)).toThrow(message);
      try {
        run();
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
      }
    }
  });

  it('a folder whose flags differ from the .peft is refused, naming them', async () => {
    const model = compilePeft(textOf('gpt2-double_seq_bn'), TINY_GPT2, true);
    const folders = await readAdapterFolders(join(BN_DIR, 'gpt2-seq_bn'));
    expect(() => importAdapters(model.graph, hfNameMap(model.graph), folders)).toThrow(/its original_ln_before is true, the \.peft's `adapter\(preset = double_seq_bn\)` has false/);
    // The places the folder leaves out, in one clause for every layer.
    expect(() => importAdapters(model.graph, hfNameMap(model.graph), folders)).toThrow(/; the \.peft has adapters on `h\.0\.attn`, `h\.1\.attn`, the folder none$/);
    const plain = compilePeft('import "gpt2.peft"\npeft { adapter(bottleneck = 2) on "h.*.mlp" }', TINY_GPT2, true);
    expect(() => importAdapters(plain.graph, hfNameMap(plain.graph), folders)).toThrow(/its original_ln_before is true, the \.peft's plain adapter computes false \(write `adapter\(preset = …\)`/);
  });
});
