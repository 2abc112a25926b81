// Train in the page: the edited program compiled to a Training IR and planned here (the
// compiler is in the page), then run by the built trainer's runtime (runtime/standalone/:
// BuiltTrainer and runTraining, what `peftc build`'s page runs) on navigator.gpu. The initial
// parameters are the bundled tiny base's where a parameter's path and shape match, seeded
// initialisation elsewhere, as `peftc train --init` does; the frozen base f32, int8 or nf4, the
// loss over chunks of rows, as `peftc build` plans them.
import { DEFAULT_OPTIMIZER } from '../compiler/autodiff/backward.ts';
import { buildPlan, DEFAULT_LOSS_CHUNK_BYTES, PlanError, type PlanOptions } from '../compiler/lower/plan.ts';
import { recomputeOf } from '../compiler/autodiff/recompute.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { sequenceProblem, sequenceRoom } from '../compiler/positions.ts';
import { count } from '../compiler/params.ts';
import { DEFAULT_CAPS } from '../codegen/wgsl/caps.ts';
import { wgslBackend } from '../codegen/wgsl/backend.ts';
import { createStore, paramView, type ParamStore } from '../runtime/arena.ts';
import { tokenizerByName } from '../runtime/data/tokenizer.ts';
import { initParams } from '../runtime/init.ts';
import { getFloat32, parseSafetensors } from '../runtime/io/safetensors.ts';
import { quantizeFrozen } from '../runtime/quantize-store.ts';
import { BuiltTrainer, runTraining, type RunHooks, type RunResult, type TrainerFiles } from '../runtime/standalone/trainer.ts';
import { trainerWeightBytes } from '../runtime/standalone/weights.ts';
import { TRAINER_FORMAT, type KernelKind, type TrainerManifest, type TrainerPlans } from '../runtime/standalone/manifest.ts';
import { openBrowserGpu } from '../runtime/webgpu/device.ts';
import type { Gpu } from '../runtime/webgpu/gpu.ts';

/** Larger models train with `peftc build`'s trainer or `peftc train`, not in a tab on a software adapter. */
export const MAX_PAGE_PARAMS = 20_000_000;

/** How the page stores the frozen base: as it is, or quantized (docs/quantization.md). */
export const PAGE_FROZEN_DTYPES = ['f32', 'int8', 'nf4', 'nf4dq'] as const;
export type PageFrozenDtype = (typeof PAGE_FROZEN_DTYPES)[number];

export interface PageRun {
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  seed: number;
  /** The frozen base's dtype (default f32): int8, nf4 and nf4dq quantize it as `peftc build --frozen-dtype` does. */
  frozen?: PageFrozenDtype;
}

/** A mistake in what the page was asked to train: shown as it is, one line. */
export class PlaygroundError extends Error {
  override name = 'PlaygroundError';
}

let gpu: Promise<Gpu> | undefined;

/** The page's one WebGPU device, opened on the first Train. */
export function pageGpu(): Promise<Gpu> {
  gpu ??= openBrowserGpu();
  return gpu;
}

/** Compiles, plans and trains; the trainer is destroyed when the run ends. */
export async function trainInPage(g: Graph, program: { entry: string; sources: Record<string, string> }, base: { name: string; bytes: Uint8Array }, corpus: { name: string; text: string }, run: PageRun, hooks: RunHooks): Promise<RunResult> {
  const device = await pageGpu();
  const trainer = await BuiltTrainer.open(device, trainerFiles(g, program, base, run, device));
  try {
    return await runTraining(trainer, { data: { name: corpus.name, text: corpus.text, format: 'text' }, steps: run.steps, lr: run.lr, seed: run.seed }, hooks);
  } finally {
    trainer.destroy();
  }
}

