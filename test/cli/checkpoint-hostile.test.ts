// Hostile checkpoints: seeded mutations of a real checkpoint's training state (the JSON in
// __metadata__.peftc) and of its tensors and bytes. Each one, read the way `peftc train --resume`
// reads it (readCheckpointDir, then restoreCheckpoint into the model), either loads or fails
// with one line of an expected error class that names the file (and the field), never an
// "internal error". A handful go through the real CLI: train --resume, eval, export.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { ADAPTER_FILE, CHECKPOINT_FILE, restoreCheckpoint } from '../../runtime/checkpoint.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, type SafetensorsFile, type WriteTensor } from '../../runtime/io/safetensors.ts';
import type { OptimizerState } from '../../runtime/optim.ts';
import { graphOf } from '../helpers.ts';
import { peftc } from './peftc.ts';
import { mulberry32 } from '../prng.ts';

const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2';
/** The error classes cli/main.ts reports as the user's (one line, exit 1). */
const EXPECTED = ['UserError', 'WeightsError', 'SafetensorsError', 'TokensError', 'GpuError', 'CodegenError', 'DataError', 'CheckpointError', 'InteropError', 'RankError'];
const CASES = 300;

const random = mulberry32;

let work: string;
let valid: { file: SafetensorsFile; state: Record<string, unknown>; adapter: Uint8Array; save: string };
let text: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'peftc-hostile-'));
  text = join(work, 'text.txt');
  writeFileSync(text, 'It was the best of times, it was the worst of times. '.repeat(200));
  const r = peftc('train', 'examples/gpt2-lora.peft', '--set', SET, '--data', text, '--steps', '2', '--batch', '2', '--seq', '16', '--eval-rows', '4', '--no-baseline', '--out', join(work, 'valid'));
  if (r.code !== 0) throw new Error(r.stderr);
  const ck = readCheckpointDir(join(work, 'valid'));
  valid = { file: ck.file, state: ck.state as unknown as Record<string, unknown>, adapter: new Uint8Array(readFileSync(ck.adapterPath!)), save: ck.save! };
});

const tensorsOf = (file: SafetensorsFile): Record<string, WriteTensor> =>
  Object.fromEntries([...file.tensors.keys()].map((k) => [k, { dtype: 'F32', shape: file.tensors.get(k)!.shape, data: Float32Array.from(getFloat32(file, k)) }]));

/** A checkpoint directory of two plain files: the checkpoint's tensors and metadata, and the valid adapter. */
function writeDir(name: string, tensors: Record<string, WriteTensor>, metadata: Record<string, string>, adapter = valid.adapter): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, CHECKPOINT_FILE), serializeSafetensors(tensors, metadata));
  writeFileSync(join(dir, ADAPTER_FILE), adapter);
  return dir;
}

const POOL: unknown[] = [null, true, false, 0, -5, 1.5, 1e300, '', 'x', '-5', [], [1], ['a'], {}, { a: 1 }, { entry: 1 }, 'null'];
const FIELDS = ['format', 'step', 'seed', 'settings', 'source', 'set', 'base', 'valLoss'];

interface Mutation {
  what: string;
  /** The top-level field the mutation touched: an error must name it. */
  field?: string;
  dir: string;
}

function metadataMutation(i: number, rnd: () => number): Mutation {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const meta = { ...(valid.file.metadata ?? {}) };
  const state = structuredClone(valid.state);
  const kind = Math.floor(rnd() * 6);
  let what: string;
  let field: string | undefined;
  if (kind === 0) {
    field = pick(FIELDS);
    delete state[field];
    what = `delete ${field}`;
  } else if (kind === 1 || kind === 2) {
    field = pick(FIELDS);
    state[field] = pick(POOL);
    what = `${field} = ${JSON.stringify(state[field])}`;
  } else if (kind === 3) {
    // Inside a nested field: a setting, a source file, an element of set.
    const where = pick(['settings', 'source', 'set'] as const);
    field = where;
    const v = pick(POOL);
    if (where === 'settings') (state.settings as Record<string, unknown>)[pick(['data', 'lr', 'frozen_adapters', 'new'])] = v;
    else if (where === 'source') (state.source as Record<string, unknown>)[pick(['entry', 'files'])] = v;
    else state.set = [v];
    what = `${where}.* = ${JSON.stringify(v)}`;
  } else if (kind === 4) {
    state[`extra_${i}`] = pick(POOL); // unknown fields are kept, not an error
    what = 'an unknown field';
  } else {
    meta.peftc = pick(['null', '[]', '1', '"x"', '{', '', '{}', JSON.stringify(valid.state).slice(0, Math.floor(rnd() * 200))]);
    return { what: `peftc = ${JSON.stringify(meta.peftc).slice(0, 40)}`, dir: writeDir(`m${i}`, tensorsOf(valid.file), meta) };
  }
  meta.peftc = JSON.stringify(state);
  return { what, ...(field ? { field } : {}), dir: writeDir(`m${i}`, tensorsOf(valid.file), meta) };
}

