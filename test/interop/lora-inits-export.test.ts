// PiSSA / OLoRA fine-tunes leave the interop verbs as PEFT leaves them: export writes PEFT's
// conversion to a plain LoRA of rank 2r on the original base ([A; A₀], [B, −B₀], alpha doubled),
// which gives the fine-tune's logits on the unmodified base; merge folds W − s·B₀·A₀ + s·B·A; a
// PEFT folder with init_lora_weights "pissa" imports into the .peft with init = pissa (PEFT
// recomputes the residual on loading, as peftc does) and into no other.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import { parseSafetensors, serializeSafetensors, type WriteTensor } from '../../runtime/io/safetensors.ts';
import { emitPeft } from '../../runtime/interop/emit-peft.ts';
import { parseAdapterConfig } from '../../runtime/interop/hf-config.ts';
import { importAdapters } from '../../runtime/interop/hf-import.ts';
import { planExport, toFileLayout } from '../../runtime/interop/hf-peft.ts';
import { exportCheckpoint, mergeToFile, readAdapterFolders } from '../../runtime/interop/interop-node.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { pyDumps } from '../../runtime/interop/pyjson.ts';
import { loadAdapter } from '../../runtime/multi/load-node.ts';
import { torchFolder, type TorchTarget } from '../../codegen/torch/index.ts';
import { overlayHost } from '../helpers.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { initParams } from '../../runtime/init.ts';
import { baseTensors, compilePeft, GPT2_FIXTURE, logits, makeCheckpoint, maxDiff, randomStore, tempDir } from './helpers.ts';

const tmp = tempDir();
const plain = compilePeft('import "gpt2.peft"\n', GPT2_FIXTURE, true);

describe.each(['pissa', 'olora'])('init = %s through export, import and merge', (init) => {
  const text = `import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4, init = ${init}) on "c_attn", "mlp.c_proj" }`;

  it('exports as a plain LoRA of rank 2r that gives the fine-tune\'s logits on the original base', async () => {
    const ck = join(tmp, `${init}-ck`);
    const { c, store } = await makeCheckpoint(ck, text, GPT2_FIXTURE, 3);
    const out = join(tmp, `${init}-hf`);
    const res = await exportCheckpoint(ck, out, {});
    const part = res.plan.parts[0]!;
    expect([part.config.r, part.config.lora_alpha, part.config.init_lora_weights]).toEqual([4, 8, true]);
    expect(part.entries.map((e) => e.shape)).toEqual([[4, 32], [96, 4], [4, 128], [32, 4], [4, 32], [96, 4], [4, 128], [32, 4]]);
    expect(part.notes.join()).toMatch(/conversion to a plain LoRA of rank 2r/);
    const folders = await readAdapterFolders(out);
    const emitted = emitPeft(folders, plain.graph, hfNameMap(plain.graph), 'gpt2.peft', 'read back');
    expect(emitted).toContain('lora(rank = 4, alpha = 8) on "c_attn", "h.*.mlp.c_proj"');
    const model = compilePeft(emitted, GPT2_FIXTURE, true);
    const back = randomStore(model.graph, 3); // the same seeded base (per-path streams), unmodified
    for (const [path, v] of importAdapters(model.graph, hfNameMap(model.graph), folders)) back.trainable.view(path).set(v);
    expect(maxDiff(logits(model.graph, back), logits(c.graph, store))).toBeLessThan(2e-5);
  });

  it('merges into the original base as W − s·B₀·A₀ + s·B·A', async () => {
    const ck = join(tmp, `${init}-merge-ck`);
    const { c, store } = await makeCheckpoint(ck, text, GPT2_FIXTURE, 5);
    const seeded = () => {
      const st = createStore(plain.graph, 'f32');
      initParams(plain.graph, st, { seed: 5 }); // the base the checkpoint's seed drew
      return st;
    };
    const baseStore = seeded();
    const basePath = join(tmp, `${init}-base.safetensors`);
    await writeSafetensorsFile(basePath, baseTensors(plain.graph, baseStore, (p) => `transformer.${p}`));
    const merged = join(tmp, `${init}-merged.safetensors`);
    await mergeToFile(c.graph, basePath, ck, merged);
    const m = seeded();
    const file = parseSafetensors(readFileSync(merged));
    for (const p of plain.graph.params) paramView(m, p.path).set(file.tensors.get(`transformer.${p.path}`)!.data as Float32Array);
    expect(maxDiff(logits(plain.graph, m), logits(c.graph, store))).toBeLessThan(2e-5);
  });

  it('a PEFT folder with init_lora_weights "' + init + '" imports into this .peft only', () => {
    const c = compilePeft(text, GPT2_FIXTURE, true);
    const store = randomStore(c.graph, 2);
    const names = hfNameMap(c.graph);
    const part = planExport(c.graph, names, { baseModel: null, native: true }).parts[0]!;
    expect(part.config.init_lora_weights).toBe(init);
    const tensors: Record<string, WriteTensor> = {};
    for (const e of part.entries) tensors[e.key] = { dtype: 'F32', shape: e.shape, data: toFileLayout(e, Float32Array.from(paramView(store, e.path))) };
    const folder = { where: 'peft-folder', config: parseAdapterConfig(pyDumps(part.config), 'peft-folder/adapter_config.json'), weights: parseSafetensors(serializeSafetensors(tensors)) };
    for (const [path, v] of importAdapters(c.graph, names, [folder])) expect(maxDiff(v, paramView(store, path))).toBe(0);
    const fixed = compilePeft('import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4) on "c_attn", "mlp.c_proj" }', GPT2_FIXTURE, true);
    expect(() => importAdapters(fixed.graph, hfNameMap(fixed.graph), [folder])).toThrow(`\`h.0.attn.c_attn\` starts from init_lora_weights "${init}" there, init = kaiming in the .peft: that adapter applies to its residual base`);
  });
});

