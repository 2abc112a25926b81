// Shared pieces of the interop tests: tiny models, checkpoint directories made in a temp folder,
// base weights in Hugging Face names, and logits from the CPU executor.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { compile } from '../../compiler/build.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import { createStore, paramView, type ParamStore } from '../../runtime/arena.ts';
import { CHECKPOINT_FORMAT, packCheckpoint } from '../../runtime/checkpoint.ts';
import { writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { fillNormal, Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import type { WriteTensor } from '../../runtime/io/safetensors.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { EXAMPLES, overlayHost, TINY } from '../helpers.ts';

export const FIX = resolve(import.meta.dirname, '../fixtures');
/** The PyTorch fixtures' tiny GPT-2 (test/fixtures/README.md). */
export const GPT2_FIXTURE = ['vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4'];
export const LLAMA_TINY = [TINY.llama!];

/** A fresh temp folder, removed after the file's tests. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-interop-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Compiled {
  graph: Graph;
  entry: string;
  files: Record<string, string>;
}

let counter = 0;

/** Compiles a .peft text that imports the bundled examples (`import "gpt2.peft"`). */
export function compilePeft(text: string, set: string[], derivedPrefix = false): Compiled {
  const entry = resolve(EXAMPLES, `__interop_${counter++}__.peft`);
  const res = compile(entry, overlayHost({ [entry]: text }), { set, derivedPrefix });
  if (!res.graph) throw new Error(`did not compile:\n${res.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')}`);
  return { graph: res.graph, entry, files: Object.fromEntries(res.texts) };
}

/** Every trainable parameter random (LoRA's B too, so the adapter changes the model). */
export function randomStore(g: Graph, seed: number): ParamStore {
  const store = createStore(g, 'f32');
  initParams(g, store, { seed });
  const rng = new Random(seed + 1);
  for (const s of store.trainable.slots) fillNormal(store.trainable.data.subarray(s.offset, s.offset + s.size) as Float32Array, rng, 0.3);
  return store;
}

/** Writes a checkpoint directory as `peftc train --out` does, for the program `text`. */
export async function makeCheckpoint(dir: string, text: string, set: string[], seed = 1, base: string | null = null): Promise<{ c: Compiled; store: ParamStore; adapter: Record<string, WriteTensor> }> {
  const c = compilePeft(text, set);
  const store = randomStore(c.graph, seed);
  const n = store.trainable.size;
  const m = new Float32Array(n).fill(0.5);
  const ck = packCheckpoint(store, { step: 7, m, v: m }, {
    format: CHECKPOINT_FORMAT, step: 7, seed, settings: {}, source: { entry: c.entry, files: c.files }, set, base, valLoss: null,
  });
  const adapter = adapterTensors(buildTrainingGraph(c.graph), store);
  await writeCheckpointDir(dir, ck, adapter);
  return { c, store, adapter };
}

/** The base parameters of a store as a safetensors record in Hugging Face names. */
export function baseTensors(g: Graph, store: ParamStore, rename: (path: string) => string): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = {};
  for (const p of g.params) if (p.origin === 'base') out[rename(p.path)] = { dtype: 'F32', shape: p.shape, data: Float32Array.from(paramView(store, p.path)) };
  return out;
}

export const TOKENS = { shape: [2, 6], data: Int32Array.from([1, 5, 9, 3, 2, 7, 4, 4, 8, 0, 6, 11]) };

export function logits(g: Graph, store: ParamStore, tokens = TOKENS): Float32Array {
  const res = new CpuExecutor(buildTrainingGraph(g)).run(store, { tokens, targets: lmTargets(tokens, g.promptLength) }, { precision: 'f32', training: false, step: 0, backward: false });
  return Float32Array.from(res.logits.data);
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}
