// Several adapters over one base on the command line (docs/multi-adapter.md):
//   peftc generate|eval BASE.peft --init W --adapter a=DIR --adapter b=DIR [--use a|b|a+b|0.5*a+0.5*b|base]
//   peftc params|viz BASE.peft --adapter a=DIR …      what each adapter costs next to the shared base
//   peftc combine BASE.peft --adapter a=DIR --adapter b=DIR --use 0.5*a+0.5*b -o DIR | --merge-into W -o OUT.safetensors
//   peftc train NEW.peft --frozen-adapter a=DIR …     (cli/session.ts) train on top of frozen adapters
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { CompileResult } from '../compiler/build.ts';
import { maxContext } from '../compiler/positions.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { describeAdapter, summarizeShape } from '../compiler/multi/describe.ts';
import { stackAdapters, stackedPath } from '../compiler/multi/stack.ts';
import { formatCount, summarize } from '../compiler/params.ts';
import { createStore, type ParamStore } from '../runtime/arena.ts';
import { ADAPTER_FILE, CHECKPOINT_FILE, CHECKPOINT_FORMAT, packCheckpoint, type CheckpointState } from '../runtime/checkpoint.ts';
import { readCheckpointDir } from '../runtime/checkpoint-node.ts';
import { Batcher } from '../runtime/data/batches.ts';
import { loadDataset } from '../runtime/data/load-node.ts';
import { dataLimit } from '../runtime/data/read-node.ts';
import { DecodeStream, type Tokenizer } from '../runtime/data/tokenizer.ts';
import { planBaseLoad } from '../runtime/interop/hf-weights.ts';
import { readHfCheckpoint } from '../runtime/interop/hf-weights-node.ts';
import { writeFolderAtomic } from '../runtime/interop/interop-node.ts';
import { checkMergedFinite, mergeIntoBase } from '../runtime/interop/merge.ts';
import { FAMILIES, type Family } from '../runtime/interop/names.ts';
import { writeSafetensorsFile } from '../runtime/io/safetensors-node.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, type WriteTensor } from '../runtime/io/safetensors.ts';
import { combine, concatLora, parseCombination, type BaseProgram, type Part } from '../runtime/multi/combine.ts';
import { CpuDecoder } from '../runtime/decode/cpu-decoder.ts';
import { generateMixed } from '../runtime/multi/generate.ts';
import { FROZEN_SETTING, frozenAdaptersOf, isCheckpointDir, loadAdapter, loadBase, loadStackParts, parseAdapterSpec, type AdapterSpec, type LoadedBase } from '../runtime/multi/load-node.ts';
import { AdapterSet, AdapterSetError, layoutAdapters, servingGraph, type LoadedAdapter, type MemoryReport } from '../runtime/multi/set.ts';
import { recordedLabelNames } from '../runtime/label-names.ts';
import { validate } from '../runtime/trainer.ts';
import { GPU_CHOICES, type GpuChoice } from '../runtime/webgpu/device.ts';
import { renderPartitionsHtml } from '../viz/html.ts';
import { formatBytes } from '../viz/format.ts';
import { renderTreeText } from '../viz/terminal.ts';
import { buildVizTree } from '../viz/tree.ts';
import { compileFile, report, type CompileFlags } from './common.ts';
import { BASE_UNKNOWN, chooseSharedBase, chooseSharedSet, sharedFrozenDtype, type BaseChoice } from './fine-tune.ts';
import { UserError } from './errors.ts';
import { backendName, threadCount } from './backend-choice.ts';
import type { GpuServing } from './webgpu-backend.ts';
import { nodeHost } from './node-host.ts';
import { int, num } from './flags.ts';
import { accuracy } from './eval-accuracy.ts';
import { pickTokenizer, vocabSize } from './tokenizer-choice.ts';

export interface MultiFlags extends CompileFlags {
  init?: string;
  /** `name=DIR` (or DIR), repeatable. */
  adapter?: string[];
  /** Which adapter(s): a name, `base`, or a combination `a+b`, `0.5*a+0.5*b`; repeatable. */
  use?: string[];
  tokenizer?: string;
  seed?: string;
  family?: string;
  backend?: string;
  /** `--threads N` for --backend wasm. */
  threads?: string;
  gpu?: string;
  /** `--rank`: refused with several adapters. */
  rank?: string;
  /** `--frozen-dtype`: only f32 with several adapters (sharedFrozenDtype). */
  frozenDtype?: string;
  /** `--allow-nonfinite`: accept NaN/±Inf weights. */
  allowNonfinite?: boolean;
}

