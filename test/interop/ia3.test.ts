// IA³ as Hugging Face PEFT defines it: the counts on GPT-2 small, the vectors' place in the
// graph, export → import in PEFT's format (peft_type IA3, `ia3_l` [out, 1] or [1, in]), the
// config a PEFT folder resolves to, and merging (the merged base gives the unmerged logits).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { summarize } from '../../compiler/params.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { getFloat32, parseSafetensors, serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { emitPeft } from '../../runtime/interop/emit-peft.ts';
import { parseAdapterConfig } from '../../runtime/interop/hf-config.ts';
import { loadInit } from '../../runtime/interop/hf-weights-node.ts';
import { exportCheckpoint, importToCheckpoint, mergeToFile } from '../../runtime/interop/interop-node.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { initParams } from '../../runtime/init.ts';
import { walkViz } from '../../viz/tree.ts';
import { compileText, graphOfText } from '../helpers.ts';
import { vizOf } from '../viz/helpers.ts';
import { baseTensors, compilePeft, GPT2_FIXTURE, logits, makeCheckpoint, maxDiff, readJson, tempDir } from './helpers.ts';

const GPT2_IA3 = 'import "gpt2.peft"\npeft {\n  ia3 on "c_attn"\n  ia3(feedforward = true) on "mlp.c_proj"\n}';

describe('ia3', () => {
  it("GPT-2 small with PEFT's default IA³ targets trains 64,512 parameters, vectors starting at one", () => {
    const g = graphOfText(GPT2_IA3);
    const ia3 = g.params.filter((p) => p.origin === 'ia3');
    expect(ia3.map((p) => p.path).slice(0, 2)).toEqual(['h.0.attn.c_attn.ia3_l', 'h.0.mlp.c_proj.ia3_l']);
    expect(ia3[0]!.shape).toEqual([2304]); // the output of c_attn
    expect(ia3[1]!.shape).toEqual([3072]); // the input of mlp.c_proj (feed-forward)
    expect(ia3.every((p) => p.init.kind === 'ones' && p.partition === 'trainable')).toBe(true);
    const c = summarize(g);
    expect([c.trainable, c.total]).toEqual([64_512, 124_504_320]);
  });

  it('scales the output (bias included) or, feed-forward, the input', () => {
    const g = graphOfText(GPT2_IA3, GPT2_FIXTURE);
    const node = (path: string) => g.nodes.find((n) => n.op === 'param' && n.attrs.path === path)!.id;
    const user = (id: number) => g.nodes.find((n) => n.inputs.includes(id))!;
    const out = user(node('h.0.attn.c_attn.ia3_l'));
    expect(out.op).toBe('mul');
    expect(g.nodes[out.inputs[0]!]!.op).toBe('linear'); // (x·W + b) ⊙ l
    const ff = user(node('h.0.mlp.c_proj.ia3_l'));
    expect(ff.op).toBe('mul');
    expect(user(ff.id).op).toBe('linear'); // (x ⊙ l)·W + b
  });

  it('the partition view counts the vectors as IA³ and shows the method on its modules', () => {
    const { tree } = vizOf('tiny-gpt-ia3.peft');
    expect(tree.byMethod.ia3).toBe(1_792);
    const mlp = [...walkViz(tree)].find((n) => n.path === 'h.0.mlp.c_proj')!;
    expect(mlp.methods).toEqual([{ name: 'ia3', settings: { feedforward: true } }]);
    expect(mlp.params.find((p) => p.name === 'ia3_l')).toMatchObject({ shape: [256], method: 'ia3', partition: 'trainable' });
  });

  it('`ia3` takes no parentheses; it applies to Linear layers only', () => {
    expect(compileText('import "gpt2.peft"\npeft { ia3() on "c_fc" }').graph).toBeDefined();
    const bad = compileText('import "gpt2.peft"\npeft { ia3 on "ln_1" }');
    expect(bad.diagnostics.map((d) => d.message)).toContain('ia3 applies to Linear layers; `h.0.ln_1` is a LayerNorm (and 11 more modules matched by this rule)');
    const setting = compileText('import "gpt2.peft"\npeft { ia3(feedforward = 1) on "c_fc" }');
    expect(setting.diagnostics.map((d) => d.message)).toContain("`ia3`'s feedforward must be `true` or `false`; found the number 1");
  });

  it('with LoRA on the same Linear, IA³ wraps it: the LoRA branch is scaled too', () => {
    const g = graphOfText('import "gpt2.peft"\npeft {\n lora(rank = 2) on "c_attn"\n ia3 on "c_attn"\n}', GPT2_FIXTURE);
    const l = g.nodes.find((n) => n.op === 'param' && n.attrs.path === 'h.0.attn.c_attn.ia3_l')!;
    const mul = g.nodes.find((n) => n.inputs.includes(l.id))!;
    expect(g.nodes[mul.inputs[0]!]!.op).toBe('add'); // base + lora, then ⊙ l
  });
});

