// Loading a base and named adapters from disk (runtime/multi/load-node.ts): checkpoint
// directories, Hugging Face PEFT folders (the same adapter exported), checkpoints trained on top
// of frozen adapters (summed when all LoRA, stacked otherwise), and the errors.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { describeAdapter } from '../../compiler/multi/describe.ts';
import { stackAdapters, stackedPath } from '../../compiler/multi/stack.ts';
import { sharedFrozenDtype } from '../../cli/fine-tune.ts';
import { combineCommand, openAdapterSet } from '../../cli/multi.ts';
import { nodeHost } from '../../cli/node-host.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import { CHECKPOINT_FORMAT, packCheckpoint } from '../../runtime/checkpoint.ts';
import { writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { exportCheckpoint } from '../../runtime/interop/interop-node.ts';
import { FROZEN_SETTING, loadAdapter, loadBase, parseAdapterSpec } from '../../runtime/multi/load-node.ts';
import { AdapterSet } from '../../runtime/multi/set.ts';
import { EXAMPLES } from '../helpers.ts';
import { compilePeft, makeCheckpoint, randomStore, tempDir } from '../interop/helpers.ts';
import { aloneLogits, randomTokens, relErr, SET } from './helpers.ts';

const dir = tempDir();
const BASE = resolve(EXAMPLES, 'gpt2.peft');

async function stackedCheckpoint(out: string, text: string, frozen: { name: string; dir: string }[], seed: number) {
  const c = compilePeft(text, SET);
  const store = randomStore(c.graph, seed);
  const n = store.trainable.size;
  const ck = packCheckpoint(store, { step: 1, m: new Float32Array(n), v: new Float32Array(n) }, {
    format: CHECKPOINT_FORMAT, step: 1, seed, settings: { [FROZEN_SETTING]: JSON.stringify(frozen) }, source: { entry: c.entry, files: c.files }, set: SET, base: null, valLoss: null,
  });
  await writeCheckpointDir(out, ck, adapterTensors(buildTrainingGraph(c.graph), store));
  return c;
}

describe('loading adapters over one base', async () => {
  const loaded = await loadBase(BASE, { host: nodeHost, set: SET, seed: 5 });
  const ctx = { baseGraph: loaded.base.graph, program: loaded.program };
  const a = await makeCheckpoint(join(dir, 'a'), 'import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8) on "c_attn" }', SET, 2);
  const p = await makeCheckpoint(join(dir, 'p'), 'import "gpt2.peft"\npeft { prompt(length = 3) }', SET, 3);
  await makeCheckpoint(join(dir, 'c'), 'import "gpt2.peft"\npeft { adapter(bottleneck = 4) on "h.*.mlp" }', SET, 4);
  const tokens = randomTokens(1, 6, 32, 2);
  const row = tokens.data as Int32Array;

  it('reads checkpoint directories: the base once, each adapter its own values', async () => {
    const la = await loadAdapter({ name: 'a', dir: join(dir, 'a') }, ctx);
    const lp = await loadAdapter({ name: 'p', dir: join(dir, 'p') }, ctx);
    const set = AdapterSet.create(loaded.base, [la, lp]);
    for (const [name, l] of [['a', la], ['p', lp]] as const) {
      expect(relErr(set.logits(tokens, [name]).data, aloneLogits(loaded.base, l.graph, l.values, row).data)).toBeLessThan(2e-6);
    }
    expect([...la.values.keys()].sort()).toEqual(Object.keys(a.adapter).sort());
    expect(lp.values.get('prompt_embeddings')).toEqual(p.adapter.prompt_embeddings!.data);
  });

  it('reads a Hugging Face PEFT folder as the same adapter', async () => {
    await exportCheckpoint(join(dir, 'a'), join(dir, 'a-hf'));
    const hf = await loadAdapter({ name: 'h', dir: join(dir, 'a-hf') }, ctx);
    const ck = await loadAdapter({ name: 'a', dir: join(dir, 'a') }, ctx);
    expect([...hf.values.keys()].sort()).toEqual([...ck.values.keys()].sort());
    for (const [k, v] of ck.values) expect(relErr(hf.values.get(k)!, v)).toBe(0);
    const set = AdapterSet.create(loaded.base, [hf, ck]);
    expect(relErr(set.logits(tokens, ['h']).data, set.logits(tokens, ['a']).data)).toBe(0);
  });

  it('reads an adapter trained on top of frozen ones: LoRA on LoRA sums into the bank', async () => {
    const d = await stackedCheckpoint(join(dir, 'd'), 'import "gpt2.peft"\npeft { lora(rank = 2) on "c_proj" }', [{ name: 'a', dir: join(dir, 'a') }], 6);
    const ld = await loadAdapter({ name: 'd', dir: join(dir, 'd') }, ctx);
    expect(ld.standalone).toBeUndefined();
    const la = await loadAdapter({ name: 'a', dir: join(dir, 'a') }, ctx);
    // The model it was trained in: its own program with `a` inserted, frozen.
    const g = stackAdapters(d.graph, [{ name: 'a', shape: describeAdapter(la.graph) }]);
    const store = randomStore(d.graph, 6);
    const values = new Map<string, Float32Array>();
    for (const s of store.trainable.slots) values.set(s.param.path, Float32Array.from(store.trainable.view(s.param.path)));
    for (const [k, v] of la.values) values.set(stackedPath(k, 'a')!, v);
    const set = AdapterSet.create(loaded.base, [ld]);
    expect(set.info('d').placement.kind).toBe('bank');
    expect(relErr(set.logits(tokens, ['d']).data, aloneLogits(loaded.base, g, values, row).data)).toBeLessThan(2e-6);
  });

  it('reads a bottleneck adapter trained on top of another as a stack with its own graph', async () => {
    const e = await stackedCheckpoint(join(dir, 'e'), 'import "gpt2.peft"\npeft { adapter(bottleneck = 3, activation = gelu) on "h.*.mlp" }', [{ name: 'c', dir: join(dir, 'c') }], 7);
    const le = await loadAdapter({ name: 'e', dir: join(dir, 'e') }, ctx);
    expect(le.standalone).toBe(true);
    const lc = await loadAdapter({ name: 'c', dir: join(dir, 'c') }, ctx);
    const g = stackAdapters(e.graph, [{ name: 'c', shape: describeAdapter(lc.graph) }]);
    const set = AdapterSet.create(loaded.base, [le, lc]);
    expect(set.info('e').placement.kind).toBe('own');
    expect(relErr(set.logits(tokens, ['e']).data, aloneLogits(loaded.base, g, le.values, row).data)).toBeLessThan(2e-6);
    expect(relErr(set.logits(tokens, ['e']).data, set.logits(tokens, ['c']).data)).toBeGreaterThan(1e-4);
  });

  it('names adapters, and refuses a base with PEFT methods and folders that are no adapter', async () => {
    expect(parseAdapterSpec('sum=runs/x')).toEqual({ name: 'sum', dir: 'runs/x' });
    expect(parseAdapterSpec('runs/my run').name).toBe('my_run');
    await expect(loadBase(resolve(EXAMPLES, 'gpt2-lora.peft'), { host: nodeHost, set: SET })).rejects.toThrow(/has PEFT methods \(lora on h\.0\.attn\.c_attn\)/);
    await expect(loadAdapter({ name: 'x', dir: EXAMPLES }, ctx)).rejects.toThrow(/neither a checkpoint directory/);
    await expect(loadAdapter({ name: 'x', dir: join(dir, 'nope') }, ctx)).rejects.toThrow(/not a folder/);
  });

  it('several adapters share the base as loaded: --frozen-dtype is refused in one line, an adapter trained on a quantized base gets a note', async () => {
    const q = join(dir, 'q');
    const c = compilePeft('import "gpt2.peft"\npeft { lora(rank = 2) on "c_attn" }', SET);
    const store = randomStore(c.graph, 6);
    const n = store.trainable.size;
    const ck = packCheckpoint(store, { step: 1, m: new Float32Array(n), v: new Float32Array(n) }, {
      format: CHECKPOINT_FORMAT, step: 1, seed: 6, settings: { frozen_dtype: 'nf4dq' }, source: { entry: c.entry, files: c.files }, set: SET, base: null, valLoss: null,
    });
    await writeCheckpointDir(q, ck, adapterTensors(buildTrainingGraph(c.graph), store));
    const specs = [{ name: 'a', dir: join(dir, 'a') }, { name: 'q', dir: q }];
    expect(() => sharedFrozenDtype(specs, 'nf4dq')).toThrow(/^--frozen-dtype nf4dq quantizes one fine-tune's base; several adapters share the base in f32 \(run one with --adapter DIR --frozen-dtype nf4dq\)$/);
    expect(() => sharedFrozenDtype(specs, 'nf4-dq')).toThrow(/^--frozen-dtype must be one of f32, f16, int8, nf4, nf4dq, not `nf4-dq`$/);
    expect(sharedFrozenDtype(specs, 'f32')).toEqual([`adapter \`q\` was trained on a frozen base in nf4dq; several adapters run over the base as loaded, not quantized again (\`--adapter ${q}\` alone quantizes it as trained)`]);
    expect(sharedFrozenDtype(specs.slice(0, 1), undefined)).toEqual([]);
    // --rank is one fine-tune's too: refused before anything loads, not ignored.
    await expect(openAdapterSet(BASE, { adapter: [`a=${join(dir, 'a')}`, `q=${q}`], rank: '2' })).rejects.toThrow(/^--rank 2 runs one fine-tune's `dynamic\(…\)` LoRA at that rank; several adapters run at their max/);
  });

  it('combine refuses a stack with a preset adapter below the top, naming it, and writes nothing (eval could not open it)', async () => {
    const pb = join(dir, 'pb');
    await makeCheckpoint(pb, 'import "gpt2.peft"\npeft { adapter(preset = par_bn) on "h.*.mlp" }', SET, 7);
    const out = join(dir, 'pb-a');
    await expect(combineCommand(BASE, { adapter: [`pb=${pb}`, `a=${join(dir, 'a')}`], use: ['pb+a'], out, set: SET })).rejects.toThrow(
      /^adapter `pb` has an `adapter\(preset = …\)` on `h\.0\.mlp` \(AdapterHub's, at the residual junction\), which runs only in its own graph; only LoRA and plain bottleneck adapters stack$/,
    );
    expect(existsSync(out)).toBe(false);
  });
});