/** Whether a verb runs in the multi-adapter form: a named adapter, several, or --use. */
export function isMulti(flags: { adapter?: string[] | string; use?: string[] }): boolean {
  const list = typeof flags.adapter === 'string' ? [flags.adapter] : (flags.adapter ?? []);
  return list.length > 1 || list.some((a) => /^[A-Za-z0-9_-]+=/.test(a)) || (flags.use?.length ?? 0) > 0;
}

export function collect(v: string, acc: string[] = []): string[] {
  return [...acc, v];
}

function family(flags: MultiFlags): Family | undefined {
  if (flags.family === undefined) return undefined;
  if (!(FAMILIES as readonly string[]).includes(flags.family)) throw new UserError(`unknown --family \`${flags.family}\`; choose ${FAMILIES.join(', ')}`);
  return flags.family as Family;
}

export interface OpenedSet {
  set: AdapterSet;
  loaded: LoadedBase;
  tokenizer: Tokenizer;
  maxContext: number;
  /** --use entries → the adapter name that serves each (null: the base). */
  uses: (string | null)[];
  /**
   * With --backend webgpu (or auto on a hardware GPU): its backends and decoders; with wasm (or
   * auto without one), its backends and the CPU's decoders; with cpu, the CPU's.
   */
  serving?: Serving;
}

/** Loads the base once and every --adapter; each --use combination becomes one more adapter. */
export async function openAdapterSet(file: string, flags: MultiFlags): Promise<OpenedSet> {
  const backend = backendName(flags.backend);
  const threads = threadCount(flags.threads);
  const gpuName = flags.gpu ?? 'auto';
  if (!GPU_CHOICES.includes(gpuName as GpuChoice)) throw new UserError(`--gpu must be one of ${GPU_CHOICES.join(', ')}, not \`${gpuName}\``);
  // --rank is one fine-tune's (its dynamic(…) LoRA at rank n); an adapter set runs each at its max.
  if (flags.rank !== undefined) throw new UserError(`--rank ${flags.rank} runs one fine-tune's \`dynamic(…)\` LoRA at that rank; several adapters run at their max (run one with --adapter DIR --rank ${flags.rank})`);
  // The adapters' checkpoints say which base they were trained on, when --init does not.
  const specs = (flags.adapter ?? []).map(parseAdapterSpec);
  const choice = chooseSharedBase(specs, flags.init);
  for (const n of [...choice.notes, ...sharedFrozenDtype(specs, flags.frozenDtype)]) process.stderr.write(`peftc: note: ${n}\n`);
  const read = { allowNonFinite: flags.allowNonfinite ?? false };
  const loaded = await loadBase(file, { host: nodeHost, set: chooseSharedSet(specs, flags.set), ...(choice.init ? { init: choice.init } : {}), seed: choice.seed, read });
  const { base, program } = loaded;
  const tokenizer = pickTokenizer(base.graph, flags.tokenizer);
  const ctx = { baseGraph: base.graph, program, read, ...(family(flags) ? { family: family(flags)! } : {}) };
  const adapters: LoadedAdapter[] = [];
  for (const spec of specs) adapters.push(await loadAdapter(spec, ctx));
  const uses: (string | null)[] = [];
  let mixes = 0;
  for (const u of flags.use ?? []) {
    if (u === 'base') uses.push(null);
    else if (!u.includes('+') && !u.includes('*')) uses.push(u);
    else uses.push(addCombination(u, `mix${++mixes}`, adapters, loaded));
  }
  const set = AdapterSet.create(base, adapters);
  for (const u of uses) if (u !== null) set.info(u);
  // The backend opens last, once every file is known to be good.
  const serving = backend === 'wasm' ? await wasmServing(threads) : backend === 'cpu' ? undefined : await gpuServingFor(backend === 'auto', gpuName as GpuChoice, threads);
  return { set, loaded, tokenizer, maxContext: maxContext(base.graph), uses, ...(serving ? { serving } : {}) };
}