/** What `peftc build` would write, made in memory for this device's kind of kernels. */
export function trainerFiles(g: Graph, program: { entry: string; sources: Record<string, string> }, base: { name: string; bytes: Uint8Array }, run: PageRun, device: Pick<Gpu, 'info'>): TrainerFiles {
  const total = g.params.reduce((n, p) => n + count(p.shape), 0);
  if (total > MAX_PAGE_PARAMS) throw new PlaygroundError(`this model has ${total.toLocaleString('en')} parameters; the page trains models up to ${MAX_PAGE_PARAMS.toLocaleString('en')} (the tiny-gpt examples): build a trainer with \`peftc build\` for larger ones`);
  const vocab = vocabOf(g);
  if (vocab === undefined || vocab < 256) throw new PlaygroundError(`the page trains byte-level language models (vocab_size ≥ 256, like tiny-gpt.peft) on its bundled text; this one ${vocab === undefined ? 'has no token table' : `has vocab_size = ${vocab}`}`);
  if (g.task !== 'causal_lm') throw new PlaygroundError(`the page trains language models on its bundled text; this program is a ${g.task} model: train it with \`peftc train\``);
  if (!g.params.some((p) => p.partition === 'trainable')) throw new PlaygroundError('nothing in this program trains: add a `peft { … }` rule');
  // A sequence as long as asked, or as the position table leaves room for (a soft prompt takes some).
  const T = Math.min(run.seq, sequenceRoom(g));
  const tooLong = sequenceProblem(g, T);
  if (tooLong) throw new PlaygroundError(tooLong);
  const optimizer = { ...DEFAULT_OPTIMIZER, lr: run.lr };
  const store = createStore(g, 'f32');
  const loaded = loadMatching(g, store, base.bytes);
  const tokenizer = tokenizerByName('byte');
  initParams(g, store, { seed: run.seed, tokenize: (t) => tokenizer.encode(t), skip: loaded });
  const frozen = run.frozen ?? 'f32';
  // The values the codes stand for, as `peftc build --frozen-dtype` has them (runtime/quantize-store.ts).
  if (frozen !== 'f32') quantizeFrozen(g, store, frozen);

  const kind: KernelKind = device.info.isSoftware ? 'software' : 'hardware';
  const plans = planAll(g, optimizer, { B: run.batch, T }, kind === 'software', frozen === 'f32' ? {} : { frozenQuant: frozen });
  const trainable = store.trainable.size;
  const manifest: TrainerManifest = {
    format: TRAINER_FORMAT,
    model: { name: String(g.config.name ?? program.entry), entry: program.entry, set: [], full: false, sources: program.sources, base: loaded.size ? base.name : null, task: g.task, promptLength: g.promptLength, vocab, frozenDtype: frozen, recompute: recomputeOf(g) },
    params: g.params.map(({ src: _, ...p }) => p),
    tokenizer: 'byte',
    dims: { B: run.batch, T },
    optimizer,
    settings: { steps: run.steps, lr: run.lr, schedule: 'constant', warmup: 0, evalEvery: Math.max(1, Math.round(run.steps / 4)), seed: run.seed, evalRows: 4 * run.batch, validFraction: 0.1 },
    target: { name: "WebGPU's default limits", kernels: [kind], limits: { ...DEFAULT_CAPS.limits }, features: [] },
    sample: null,
    stats: { trainable, total: trainable + store.frozen.size, dispatches: { [kind]: plans.train.steps.length }, shaders: { [kind]: plans.train.shaders.length } },
    builtBy: 'peftc playground',
  };
  return { manifest, plans: { [kind]: plans }, weights: trainerWeightBytes(store, plans.train.frozen) };
}

/** The training plan, and the evaluation plan when some dropout draws a mask (as `peftc build`: the loss over chunks of rows). */
function planAll(g: Graph, optimizer: typeof DEFAULT_OPTIMIZER, dims: { B: number; T: number }, isSoftware: boolean, frozen: Pick<PlanOptions, 'frozenQuant'>): TrainerPlans {
  const t = buildTrainingGraph(g, optimizer);
  const backend = wgslBackend({ ...DEFAULT_CAPS, isSoftware });
  const opts = { ...frozen, lossChunkBytes: DEFAULT_LOSS_CHUNK_BYTES };
  try {
    const train = buildPlan(t, dims, backend, { ...opts, dropout: 'train' });
    const extra = Object.entries(train.io.extra ?? {}).filter(([, r]) => r.fill === undefined).map(([n]) => n);
    if (extra.length) throw new PlaygroundError(`the page trains models whose only input is the text; this one also needs ${extra.join(', ')} (rank masks, several adapters): train it with \`peftc train\``);
    const masks = g.nodes.some((n) => n.op === 'dropout' && (n.attrs.p as number) > 0);
    return masks ? { train, eval: buildPlan(t, dims, backend, { ...opts, dropout: 'eval' }) } : { train };
  } catch (e) {
    if (e instanceof PlanError) throw new PlaygroundError(e.message);
    throw e;
  }
}

/** Copies every base tensor whose path and shape the program has; returns their paths. */
function loadMatching(g: Graph, store: ParamStore, bytes: Uint8Array): Set<string> {
  const file = parseSafetensors(bytes);
  const loaded = new Set<string>();
  for (const p of g.params) {
    const t = file.tensors.get(p.path);
    if (!t || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) continue;
    paramView(store, p.path).set(getFloat32(file, p.path, p.shape as number[]));
    loaded.add(p.path);
  }
  return loaded;
}

/**
 * The rows of the token table (a prompt template makes it a soft_embedding, ids in operand 2):
 * cli/tokenizer-choice.ts's vocabSize, which the page cannot import (it loads tokenizer files).
 */
function vocabOf(g: Graph): number | undefined {
  const emb = g.nodes.find((n) => (n.op === 'embedding' && g.nodes[n.inputs[1]!]!.op === 'input') || (n.op === 'soft_embedding' && g.nodes[n.inputs[2]!]!.op === 'input'));
  return emb ? (g.nodes[emb.inputs[0]!]!.shape[0] as number) : undefined;
}