describe('ia3 in Hugging Face PEFT format', () => {
  const tmp = tempDir();

  it('exports peft_type IA3 with PEFT names and shapes, and imports back the same tensors', async () => {
    const ck = join(tmp, 'ck');
    const { adapter } = await makeCheckpoint(ck, GPT2_IA3, GPT2_FIXTURE);
    const out = join(tmp, 'hf');
    const res = await exportCheckpoint(ck, out, { baseModel: 'gpt2' });
    expect(res.plan.skipped).toEqual([]);
    const config = readJson(join(out, 'adapter_config.json')) as Record<string, unknown>;
    expect(config.peft_type).toBe('IA3');
    expect(config.fan_in_fan_out).toBe(true);
    expect(config.init_ia3_weights).toBe(true);
    // c_proj is also attn.c_proj's name, so the exact modules are written as a regular expression.
    expect(config.target_modules).toBe('transformer\\.h\\.(0|1)\\.attn\\.c_attn|transformer\\.h\\.(0|1)\\.mlp\\.c_proj'.replace(/^/, '(').replace(/$/, ')'));
    expect(config.feedforward_modules).toBe('transformer\\.h\\.(0|1)\\.mlp\\.c_proj');
    const file = parseSafetensors(readFileSync(join(out, 'adapter_model.safetensors')));
    expect(file.tensors.get('base_model.model.transformer.h.0.attn.c_attn.ia3_l')!.shape).toEqual([96, 1]);
    expect(file.tensors.get('base_model.model.transformer.h.1.mlp.c_proj.ia3_l')!.shape).toEqual([1, 128]);
    expect(file.tensors.size).toBe(4);

    const model = compilePeft(GPT2_IA3, GPT2_FIXTURE, true);
    const back = join(tmp, 'back');
    await importToCheckpoint(out, { graph: model.graph, source: { entry: model.entry, files: model.files }, set: GPT2_FIXTURE }, back);
    const got = parseSafetensors(readFileSync(join(back, 'adapter.safetensors')));
    for (const [name, t] of Object.entries(adapter)) expect(getFloat32(got, name)).toEqual(t.data);
  });

  it("reads PEFT's own config for GPT-2 (leaf names; feed-forward names match any end) and refuses a mismatch", () => {
    const g = compilePeft(GPT2_IA3, GPT2_FIXTURE, true).graph;
    const names = hfNameMap(g);
    const where = 'a/adapter_config.json';
    const cfg = parseAdapterConfig(JSON.stringify({ peft_type: 'IA3', target_modules: ['c_attn', 'mlp.c_proj'], feedforward_modules: ['mlp.c_proj'], fan_in_fan_out: true }), where);
    const text = emitPeft([{ where, config: cfg }], g, names, 'gpt2.peft', 'from PEFT');
    expect(text).toContain('ia3 on "c_attn"\n  ia3(feedforward = true) on "h.*.mlp.c_proj"');
    expect(() => parseAdapterConfig('{"peft_type": "IA3"}', where)).toThrow('a/adapter_config.json: target_modules must name the modules IA³ scales');
  });

  it('an import whose feed-forward modules differ from the .peft is refused, naming the module', async () => {
    const out = join(tmp, 'hf');
    const other = 'import "gpt2.peft"\npeft { ia3 on "c_attn", "mlp.c_proj" }';
    const model = compilePeft(other, GPT2_FIXTURE, true);
    await expect(importToCheckpoint(out, { graph: model.graph, source: { entry: model.entry, files: model.files }, set: GPT2_FIXTURE }, join(tmp, 'bad'))).rejects.toThrow(
      /`h\.0\.mlp\.c_proj` is a feed-forward module there \(feedforward_modules\), not in the \.peft/,
    );
  });

  it('merges: the merged base, run as plain GPT-2, gives the unmerged logits', async () => {
    const baseG = compilePeft('import "gpt2.peft"', GPT2_FIXTURE).graph;
    const baseStore = createStore(baseG, 'f32');
    initParams(baseG, baseStore, { seed: 11 });
    const basePath = join(tmp, 'base.safetensors');
    writeFileSync(basePath, serializeSafetensors(baseTensors(baseG, baseStore, (p) => `transformer.${p}`), { format: 'pt' }));
    // LoRA and IA³ on one module too: the merge folds LoRA first, as IA³ wraps it.
    const tune = 'import "gpt2.peft"\npeft {\n  ia3 on "c_attn"\n  ia3(feedforward = true) on "mlp.c_proj"\n  lora(rank = 2, alpha = 4) on "h.0.mlp.c_proj"\n}';
    const ck = join(tmp, 'ck-merge');
    const { c } = await makeCheckpoint(ck, tune, GPT2_FIXTURE, 5);
    const store = createStore(c.graph, 'f32');
    await loadInit(basePath, c.graph, store);
    const adapter = parseSafetensors(readFileSync(join(ck, 'adapter.safetensors')));
    for (const [name] of adapter.tensors) paramView(store, name).set(getFloat32(adapter, name));
    const want = logits(c.graph, store);
    const out = join(tmp, 'merged.safetensors');
    const res = await mergeToFile(compilePeft(tune, GPT2_FIXTURE, true).graph, basePath, ck, out);
    // c_attn weight and bias per layer, mlp.c_proj weight per layer (its bias stays).
    expect(res.merged.sort()).toEqual(['transformer.h.0.attn.c_attn.bias', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.0.mlp.c_proj.weight', 'transformer.h.1.attn.c_attn.bias', 'transformer.h.1.attn.c_attn.weight', 'transformer.h.1.mlp.c_proj.weight']);
    const merged = createStore(baseG, 'f32');
    await loadInit(out, baseG, merged);
    const got = logits(baseG, merged);
    expect(maxDiff(got, want)).toBeLessThan(1e-6);
    expect(maxDiff(got, logits(baseG, baseStore))).toBeGreaterThan(1e-2);
  });
});