/** Where the adapters evaluate (`open`) and decode (`decoderOf`; absent: on the CPU). */
type Serving = Pick<GpuServing, 'name' | 'open'> & Partial<Pick<GpuServing, 'decoderOf'>>;

/**
 * The wasm backend evaluates, and decodes on its kernels with the cache in its memory
 * (docs/generate.md). Where `--backend auto` fell back to it (`fallback`), a model too large for
 * its memory runs on the CPU reference instead (wasm-or-reference.ts).
 */
async function wasmServing(threads: number, fallback = false): Promise<Serving> {
  const { openWasmBackend } = await import('../runtime/wasm/backend.ts');
  const { openWasmOrReference } = await import('./wasm-or-reference.ts');
  const serving = {
    // what the last backend opened is (`cpu` where the fallback took the reference): eval's table names it
    name: 'wasm',
    open: (t: TrainingGraph, store: ParamStore) => {
      const backend = fallback ? openWasmOrReference(t, store, threads) : openWasmBackend(t, store, { threads });
      serving.name = backend.name;
      return backend;
    },
    decoderOf: (graph: Graph, store: ParamStore) => {
      const backend = serving.open(servingGraph(graph), store);
      return new CpuDecoder(graph, backend.runStore, {}, backend.decoding);
    },
  };
  return serving;
}

/** The GPU, or the wasm backend where `auto` finds no hardware GPU. Loaded on demand: the CPU needs no Dawn. */
async function gpuServingFor(auto: boolean, gpuName: GpuChoice, threads: number): Promise<Serving> {
  const web = await import('./webgpu-backend.ts');
  const gpu = await web.openCliGpu(auto, gpuName);
  return gpu ? web.gpuServing(gpu) : wasmServing(threads, true);
}

function addCombination(expr: string, name: string, adapters: LoadedAdapter[], loaded: LoadedBase): string {
  const parts: Part[] = parseCombination(expr).map((t) => {
    const adapter = adapters.find((a) => a.name === t.name);
    if (!adapter) throw new AdapterSetError(`--use ${expr}: no adapter named \`${t.name}\` (loaded: ${adapters.map((a) => a.name).join(', ') || 'none'})`);
    return { adapter, weight: t.weight };
  });
  adapters.push(combine(name, parts, loaded.base, loaded.program));
  return name;
}

const label = (u: string | null, flags: MultiFlags, i: number) => (u === null ? 'base' : flags.use?.[i] ?? u);

// ------------------------------------------------------------------ eval

export interface MultiEvalFlags extends MultiFlags {
  data: string;
  valid?: string;
  batch: string;
  seq?: string;
  json?: boolean;
  maxDataBytes?: string;
}

/** `peftc eval BASE.peft --adapter a=DIR … [--use …]`: loss and perplexity per adapter (every loaded one without --use). */
export async function evalMulti(file: string, flags: MultiEvalFlags): Promise<number> {
  const limit = dataLimit(flags.maxDataBytes); // a bad flag is reported before the models open
  const o = await openAdapterSet(file, flags);
  const uses = o.uses.length ? o.uses : o.set.names;
  const g = o.loaded.base.graph;
  const P = Math.max(0, ...uses.map((u) => o.set.promptLength(u)));
  const seqLen = int(flags.seq ?? String(Math.min(128, o.maxContext - P)), '--seq', 2);
  const classes = g.task === 'classification' ? (g.nodes[g.outputs.logits]!.shape[1] as number) : undefined;
  const labels = classes ? trainedLabelNames((flags.adapter ?? []).map(parseAdapterSpec)) : {};
  const data = loadDataset({ data: flags.data, valid: flags.valid ?? flags.data, task: g.task, tokenizer: o.tokenizer, seqLen, modelVocab: vocabSize(g), ...(classes ? { numLabels: classes } : {}), ...labels, ...limit });
  const rows: { adapter: string; loss: number; perplexity: number; positions: number; accuracy?: number }[] = [];
  for (const [i, u] of uses.entries()) {
    const batcher = new Batcher(data, { batchSize: int(flags.batch, '--batch', 1), promptLength: o.set.promptLength(u) });
    const batches = batcher.validationBatches();
    const backend = o.set.backend(u, o.serving?.open);
    const loss = await validate(backend, batches);
    const row = { adapter: label(u, flags, i), loss, perplexity: Math.exp(loss), positions: batches.reduce((a, b) => a + b.targets.data.filter((t) => t !== -100).length, 0) };
    // A classifier's accuracy, per adapter, as one-adapter eval reports it.
    rows.push(classes ? { ...row, accuracy: await accuracy(backend, batches) } : row);
  }
  if (flags.json) process.stdout.write((rows.length === 1 && o.uses.length === 1 ? JSON.stringify(rows[0]) : JSON.stringify(rows)) + '\n');
  else {
    const w = Math.max(7, ...rows.map((r) => r.adapter.length));
    process.stdout.write(`on ${o.serving?.name ?? 'cpu'}\n`);
    process.stdout.write(`${'adapter'.padEnd(w)}  loss      perplexity  positions${classes ? '  accuracy' : ''}\n`);
    for (const r of rows) {
      const tail = r.accuracy === undefined ? String(r.positions) : `${String(r.positions).padEnd(9)}  ${r.accuracy.toFixed(4)}`;
      process.stdout.write(`${r.adapter.padEnd(w)}  ${r.loss.toFixed(4).padEnd(8)}  ${r.perplexity.toFixed(4).padEnd(10)}  ${tail}\n`);
    }
  }
  return 0;
}