function tensorMutation(i: number, rnd: () => number): Mutation {
  const tensors = tensorsOf(valid.file);
  const names = Object.keys(tensors);
  const name = names[Math.floor(rnd() * names.length)]!;
  const t = tensors[name]!;
  const meta = valid.file.metadata ?? {};
  switch (Math.floor(rnd() * 7)) {
    case 0:
      delete tensors[name];
      return { what: `without ${name}`, dir: writeDir(`t${i}`, tensors, meta) };
    case 1:
      tensors[name] = { ...t, shape: [t.data.length] };
      return { what: `${name} flattened`, dir: writeDir(`t${i}`, tensors, meta) };
    case 2:
      tensors[name] = { dtype: 'I32', shape: t.shape, data: Int32Array.from(t.data as Float32Array) };
      return { what: `${name} as I32`, dir: writeDir(`t${i}`, tensors, meta) };
    case 3: {
      const data = Float32Array.from(t.data as Float32Array);
      data[Math.floor(rnd() * data.length)] = rnd() < 0.5 ? NaN : -Infinity;
      tensors[name] = { ...t, data };
      return { what: `${name} with a non-finite value`, dir: writeDir(`t${i}`, tensors, meta) };
    }
    case 4:
      tensors['param.h.7.attn.c_attn.lora_A'] = t;
      return { what: 'a parameter the model lacks', dir: writeDir(`t${i}`, tensors, meta) };
    case 5: {
      const adapter = parseSafetensors(valid.adapter);
      const other = serializeSafetensors(tensorsOf(adapter), { ...(adapter.metadata ?? {}), save: 'step-9-0badc0de' });
      return { what: 'the adapter of another save', dir: writeDir(`t${i}`, tensors, meta, other) };
    }
    default: {
      // Bytes: a truncated file or a flipped byte (mostly in the header, where it matters).
      const bytes = new Uint8Array(serializeSafetensors(tensors, meta));
      const dir = writeDir(`t${i}`, tensors, meta);
      if (rnd() < 0.5) {
        writeFileSync(join(dir, CHECKPOINT_FILE), bytes.subarray(0, Math.floor(rnd() * bytes.length)));
        return { what: 'truncated', dir };
      }
      const at = Math.floor(rnd() * Math.min(bytes.length, 600));
      bytes[at] = Math.floor(rnd() * 256);
      writeFileSync(join(dir, CHECKPOINT_FILE), bytes);
      return { what: `byte ${at} changed`, dir };
    }
  }
}

describe('hostile checkpoints', () => {
  it(`${CASES} seeded mutations of a checkpoint: each loads or is one clear line naming the file and field`, () => {
    const g = graphOf('gpt2-lora.peft', [SET]);
    const store: ParamStore = createStore(g, 'f32');
    const n = store.trainable.size;
    const opt: OptimizerState = { step: 0, m: new Float32Array(n), v: new Float32Array(n) };
    // The unmutated checkpoint loads.
    restoreCheckpoint(readCheckpointDir(writeDir('same', tensorsOf(valid.file), valid.file.metadata ?? {})), store, opt, 'same');
    const rnd = random(17);
    const tally = { ok: 0, error: 0 };
    const t0 = Date.now();
    for (let i = 0; i < CASES; i++) {
      const m = i % 2 ? tensorMutation(i, rnd) : metadataMutation(i, rnd);
      try {
        restoreCheckpoint(readCheckpointDir(m.dir), store, opt, m.dir);
        tally.ok++;
      } catch (e) {
        tally.error++;
        const err = e as Error;
        const label = `${m.what}: ${err.name}: ${err.message}`;
        expect(EXPECTED, label).toContain(err.name);
        expect(err.message, label).not.toMatch(/\n/);
        expect(err.message.startsWith(m.dir), label).toBe(true);
        if (m.field) expect(err.message, label).toContain(`\`${m.field}`);
      }
    }
    console.log(`${CASES} mutations: ${tally.ok} load, ${tally.error} refused with a clear line, in ${Date.now() - t0} ms`);
    expect(tally.error).toBeGreaterThan(CASES / 2);
    expect(tally.ok).toBeGreaterThan(0);
  });

  it('through the CLI: train --resume, eval --adapter and export refuse bad state in one line, exit 1', () => {
    const meta = valid.file.metadata ?? {};
    const withState = (name: string, edit: (s: Record<string, unknown>) => unknown) =>
      writeDir(name, tensorsOf(valid.file), { ...meta, peftc: JSON.stringify(edit(structuredClone(valid.state))) });
    const nullState = withState('cli-null', () => null);
    const negative = withState('cli-step', (s) => ({ ...s, step: -5 }));
    const noSettings = withState('cli-settings', (s) => ({ ...s, settings: null }));
    const nan = (() => {
      const tensors = tensorsOf(valid.file);
      const name = Object.keys(tensors).find((k) => k.startsWith('param.'))!;
      (tensors[name]!.data as Float32Array)[0] = NaN;
      return writeDir('cli-nan', tensors, meta);
    })();
    const M = ['examples/gpt2-lora.peft', '--set', SET, '--batch', '2', '--seq', '16', '--no-baseline'];
    const runs: [string[], RegExp][] = [
      [['train', ...M, '--steps', '3', '--resume', nullState], /checkpoint\.safetensors: training state \(__metadata__\.peftc\): expected object, received null$/],
      [['eval', ...M.slice(0, 3), '--data', text, '--seq', '16', '--adapter', negative], /checkpoint\.safetensors: training state \(__metadata__\.peftc\): field `step`: Too small: expected number to be >=0$/],
      [['export', noSettings, '--format', 'hf-peft', '-o', join(work, 'hf')], /checkpoint\.safetensors: training state \(__metadata__\.peftc\): field `settings`: expected record, received null$/],
      [['train', ...M, '--steps', '3', '--resume', nan], /cli-nan: tensor "param\..+" holds a non-finite value \(NaN\) at element 0$/],
    ];
    for (const [args, want] of runs) {
      const r = peftc(...args);
      const label = `peftc ${args.join(' ')}\n${r.stderr}`;
      expect(r.code, label).toBe(1);
      expect(r.stderr, label).toMatch(/^peftc: [^\n]*\n$/);
      expect(r.stderr, label).not.toContain('internal error');
      expect(r.stderr.trimEnd(), label).toMatch(want);
    }
  });
});
