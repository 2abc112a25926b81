// Shared by the tests of what --adapter loads: a tiny GPT-2 LoRA fine-tune on disk (its .peft, base
// weights, a checkpoint directory recording them), and the CLI's verbs called in-process with their
// output captured — the same functions `peftc` calls, without a process per case.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { vi } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { compile } from '../../compiler/build.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { nodeHost } from '../../cli/node-host.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { CHECKPOINT_FORMAT, packCheckpoint } from '../../runtime/checkpoint.ts';
import { writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { fillNormal, Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { writeSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import type { WriteTensor } from '../../runtime/io/safetensors.ts';
import { EXAMPLES } from '../helpers.ts';

/** A byte-vocabulary GPT-2 small enough to evaluate in milliseconds. */
export const SET = ['vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2'];
export const GPT2 = resolve(EXAMPLES, 'gpt2.peft');
export const LORA_TEXT = `import ${JSON.stringify(GPT2)}\npeft { lora(rank = 2, alpha = 4) on "c_attn" }\n`;
export const ADAPTER_TEXT = `import ${JSON.stringify(GPT2)}\npeft { adapter(bottleneck = 4) on "h.*.mlp" }\n`;

export function graphOfFile(file: string, set: string[]): Graph {
  const res = compile(file, nodeHost, { set, derivedPrefix: true });
  if (!res.graph) throw new Error(`${file} did not compile: ${res.diagnostics.map((d) => d.message).join('; ')}`);
  return res.graph;
}

/** Base weights by parameter path, drawn from `seed` (not what a seeded model would draw). */
export async function writeBase(path: string, set: string[], seed: number, model = GPT2): Promise<void> {
  const g = graphOfFile(model, set);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: seed + 1000 });
  const out: Record<string, WriteTensor> = {};
  for (const p of g.params) out[p.path] = { dtype: 'F32', shape: p.shape, data: Float32Array.from(paramView(store, p.path)) };
  await writeSafetensorsFile(path, out);
}

/** A checkpoint directory as `peftc train --out` writes it, for the .peft file `entry`; every trainable weight random. */
export async function writeFineTune(dir: string, entry: string, opts: { set: string[]; seed?: number; base?: string | null }): Promise<void> {
  const res = compile(entry, nodeHost, { set: opts.set });
  if (!res.graph) throw new Error(`${entry} did not compile`);
  const g = res.graph;
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: opts.seed ?? 0 });
  const rng = new Random(7);
  for (const s of store.trainable.slots) fillNormal(store.trainable.data.subarray(s.offset, s.offset + s.size) as Float32Array, rng, 0.5);
  const n = store.trainable.size;
  const ck = packCheckpoint(store, { step: 3, m: new Float32Array(n), v: new Float32Array(n) }, {
    format: CHECKPOINT_FORMAT, step: 3, seed: opts.seed ?? 0, settings: {}, source: { entry, files: Object.fromEntries(res.texts) }, set: opts.set, base: opts.base ?? null, valLoss: null,
  });
  await writeCheckpointDir(dir, ck, adapterTensors(buildTrainingGraph(g), store));
}

export function writeText(path: string): string {
  writeFileSync(path, 'the quick brown fox jumps over the lazy dog. '.repeat(6));
  return path;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** The error the verb threw, as cli/main.ts would print it. */
  error?: Error;
}

/** The error classes cli/main.ts prints as one line with exit 1 (anything else is an internal error). */
export const EXPECTED_ERRORS = ['UserError', 'WeightsError', 'SafetensorsError', 'TokensError', 'GpuError', 'DataError', 'CheckpointError', 'InteropError', 'RankError'];

/** Runs a verb in-process, capturing what it writes; a thrown error becomes exit 1 (expected) or 2. */
export async function run(verb: () => Promise<number>): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const code = await verb();
    return { code, stdout: out.join(''), stderr: err.join('') };
  } catch (x) {
    const error = x as Error;
    const expected = EXPECTED_ERRORS.includes(error.name);
    err.push(`peftc: ${expected ? '' : 'internal error: '}${error.message}\n`);
    return { code: expected ? 1 : 2, stdout: out.join(''), stderr: err.join(''), error };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

export const evalFlags = (data: string, extra: Record<string, unknown> = {}) => ({ data, batch: '4', seq: '16', json: true, backend: 'cpu', gpu: 'auto', frozenDtype: 'f32', ...extra });
export const genFlags = (extra: Record<string, unknown> = {}) => ({ prompt: 'the', maxTokens: '6', temperature: '0', topK: '0', topP: '1', seed: '0', backend: 'cpu', gpu: 'auto', frozenDtype: 'f32', ...extra });

export const lossOf = (r: Run): number => (JSON.parse(r.stdout) as { loss: number }).loss;

export { join };