/**
 * A classifier's string labels take the ids its training run gave them (runtime/label-names.ts),
 * as in one-adapter eval; one data file serves every adapter, so those that recorded names must
 * agree on them.
 */
function trainedLabelNames(specs: AdapterSpec[]): { labelNames?: string[] } {
  let first: { names: string[]; dir: string } | undefined;
  for (const spec of specs) {
    if (!isCheckpointDir(spec.dir)) continue;
    const names = recordedLabelNames(readCheckpointDir(spec.dir).state.settings, spec.dir);
    if (!names) continue;
    if (first && JSON.stringify(names) !== JSON.stringify(first.names)) {
      throw new AdapterSetError(`the adapters were trained with different label names: ${first.dir} has ${JSON.stringify(first.names)}, ${spec.dir} has ${JSON.stringify(names)} (ids in that order); evaluate them separately`);
    }
    first ??= { names, dir: spec.dir };
  }
  return first ? { labelNames: first.names } : {};
}

// ------------------------------------------------------------------ generate

export interface MultiGenerateFlags extends MultiFlags {
  prompt: string[];
  maxTokens: string;
  temperature: string;
  topK: string;
  topP: string;
}

/**
 * `peftc generate BASE.peft --adapter a=DIR … --use a --prompt "…" [--use b --prompt "…"]`: every
 * (adapter, prompt) row in one batch per step. One prompt with several --use: the same prompt
 * through each adapter; one --use: every prompt through it; else pairs in order.
 */
export async function generateMulti(file: string, flags: MultiGenerateFlags): Promise<number> {
  const o = await openAdapterSet(file, flags);
  if (o.loaded.base.graph.task !== 'causal_lm') throw new UserError('`peftc generate` needs a language model');
  const uses = o.uses.length ? o.uses : o.set.names;
  const prompts = flags.prompt;
  let pairs: [number, string][];
  if (prompts.length === 1) pairs = uses.map((_, i) => [i, prompts[0]!]);
  else if (uses.length === 1) pairs = prompts.map((p) => [0, p]);
  else if (prompts.length === uses.length) pairs = prompts.map((p, i) => [i, p]);
  else throw new UserError(`${prompts.length} --prompt for ${uses.length} adapters: give one prompt, one --use, or as many of each`);
  const rows = pairs.map(([u, p]) => {
    const ids = o.tokenizer.encode(p);
    if (ids.length === 0) throw new UserError('--prompt is empty');
    return { prompt: ids, use: uses[u]! };
  });
  const out = await generateMixed(o.set, rows, {
    maxTokens: int(flags.maxTokens, '--max-tokens', 1),
    temperature: num(flags.temperature, '--temperature'),
    topK: int(flags.topK, '--top-k'),
    topP: num(flags.topP, '--top-p'),
    seed: Number(flags.seed ?? 0),
    maxContext: o.maxContext,
    ...(o.tokenizer.eos !== undefined ? { eos: o.tokenizer.eos } : {}),
  }, o.serving?.decoderOf);
  pairs.forEach(([u, p], i) => {
    const stream = new DecodeStream(o.tokenizer);
    const text = p + out[i]!.map((id) => stream.push(id)).join('') + stream.flush();
    process.stdout.write(rows.length === 1 ? `${text}\n` : `[${label(uses[u]!, flags, u)}] ${text}\n`);
  });
  return 0;
}

