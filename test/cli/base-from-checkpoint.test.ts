// A fine-tune runs on what it was trained from: eval, generate, merge, export and combine take the
// base weights (--init), --set and seed recorded in the checkpoint when the command line does not
// give them — for a checkpoint directory and for its adapter.safetensors — and refuse to run a
// model whose base would silently be random.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalCommand, generateCommand, type EvalFlags, type GenerateFlags } from '../../cli/evaluate.ts';
import { exportCommand, mergeCommand } from '../../cli/interop.ts';
import { combineCommand, evalMulti, type CombineFlags, type MultiEvalFlags } from '../../cli/multi.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { tempDir } from '../interop/helpers.ts';
import { evalFlags, genFlags, join, LORA_TEXT, lossOf, run, SET, writeBase, writeFineTune, writeText } from './fine-tune-files.ts';

const dir = tempDir();
const LORA = join(dir, 'lora.peft');
const BASE = join(dir, 'base.safetensors');
const OTHER = join(dir, 'other.safetensors');
const TEXT = join(dir, 'text.txt');
const RUN = join(dir, 'runs', 'lora'); // records BASE by absolute path and --set
const REL = join(dir, 'runs', 'rel'); // records BASE relative to `dir`, the directory train ran in
const GONE = join(dir, 'runs', 'gone'); // records a base that no longer exists
const SEEDED = join(dir, 'runs', 'seeded'); // trained without --init, on seed 5's weights

const evalOf = (file: string, extra: Record<string, unknown>) => run(() => evalCommand(file, evalFlags(TEXT, extra) as EvalFlags));

