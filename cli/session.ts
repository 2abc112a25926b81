// What train, eval and generate share: compile the program, pick the tokenizer, create
// the parameter store, and fill it (seeded init, then --init base weights, then an
// --adapter checkpoint's trainable weights).
import { resolve } from 'node:path';
import type { OptimizerConfig, TrainingGraph } from '../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { maxContext } from '../compiler/positions.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../runtime/arena.ts';
import { CpuBackend, type Backend } from '../runtime/backend.ts';
import type { Tokenizer } from '../runtime/data/tokenizer.ts';
import { initParams } from '../runtime/init.ts';
import { quantizeFrozen } from '../runtime/quantize-store.ts';
import { isQuantDtype } from '../compiler/quant/dtype.ts';
import { quantizableWeights } from '../compiler/quant/select.ts';
import { loadInit } from '../runtime/interop/hf-weights-node.ts';
import { readWeightsFile, type WeightsReadOptions } from '../runtime/io/read-weights-node.ts';
import { loadWeights } from '../runtime/weights.ts';
import { GPU_CHOICES, type GpuChoice } from '../runtime/webgpu/device.ts';
import { UserError } from './errors.ts';
import { backendName, threadCount } from './backend-choice.ts';
import { frozenDtype, frozenPlanOptions } from './flags.ts';
import { fillFrozen, frozenPartsFor, stackFrozen } from './multi.ts';
import { pickTokenizer } from './tokenizer-choice.ts';
import { quantizedBaseNote } from './quantized-base-note.ts';
import type { AdapterSpec } from '../runtime/multi/load-node.ts';
import { compileFile, report, type CompileFlags } from './common.ts';
import { chooseBase, chooseFrozenDtype, chooseSet, chooseTokenizer, findFineTune, frozenBaseParams, knowsBase, noBaseError, otherModelHint, type BaseChoice, type FineTune } from './fine-tune.ts';

export interface SessionFlags extends CompileFlags {
  /** `name=DIR` checkpoints to train on top of, frozen (docs/multi-adapter.md). */
  frozenAdapter?: string[];
  /** The checkpoint a training run resumes (its frozen adapters come back with it). */
  resume?: string;
  init?: string;
  adapter?: string;
  tokenizer?: string;
  seed?: string;
  backend?: string;
  /** `--threads N`: the wasm backend's threads (default: the machine's cores). */
  threads?: string;
  /** `--rank N`: evaluate `lora(rank = dynamic(…))` at rank N. */
  rank?: string;
  /** The WebGPU adapter for --backend webgpu|auto (`--gpu`). */
  gpu?: string;
  /** `--frozen-dtype f32|f16|int8|nf4|nf4dq`: how frozen weight matrices are stored (docs/quantization.md). */
  frozenDtype?: string;
  /** `--allow-nonfinite`: load NaN/±Inf weights instead of refusing them. */
  allowNonfinite?: boolean;
}

export interface Session {
  graph: Graph;
  /** Adapters stacked below the program, frozen (`--frozen-adapter`, or recorded in the checkpoint). */
  frozen?: AdapterSpec[];
  /** The text of every file the program loaded, for checkpoints. */
  sources: Record<string, string>;
  store: ParamStore;
  tokenizer: Tokenizer;
  /** Longest sequence the model takes (its position table), or Infinity. */
  maxContext: number;
  /** Where the base weights came from (--init, the checkpoint, or seeded). */
  base: BaseChoice;
  /** The fine-tune --adapter named, with its checkpoint's state when it has one. */
  fineTune?: FineTune;
  /** --frozen-dtype, else the one the fine-tune's checkpoint recorded. */
  frozenDtype?: string;
}