// ------------------------------------------------------------------ combine

export interface CombineFlags extends MultiFlags {
  out: string;
  mergeInto?: string;
}

/**
 * `peftc combine BASE.peft --adapter a=DIR --adapter b=DIR --use 0.7*a+0.3*b -o DIR`: LoRA adapters
 * summed into one (ranks concatenated, nothing merged) as a checkpoint directory; with
 * `--merge-into W -o OUT.safetensors` the same sum folded into base weights W (in their names).
 * Bottleneck adapters (weights 1) are saved as a stack: the last one's checkpoint, recorded as
 * trained on top of the others.
 */
export async function combineCommand(file: string, flags: CombineFlags): Promise<number> {
  const expr = flags.use?.length === 1 ? flags.use[0]! : undefined;
  if (!expr) throw new UserError('`peftc combine` takes one --use: the combination, e.g. `a+b` (stack), `0.5*a+0.5*b` (average)');
  const specs = (flags.adapter ?? []).map(parseAdapterSpec);
  const loaded = await loadBase(file, { host: nodeHost, set: chooseSharedSet(specs, flags.set), seed: 0 });
  const read = { allowNonFinite: flags.allowNonfinite ?? false };
  const ctx = { baseGraph: loaded.base.graph, program: loaded.program, read, ...(family(flags) ? { family: family(flags)! } : {}) };
  if (flags.init && flags.mergeInto && resolve(flags.init) !== resolve(flags.mergeInto)) {
    throw new UserError(`--init ${flags.init} and --merge-into ${flags.mergeInto} name different bases; --merge-into alone folds into its weights`);
  }
  // The base the result belongs to: recorded in a combined checkpoint, so eval finds it again.
  const base = flags.mergeInto ? undefined : baseToRecord(specs, flags.init);
  const adapters = new Map<string, LoadedAdapter>();
  for (const s of specs) adapters.set(s.name, await loadAdapter(s, ctx));
  const terms = parseCombination(expr);
  const parts: Part[] = terms.map((t) => {
    const adapter = adapters.get(t.name);
    if (!adapter) throw new UserError(`--use ${expr}: no adapter named \`${t.name}\` (loaded: ${[...adapters.keys()].join(', ') || 'none'})`);
    return { adapter, weight: t.weight };
  });
  const name = basename(resolve(flags.out)).replace(/\.safetensors$/, '').replace(/[^A-Za-z0-9_-]/g, '_') || 'combined';
  if (flags.mergeInto) {
    const c = concatLora(name, parts, loaded.program);
    if (existsSync(flags.out) && statSync(flags.out).isDirectory()) throw new UserError(`\`${flags.out}\` is a folder; with --merge-into, -o names the merged .safetensors file`);
    const ck = await readHfCheckpoint(resolve(flags.mergeInto), read);
    const plan = planBaseLoad(c.adapter.graph, ck.file, family(flags), flags.mergeInto);
    const res = mergeIntoBase(c.adapter.graph, plan, ck.file, c.adapter.values);
    if (!read.allowNonFinite) checkMergedFinite(res, flags.out);
    await writeSafetensorsFile(flags.out, res.tensors, { format: 'pt' });
    process.stdout.write(`${flags.out}: ${res.tensors.size} tensors; ${expr} folded into ${res.merged.length}\n`);
    return 0;
  }
  const allLora = parts.every((p) => {
    const s = layoutAdapters(loaded.base.graph, [p.adapter]).infos[0]!.shape;
    return s.lora.length > 0 && !s.adapters.length && !s.prompt && !s.prefix && !s.train.length && !s.other.length;
  });
  if (allLora) {
    const c = concatLora(name, parts, loaded.program);
    const entry = join(resolve(flags.out), 'combined.peft');
    const files = Object.fromEntries(Object.entries(c.files).map(([k, v]) => [k === c.entry ? entry : k, v]));
    await writeAdapterDir(flags.out, c.adapter, { entry, files }, loaded.program.set, base, { combined_from: JSON.stringify(parts.map((p) => ({ name: p.adapter.name, dir: resolve(p.adapter.source), weight: p.weight }))) }, c.text);
    const ranks = [...new Set(layoutAdapters(loaded.base.graph, [c.adapter]).infos[0]!.shape.lora.map((l) => l.rank))].join('/');
    process.stdout.write(`${flags.out}: ${expr} as one LoRA of rank ${ranks} (${formatCount(layoutAdapters(loaded.base.graph, [c.adapter]).infos[0]!.params)} params), not merged\n`);
    return 0;
  }
  if (parts.some((p) => p.weight !== 1)) throw new UserError(`--use ${expr}: bottleneck adapters do not add up, they stack (one after another): combine them with weights 1 (\`a+b\`), or merge LoRA adapters only`);
  // The adapters below the top load as a frozen stack (train --frozen-adapter's): refuse now what
  // would not load back, rather than write a checkpoint eval cannot open.
  stackAdapters(loaded.base.graph, parts.slice(0, -1).map((p) => ({ name: p.adapter.name, shape: describeAdapter(p.adapter.graph) })));
  const last = parts[parts.length - 1]!.adapter;
  const dir = last.source;
  if (!existsSync(join(dir, ADAPTER_FILE))) throw new UserError(`\`${last.name}\` is not a checkpoint directory; import it first (\`peftc import\`)`);
  const ck = readCheckpointDir(dir);
  const below = parts.slice(0, -1).map((p) => ({ name: p.adapter.name, dir: resolve(p.adapter.source) }));
  const recorded = recordBase(base);
  const state: CheckpointState = { ...ck.state, base: recorded.base, seed: recorded.seed, settings: { ...ck.state.settings, ...recorded.settings, frozen_adapters: JSON.stringify(below) } };
  await writeFolderAtomic(flags.out, new Map<string, Uint8Array>([
    [CHECKPOINT_FILE, withState(readFileSync(join(dir, CHECKPOINT_FILE)), state)],
    [ADAPTER_FILE, new Uint8Array(readFileSync(join(dir, ADAPTER_FILE)))],
  ]));
  process.stdout.write(`${flags.out}: ${expr} as a stack: ${last.name} on top of ${below.map((b) => b.name).join(', ')}\n`);
  return 0;
}