describe('the base recorded in a checkpoint', async () => {
  writeFileSync(LORA, LORA_TEXT);
  writeText(TEXT);
  await writeBase(BASE, SET, 1);
  await writeBase(OTHER, SET, 2);
  await writeFineTune(RUN, LORA, { set: SET, base: BASE });
  await writeFineTune(REL, LORA, { set: SET, base: 'base.safetensors' });
  await writeFineTune(GONE, LORA, { set: SET, base: join(dir, 'deleted.safetensors') });
  await writeFineTune(SEEDED, LORA, { set: SET, seed: 5 });
  const explicit = lossOf(await evalOf(LORA, { init: BASE, adapter: RUN, set: SET }));

  it('eval takes the base and --set from the checkpoint directory or its adapter file', async () => {
    for (const adapter of [RUN, join(RUN, 'adapter.safetensors')]) {
      const r = await evalOf(LORA, { adapter });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(lossOf(r)).toBe(explicit);
    }
    // Not what the same adapter gives on another base.
    expect(lossOf(await evalOf(LORA, { adapter: RUN, init: OTHER }))).not.toBeCloseTo(explicit, 3);
  });

  it('finds a relative base from the folders above the checkpoint', async () => {
    expect(relative(process.cwd(), BASE)).not.toBe('base.safetensors'); // not found from the current directory
    const r = await evalOf(LORA, { adapter: REL });
    expect(r.code, r.stderr).toBe(0);
    expect(lossOf(r)).toBe(explicit);
  });

  it('a recorded base that is gone is an error naming it', async () => {
    const r = await evalOf(LORA, { adapter: GONE });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/deleted\.safetensors, which do not exist; pass --init/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an explicit --init that differs wins, with a one-line note', async () => {
    const r = await evalOf(LORA, { adapter: RUN, init: OTHER });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^peftc: note: --init .*other\.safetensors is not the base .* was trained from \(.*base\.safetensors\); using --init\n$/);
  });

  it('a checkpoint trained without --init runs on the seeded weights it was trained on (its seed)', async () => {
    const seeded = await evalOf(LORA, { adapter: SEEDED });
    expect(seeded.code, seeded.stderr).toBe(0);
    expect(seeded.stderr).toBe('');
    // The same weights as training drew with seed 5: written out and passed as --init, same loss.
    const w = join(dir, 'seed5.safetensors');
    const { graphOfFile } = await import('./fine-tune-files.ts');
    const { createStore, paramView } = await import('../../runtime/arena.ts');
    const { initParams } = await import('../../runtime/init.ts');
    const { writeSafetensorsFile } = await import('../../runtime/io/safetensors-node.ts');
    const g = graphOfFile(join(dir, 'lora.peft'), SET);
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 5 });
    await writeSafetensorsFile(w, Object.fromEntries(g.params.filter((p) => p.origin === 'base').map((p) => [p.path, { dtype: 'F32' as const, shape: p.shape, data: Float32Array.from(paramView(store, p.path)) }])));
    expect(lossOf(await evalOf(LORA, { adapter: SEEDED, init: w }))).toBeCloseTo(lossOf(seeded), 5);
  });

  it('a lone adapter file records no base: an error that says to pass --init, and --init works', async () => {
    const lone = join(dir, 'lone');
    mkdirSync(lone);
    copyFileSync(join(RUN, 'adapter.safetensors'), join(lone, 'adapter.safetensors'));
    const r = await evalOf(LORA, { adapter: join(lone, 'adapter.safetensors'), set: SET });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/adapter\.safetensors: no checkpoint\.safetensors beside it says which base weights it was trained on, and the model's \d+ frozen base parameter\(s\) would be random: pass --init/);
    expect(lossOf(await evalOf(LORA, { adapter: join(lone, 'adapter.safetensors'), set: SET, init: BASE }))).toBe(explicit);
  });

  it('eval with neither --init nor --adapter says the base is random', async () => {
    const r = await evalOf(LORA, { set: SET });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^peftc: note: no --init: the model's \d+ frozen base parameter\(s\) are seeded random values/);
  });

  it('generate takes the base from the checkpoint', async () => {
    const gen = (extra: Record<string, unknown>) => run(() => generateCommand(LORA, genFlags(extra) as unknown as GenerateFlags));
    const a = await gen({ adapter: RUN });
    const b = await gen({ adapter: RUN, init: BASE, set: SET });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    // A different sampling seed does not change the model: greedy output stays the same.
    expect((await gen({ adapter: RUN, seed: '9' })).stdout).toBe(a.stdout);
  });

  it('merge takes the base from the checkpoint; without one recorded it asks for --init', async () => {
    const m1 = join(dir, 'm1.safetensors');
    const m2 = join(dir, 'm2.safetensors');
    const r = await run(() => mergeCommand(LORA, { adapter: RUN, out: m1 }));
    expect(r.code, r.stderr).toBe(0);
    expect((await run(() => mergeCommand(LORA, { adapter: join(RUN, 'adapter.safetensors'), init: BASE, set: SET, out: m2 }))).code).toBe(0);
    expect(readFileSync(m1).equals(readFileSync(m2))).toBe(true);
    const s = await run(() => mergeCommand(LORA, { adapter: SEEDED, out: join(dir, 'm3.safetensors') }));
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/trained without --init .*: pass --init BASE/);
  });

  it('export reads a checkpoint through its adapter file too', async () => {
    const r = await run(() => exportCommand(join(RUN, 'adapter.safetensors'), { format: 'hf-peft', out: join(dir, 'hf') }));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'hf', 'adapter_config.json'), 'utf8')).base_model_name_or_path).toBe(BASE);
  });

  it('combine accepts --init and records the base, so eval of the result needs none', async () => {
    const BASE_PEFT = join(dir, 'base.peft');
    writeFileSync(BASE_PEFT, readFileSync(LORA, 'utf8').split('\n')[0] + '\n');
    const out = join(dir, 'combined');
    // No --set: the adapters' checkpoints say which.
    const c = await run(() => combineCommand(BASE_PEFT, { adapter: [`a=${RUN}`, `b=${REL}`], use: ['0.5*a+0.5*b'], out, init: BASE } as CombineFlags));
    expect(c.code, c.stderr).toBe(0);
    expect(readCheckpointDir(out).state.base).toBe(BASE);
    const named = (adapter: string[], extra: Record<string, unknown> = {}) => run(() => evalMulti(BASE_PEFT, { ...evalFlags(TEXT), adapter, use: [], set: SET, ...extra } as unknown as MultiEvalFlags));
    const recorded = await run(() => evalMulti(BASE_PEFT, { ...evalFlags(TEXT), adapter: [`c=${out}`], use: [] } as unknown as MultiEvalFlags));
    expect(recorded.code, recorded.stderr).toBe(0);
    const given = await named([`c=${out}`], { init: BASE });
    expect(JSON.parse(recorded.stdout)).toEqual(JSON.parse(given.stdout));
    // Adapters trained on different bases need --init to say which.
    const mixed = await named([`a=${RUN}`, `s=${SEEDED}`]);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/adapters `a` and `s` were trained on different bases .*pass --init/);
    // Combined without --init, such adapters give a combination that records no base: eval of it asks for --init.
    const unknown = join(dir, 'combined-unknown');
    const u = await run(() => combineCommand(BASE_PEFT, { adapter: [`a=${RUN}`, `s=${SEEDED}`], use: ['a+s'], out: unknown, set: SET } as CombineFlags));
    expect(u.code, u.stderr).toBe(0);
    expect(u.stderr).toMatch(/^peftc: note: the combination records no base weights \(adapters `a` and `s` were trained on different bases .*\); pass --init here/);
    const later = await named([`c=${unknown}`]);
    expect(later.code).toBe(1);
    expect(later.stderr).toMatch(/none of the adapters \(c\) records the base weights .*pass --init/);
    const one = await evalOf(join(unknown, 'combined.peft'), { adapter: unknown });
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/its checkpoint .*combined-unknown does not record which base weights it was trained on, .*pass --init/);
  });
});