describe('init = pissa(niter = K): a residual base from the model seed', () => {
  const text = 'import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4, init = pissa(niter = 2)) on "c_attn" }';

  it('exports as the plain LoRA of rank 2r (A₀, B₀ from the checkpoint\'s seed) and merges given that seed', async () => {
    const ck = join(tmp, 'niter-ck');
    const { c, store } = await makeCheckpoint(ck, text, GPT2_FIXTURE, 6);
    const out = join(tmp, 'niter-hf');
    await exportCheckpoint(ck, out, {});
    const folders = await readAdapterFolders(out);
    const model = compilePeft(emitPeft(folders, plain.graph, hfNameMap(plain.graph), 'gpt2.peft', 'read back'), GPT2_FIXTURE, true);
    const back = randomStore(model.graph, 6);
    for (const [path, v] of importAdapters(model.graph, hfNameMap(model.graph), folders)) back.trainable.view(path).set(v);
    expect(maxDiff(logits(model.graph, back), logits(c.graph, store))).toBeLessThan(2e-5);
    const baseStore = createStore(plain.graph, 'f32');
    initParams(plain.graph, baseStore, { seed: 6 });
    const basePath = join(tmp, 'niter-base.safetensors');
    await writeSafetensorsFile(basePath, baseTensors(plain.graph, baseStore, (p) => `transformer.${p}`));
    const merged = join(tmp, 'niter-merged.safetensors');
    await expect(mergeToFile(c.graph, basePath, ck, merged)).rejects.toThrow('`h.0.attn.c_attn` has init = pissa(niter = 2): its residual base comes from the seed it was trained with, which merge was not given');
    await mergeToFile(c.graph, basePath, ck, merged, undefined, {}, 6);
    const file = parseSafetensors(readFileSync(merged));
    for (const p of plain.graph.params) paramView(baseStore, p.path).set(file.tensors.get(`transformer.${p.path}`)!.data as Float32Array);
    expect(maxDiff(logits(plain.graph, baseStore), logits(c.graph, store))).toBeLessThan(2e-5);
  });

  it('no PEFT folder imports into it: PEFT\'s own randomised residual is not reproducible', () => {
    const c = compilePeft(text, GPT2_FIXTURE, true);
    const exact = compilePeft(text.replace('pissa(niter = 2)', 'pissa'), GPT2_FIXTURE, true);
    const part = planExport(exact.graph, hfNameMap(exact.graph), { baseModel: null, native: true }).parts[0]!;
    const store = randomStore(exact.graph, 2);
    const tensors: Record<string, WriteTensor> = {};
    for (const e of part.entries) tensors[e.key] = { dtype: 'F32', shape: e.shape, data: toFileLayout(e, Float32Array.from(paramView(store, e.path))) };
    const folder = { where: 'peft-folder', config: parseAdapterConfig(pyDumps(part.config), 'peft-folder/adapter_config.json'), weights: parseSafetensors(serializeSafetensors(tensors)) };
    expect(() => importAdapters(c.graph, hfNameMap(c.graph), [folder])).toThrow('`h.0.attn.c_attn` has init = pissa(niter = 2) in the .peft, a residual base from a randomised SVD that no PEFT adapter applies to');
  });
});

describe('where a residual base cannot be shared or undone', () => {
  it('named adapters over one base refuse a PiSSA checkpoint, and say to export it', async () => {
    const ck = join(tmp, 'multi-pissa');
    await makeCheckpoint(ck, 'import "gpt2.peft"\npeft { lora(rank = 2, init = pissa) on "c_attn" }', GPT2_FIXTURE);
    const ctx = { baseGraph: plain.graph, program: { entry: plain.entry, host: overlayHost({}), set: GPT2_FIXTURE } };
    await expect(loadAdapter({ name: 'a', dir: ck }, ctx)).rejects.toThrow(`--adapter a=${ck}: init = pissa (on \`h.0.attn.c_attn\`) runs on a residual of the base that the other adapters do not share; export it`);
  });

  it('the torch target refuses it in one line', () => {
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = 2, init = olora) on "c_attn" }', GPT2_FIXTURE);
    expect(() => torchFolder({ source: 'x.peft', graph: c.graph } as TorchTarget)).toThrow('LoRA init = olora (on `h.0.attn.c_attn`) is not supported by the torch target');
  });
});