/**
 * The base a combination records: --init, else the one its adapters' checkpoints agree on. When
 * they disagree or record none, the combination is marked as not knowing its base (eval and
 * generate then ask for --init) and a note says so: combining needs no base weights.
 */
function baseToRecord(specs: AdapterSpec[], init: string | undefined): BaseChoice | undefined {
  try {
    const base = chooseSharedBase(specs, init);
    for (const n of base.notes) process.stderr.write(`peftc: note: ${n}\n`);
    return base;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    process.stderr.write(`peftc: note: the combination records no base weights (${e.message.replace(/; pass --init.*$/, '')}); pass --init here to record them, or --init to eval and generate\n`);
    return undefined;
  }
}

/** What a combined checkpoint records about its base: a file by absolute path, the seed of seeded weights, or that it is unknown. */
function recordBase(base: BaseChoice | undefined): { base: string | null; seed: number; settings: Record<string, boolean> } {
  if (!base) return { base: null, seed: 0, settings: { [BASE_UNKNOWN]: true } };
  return { base: base.init ? resolve(base.init) : null, seed: base.seed, settings: {} };
}

/** A checkpoint file with its training state replaced. */
function withState(bytes: Uint8Array, state: CheckpointState): Uint8Array {
  const file = parseSafetensors(new Uint8Array(bytes));
  const tensors: Record<string, WriteTensor> = {};
  for (const [k, t] of file.tensors) tensors[k] = { dtype: 'F32', shape: t.shape, data: Float32Array.from(getFloat32(file, k)) };
  return serializeSafetensors(tensors, { ...(file.metadata ?? {}), peftc: JSON.stringify(state) });
}