export async function openSession(file: string, flags: SessionFlags, opts: { derivedPrefix?: boolean } = {}): Promise<Session | undefined> {
  // A fine-tune runs on what it was trained from: its checkpoint's base, --set and seed.
  const ft = flags.adapter ? findFineTune(flags.adapter) : undefined;
  const base = chooseBase(ft, flags.init, Number(flags.seed ?? 0));
  const { set, notes } = chooseSet(ft, flags.set);
  const dt = chooseFrozenDtype(ft, flags.frozenDtype);
  for (const n of [...base.notes, ...notes, ...dt.notes]) process.stderr.write(`peftc: note: ${n}\n`);
  const res = compileFile(file, { ...flags, set }, opts);
  if (report(res)) return undefined;
  const read: WeightsReadOptions = { allowNonFinite: flags.allowNonfinite ?? false };
  const frozen = await frozenPartsFor({ ...flags, adapter: ft?.dir, ...read });
  const graph = stackFrozen(res.graph!, frozen.parts);
  if (ft && !knowsBase(ft) && !base.init && frozenBaseParams(graph).length) throw noBaseError(ft, graph);
  const tokenizer = pickTokenizer(graph, chooseTokenizer(ft, flags.tokenizer));
  const store = createStore(graph, 'f32');
  // Base weights first, so that inits reading them (prompt `vocab`/`text`) see the loaded table.
  const init = base.init ? await loadInit(base.init, graph, store, undefined, read) : undefined;
  const loaded = init?.loaded ?? new Set<string>();
  // Only a model with frozen weight matrices applies a frozen dtype (everything trains without PEFT).
  const stored = init?.quantized && quantizableWeights(graph).size ? init.quantized : undefined;
  const quantNote = quantizedBaseNote(base.init ?? '', stored, dt.dtype, flags.frozenDtype !== undefined);
  if (quantNote) process.stderr.write(`peftc: note: ${quantNote}\n`);
  initParams(graph, store, { seed: base.seed, tokenize: (t) => tokenizer.encode(t), skip: loaded });
  fillFrozen(store, frozen.parts);
  const dtype = frozenDtype(dt.dtype);
  if (isQuantDtype(dtype)) quantizeFrozen(graph, store, dtype);
  if (ft) await loadFineTune(file, graph, store, ft, read);
  return { graph, sources: Object.fromEntries(res.texts), store, tokenizer, maxContext: maxContext(graph), base, ...(ft ? { fineTune: ft } : {}), ...(frozen.specs.length ? { frozen: frozen.specs } : {}), ...(dt.dtype ? { frozenDtype: dt.dtype } : {}) };
}

/** The adapter's weights: every kept trainable parameter of the model, and nothing else. */
async function loadFineTune(file: string, graph: Graph, store: ParamStore, ft: FineTune, read: WeightsReadOptions): Promise<void> {
  const weights = await readWeightsFile(ft.adapter, read);
  const require = graph.params.filter((p) => p.partition === 'trainable' && !p.transient).map((p) => p.path);
  loadWeights(graph, store, weights, { require, where: ft.adapter, model: file, hint: (m) => (m.unmatched.length || m.wrong.length ? otherModelHint(file, ft) : undefined) });
}





/**
 * The backend --backend names (cli/backend-choice.ts). The CPU and wasm backends run on the store
 * as the session filled it: a quantized --frozen-dtype is already in it as the values its codes
 * stand for, as on the CPU reference.
 */
export async function openBackend(name: string, t: TrainingGraph, store: ParamStore, gpuName = 'auto', dtype?: string, threads?: string): Promise<Backend> {
  const backend = backendName(name);
  const nThreads = threadCount(threads); // a bad --threads is refused whichever backend runs
  if (backend === 'cpu' || backend === 'wasm') {
    frozenDtype(dtype);
    if (backend === 'cpu') return new CpuBackend(t, store);
    // Loaded on demand: the other backends need no WebAssembly kernels.
    const { openWasmBackend } = await import('../runtime/wasm/backend.ts');
    return openWasmBackend(t, store, { threads: nThreads });
  }
  const frozen = frozenPlanOptions(dtype);
  // Loaded on demand: the CPU backend needs no Dawn.
  const { openWebGpuBackend } = await import('./webgpu-backend.ts');
  if (!GPU_CHOICES.includes(gpuName as GpuChoice)) throw new UserError(`--gpu must be one of ${GPU_CHOICES.join(', ')}, not \`${gpuName}\``);
  return openWebGpuBackend(t, store, backend === 'auto', gpuName as GpuChoice, frozen, nThreads);
}

export function trainingGraph(g: Graph, opt: OptimizerConfig): TrainingGraph {
  return buildTrainingGraph(g, opt);
}