/** A checkpoint directory for an adapter made here (step 0, zero moments), with its .peft beside it. */
async function writeAdapterDir(out: string, a: LoadedAdapter, source: { entry: string; files: Record<string, string> }, set: string[], base: BaseChoice | undefined, settings: Record<string, string>, text: string): Promise<void> {
  const store = createStore(a.graph, 'f32');
  for (const [path, v] of a.values) store.trainable.view(path).set(v);
  const n = store.trainable.size;
  const recorded = recordBase(base);
  const state: CheckpointState = { format: CHECKPOINT_FORMAT, step: 0, seed: recorded.seed, settings: { ...settings, ...recorded.settings }, source, set, base: recorded.base, valLoss: null };
  const ck = packCheckpoint(store, { step: 0, m: new Float32Array(n), v: new Float32Array(n) }, state);
  const adapter: Record<string, WriteTensor> = {};
  for (const [path, v] of a.values) adapter[path] = { dtype: 'F32', shape: a.graph.params.find((p) => p.path === path)!.shape, data: v };
  await writeFolderAtomic(out, new Map<string, Uint8Array | string>([
    [CHECKPOINT_FILE, serializeSafetensors(ck.tensors, ck.metadata)],
    [ADAPTER_FILE, serializeSafetensors(adapter, { format: 'peftc-adapter/1' })],
    ['combined.peft', text],
  ]));
}

// ------------------------------------------------------------------ params and viz

/** The adapters loaded next to the shared base, as a table (what `peftc params --adapter` adds). */
export function adaptersText(mem: MemoryReport, set: { infos: AdapterSet['infos'] }): string {
  const rows = set.infos.map((i, k) => {
    const m = mem.adapters[k]!;
    return [i.name, i.source.startsWith('stack(') || i.source.startsWith('combine(') ? i.source : summarizeShape(i.shape), formatCount(m.params), formatBytes(m.bytes), share(m.params, mem.base.params), m.placement];
  });
  const head = ['adapter', 'what', 'params', 'memory', 'of base', 'where'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((x, c) => (c === 2 || c === 3 || c === 4 ? x.padStart(widths[c]!) : x.padEnd(widths[c]!))).join('  ').trimEnd();
  const n = set.infos.length;
  const lines = [
    `${n} adapter${n === 1 ? '' : 's'} over one shared base: ${formatCount(mem.base.params)} frozen params (${formatBytes(mem.base.bytes)}), held once`,
    line(head),
    ...rows.map(line),
  ];
  if (mem.bank) lines.push(`bank: ${mem.bank.slots} slot${mem.bank.slots === 1 ? '' : 's'} stacked [N, …], ${formatCount(mem.bank.params)} params (${formatBytes(mem.bank.bytes)}; smaller ranks padded): one pass serves a batch that mixes them`);
  lines.push(`total ${formatBytes(mem.totalBytes)} for ${n} task${n === 1 ? '' : 's'}; ${n} fine-tuned copies of the model would take ${formatBytes(n * mem.base.bytes)}`);
  return lines.join('\n') + '\n';
}

function share(part: number, total: number): string {
  const p = (100 * part) / total;
  return p === 0 ? '0%' : p < 0.01 ? '<0.01%' : `${p.toFixed(2)}%`;
}

/** Adapters named on the command line, described without allocating the base's weights. */
async function describeAdapters(file: string, res: CompileResult, flags: MultiFlags): Promise<{ infos: AdapterSet['infos']; mem: MemoryReport; bankGraph: Graph; adapters: LoadedAdapter[] }> {
  const program: BaseProgram = { entry: resolve(file), host: nodeHost, set: flags.set ?? [] };
  const graph = res.graph!;
  const peft = res.plan?.apps[0];
  if (peft || res.plan?.train.size) throw new UserError(`${file} has PEFT methods; with --adapter give the base model's .peft: each adapter brings its own program`);
  const ctx = { baseGraph: graph, program, ...(family(flags) ? { family: family(flags)! } : {}) };
  const adapters: LoadedAdapter[] = [];
  for (const spec of (flags.adapter ?? []).map(parseAdapterSpec)) adapters.push(await loadAdapter(spec, ctx));
  const layout = layoutAdapters(graph, adapters);
  const bankGraph = layout.bank?.graph ?? { ...graph, params: graph.params.map((p) => ({ ...p, partition: 'frozen' as const })) };
  return { infos: layout.infos, mem: layout.memory, bankGraph, adapters };
}

export async function paramsMulti(file: string, flags: MultiFlags & { json?: boolean; flat?: boolean }): Promise<number> {
  const res = compileFile(file, flags, { derivedPrefix: true });
  if (report(res)) return 1;
  const d = await describeAdapters(file, res, flags);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ memory: d.mem, adapters: d.infos.map((i) => ({ name: i.name, source: i.source, placement: i.placement, params: i.params, what: summarizeShape(i.shape) })) }, null, 2) + '\n');
    return 0;
  }
  const tree = renderTreeText(buildVizTree(d.bankGraph, res.root!, res.plan), { color: process.stdout.isTTY === true });
  process.stdout.write((flags.flat ? '' : tree + '\n') + adaptersText(d.mem, d) );
  return 0;
}

export async function vizMulti(file: string, flags: MultiFlags & { output?: string }): Promise<number> {
  const res = compileFile(file, flags, { derivedPrefix: true });
  if (report(res)) return 1;
  const d = await describeAdapters(file, res, flags);
  // The base and each adapter's own tensors, tagged with its name (not the padded bank).
  const tree = buildVizTree(res.graph!, res.root!, res.plan, d.adapters.map((a) => ({ name: a.name, graph: a.graph })));
  const html = renderPartitionsHtml(tree, summarize(res.graph!), {
    file: basename(file),
    adapters: { rows: d.infos.map((i, k) => ({ name: i.name, what: summarizeShape(i.shape), params: i.params, bytes: d.mem.adapters[k]!.bytes, where: d.mem.adapters[k]!.placement })), baseParams: d.mem.base.params, baseBytes: d.mem.base.bytes, totalBytes: d.mem.totalBytes },
  });
  const out = flags.output ?? 'partitions.html';
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, html);
  renameSync(tmp, out);
  process.stdout.write(`wrote ${out} (${formatBytes(Buffer.byteLength(html))}) with ${d.infos.length} adapter${d.infos.length === 1 ? '' : 's'}; open it in a browser\n`);
  return 0;
}

// ------------------------------------------------------------------ train on top of frozen adapters

/**
 * The adapters a session stacks below its own program, frozen: `--frozen-adapter` (repeatable),
 * else those recorded in the checkpoint it resumes or evaluates. Checkpoint directories only; each
 * comes with the adapters it was itself trained on top of, first.
 */
export async function frozenPartsFor(flags: { frozenAdapter?: string[]; resume?: string; adapter?: string | string[]; allowNonFinite?: boolean }): Promise<{ specs: AdapterSpec[]; parts: LoadedAdapter[] }> {
  let specs = (flags.frozenAdapter ?? []).map(parseAdapterSpec);
  const recorded = flags.resume ?? (typeof flags.adapter === 'string' ? flags.adapter : undefined);
  if (!specs.length && recorded && isCheckpointDir(recorded)) specs = frozenAdaptersOf(readCheckpointDir(recorded).state, recorded);
  specs = specs.map((s) => ({ name: s.name, dir: resolve(s.dir) }));
  return { specs, parts: specs.length ? await loadStackParts(specs, 0, { allowNonFinite: flags.allowNonFinite ?? false }) : [] };
}

/** The program with the frozen parts inserted below its own methods. */
export function stackFrozen(g: Graph, parts: LoadedAdapter[]): Graph {
  return parts.length ? stackAdapters(g, parts.map((p) => ({ name: p.name, shape: describeAdapter(p.graph) }))) : g;
}

/** Writes the frozen parts' weights into the store (after initParams). */
export function fillFrozen(store: ParamStore, parts: LoadedAdapter[]): void {
  for (const p of parts) for (const [path, v] of p.values) store.frozen.view(stackedPath(path, p.name)!).set(v);
}

/** The checkpoint setting that records them, so eval, generate, export and --resume find them again. */
export function frozenSetting(specs: AdapterSpec[] | undefined): Record<string, string> {
  return specs?.length ? { [FROZEN_SETTING]: JSON.stringify(specs) } : {};
}
