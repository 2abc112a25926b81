// The file side of interop (Node): reading adapter folders and checkpoint directories, and
// writing folders atomically — everything goes to a temporary folder next to the destination,
// which is renamed into place only when complete, so a failure leaves no output at all.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { open, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { compile } from '../../compiler/build.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import type { SourceHost } from '../../compiler/load.ts';
import { createStore, paramView } from '../arena.ts';
import { ADAPTER_FILE, CHECKPOINT_FORMAT, packCheckpoint, type CheckpointState } from '../checkpoint.ts';
import { readCheckpointDir } from '../checkpoint-node.ts';
import { makeDirs } from '../io/make-dirs-node.ts';
import { writeSafetensorsFile } from '../io/safetensors-node.ts';
import { readWeightsFile, type WeightsReadOptions } from '../io/read-weights-node.ts';
import { getFloat32, serializeSafetensors, type SafetensorsFile, type WriteTensor } from '../io/safetensors.ts';
import { rankedModules } from '../../compiler/peft/ranked-modules.ts';
import { ADAPTERHUB_HEAD_WEIGHTS, ADAPTERHUB_WEIGHTS_FILE } from './adapterhub.ts';
import { InteropError } from './errors.ts';
import { parseAdapterConfig } from './hf-config.ts';
import { adaloraKept, importAdapters, type AdapterFolder } from './hf-import.ts';
import { HF_CONFIG_FILE, HF_WEIGHTS_FILE, initialKey, planExport, toFileLayout, type ExportPlan } from './hf-peft.ts';
import { loadInit, readHfCheckpoint } from './hf-weights-node.ts';
import { initParams } from '../init.ts';
import { planBaseLoad } from './hf-weights.ts';
import { checkAdapterValues, checkMergedFinite, mergeIntoBase, type MergeResult } from './merge.ts';
import { hfNameMap, type Family } from './names.ts';
import { pyDumps } from './pyjson.ts';

/**
 * Writes `files` (relative path → contents) as the folder `dest`, atomically. `dest` must not
 * exist, or be an empty folder.
 */
export async function writeFolderAtomic(dest: string, files: Map<string, Uint8Array | string>): Promise<void> {
  const target = resolve(dest);
  if (existsSync(target) && (!statSync(target).isDirectory() || readdirSync(target).length > 0)) {
    throw new InteropError(`\`${dest}\` already exists; choose a new output folder or remove it`);
  }
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    for (const [rel, data] of files) {
      const path = join(tmp, rel);
      makeDirs(dirname(path));
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    if (existsSync(target)) await rmdir(target);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException;
    // A folder that cannot be made or written (no room, no permission, a missing parent): say which.
    if (err.code) throw new InteropError(`cannot write \`${dest}\`: ${err.code} at ${err.path ?? tmp}`);
    throw e;
  }
}

/** Compiles a checkpoint's recorded .peft sources (derivedPrefix: the model as used after training). */
export function compileCheckpointSource(state: CheckpointState, where: string): Graph {
  const files = state.source.files;
  const host: SourceHost = {
    read: (p) => files[p] ?? (existsSync(p) && statSync(p).isFile() ? readFileSync(p, 'utf8') : undefined),
    // The entry may be recorded relative to the directory training ran in: an import then
    // resolves to the recorded file that ends with the same path.
    resolve: (from, spec) => {
      const direct = resolve(dirname(from), spec);
      if (files[direct] !== undefined) return direct;
      const tail = `/${spec.replace(/^(\.\/)+/, '')}`;
      const hits = Object.keys(files).filter((k) => k.endsWith(tail));
      return hits.length === 1 ? hits[0]! : direct;
    },
  };
  const res = compile(state.source.entry, host, { set: state.set, derivedPrefix: true });
  if (!res.graph) {
    const first = res.diagnostics.find((d) => d.severity === 'error');
    throw new InteropError(`${where}: its recorded .peft source (${state.source.entry}) does not compile: ${first ? `${first.code} ${first.message}` : 'unknown error'}`);
  }
  return res.graph;
}

/** The trained weights of a checkpoint directory (its adapter.safetensors, or that file itself), by parameter path. */
export async function readAdapterValues(dir: string, read: WeightsReadOptions = {}): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const path = dir.endsWith('.safetensors') ? dir : join(dir, ADAPTER_FILE);
  if (!existsSync(path)) throw new InteropError(`${dir}: no ${ADAPTER_FILE}; is it a checkpoint directory written by \`peftc train --out\`?`);
  const file = await readWeightsFile(path, read);
  return new Map([...file.tensors].map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(getFloat32(file, k)) }]));
}

/** The adapter's values (a checkpoint directory's, or an adapter file's), checked against the kept trainable parameters of `g`. */
async function adapterFor(g: Graph, ckpt: string, read: WeightsReadOptions = {}): Promise<Map<string, Float32Array>> {
  const values = await readAdapterValues(ckpt, read);
  checkAdapterValues(g, values, ckpt.endsWith('.safetensors') ? ckpt : join(ckpt, ADAPTER_FILE));
  return new Map([...values].map(([k, v]) => [k, v.data]));
}

export interface ExportOptions {
  baseModel?: string | null;
  adapterName?: string;
  family?: Family;
  /** The rank of `lora(rank = dynamic(…))` modules (default: their max). */
  rank?: number;
  /** `rank = auto(…)` as PEFT's ADALORA (default where it can) or as the plain LoRA it has become. */
  adalora?: 'adalora' | 'lora';
  /** Accept NaN/±Inf weights (`--allow-nonfinite`). */
  allowNonFinite?: boolean;
  /**
   * The base the fine-tune was trained on (a weights file, or the seed of seeded weights), asked
   * for only when PiSSA / OLoRA factors need their initial values; default: the checkpoint's seed.
   */
  base?: () => { init?: string; seed: number };
}

/**
 * The initial factors of PiSSA / OLoRA modules (A₀, B₀ under initialKey), recomputed from the
 * base as training computed them: the base loaded into a fresh store, then initialised.
 */
async function initialFactors(g: Graph, ck: { state: CheckpointState }, opts: ExportOptions): Promise<Map<string, Float32Array>> {
  const params = g.params.filter((p) => p.init.kind === 'pissa' || p.init.kind === 'olora');
  if (!params.length) return new Map();
  const base = opts.base?.() ?? { seed: ck.state.seed };
  const store = createStore(g, 'f32');
  const read = { allowNonFinite: opts.allowNonFinite ?? false };
  const loaded = base.init ? (await loadInit(base.init, g, store, undefined, read)).loaded : new Set<string>();
  initParams(g, store, { seed: base.seed, skip: loaded });
  return new Map(params.map((p) => [initialKey(p.path), Float32Array.from(paramView(store, p.path))]));
}

/**
 * The ranks each module with a selected rank keeps: AdaLoRA's active triplets (the checkpoint's
 * masks, else its non-zero singular values), DyLoRA's first `rank` (default max).
 */
export function keptRanks(g: Graph, checkpoint: SafetensorsFile, values: Map<string, Float32Array>, rank?: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const ranked = rankedModules(g);
  if (rank !== undefined) {
    const dyn = ranked.filter((m) => m.mode === 'dynamic');
    if (!dyn.length) throw new InteropError('--rank chooses the rank of `lora(rank = dynamic(…))` modules; this fine-tune has none');
    const max = Math.max(...dyn.map((m) => m.rank));
    if (!(Number.isInteger(rank) && rank >= 1 && rank <= max)) throw new InteropError(`--rank must be an integer from 1 to ${max}, the largest trained rank; not ${rank}`);
  }
  for (const m of ranked) {
    if (m.mode === 'dynamic') {
      out.set(m.module, [...Array(Math.min(rank ?? m.rank, m.rank)).keys()]);
      continue;
    }
    const key = `rank.mask.${m.module}`;
    const on = checkpoint.tensors.has(key) ? getFloat32(checkpoint, key) : values.get(m.E!)!;
    out.set(m.module, [...on.keys()].filter((i) => on[i] !== 0));
  }
  return out;
}

export interface ExportResult {
  plan: ExportPlan;
  /** Folder (relative to the output) of each part. */
  folders: string[];
}

/** `peftc export CKPT --format hf-peft -o OUT`; CKPT is a checkpoint directory or its adapter.safetensors. */
export async function exportCheckpoint(ckpt: string, outDir: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const ckptDir = ckpt.endsWith('.safetensors') && basename(ckpt) === ADAPTER_FILE ? dirname(ckpt) : ckpt;
  const ck = readCheckpointDir(ckptDir);
  const g = compileCheckpointSource(ck.state, ckptDir);
  const values = await adapterFor(g, ckptDir, { allowNonFinite: opts.allowNonFinite ?? false });
  const names = hfNameMap(g, opts.family);
  const kept = keptRanks(g, ck.file, values, opts.rank);
  for (const [k, v] of await initialFactors(g, ck, opts)) values.set(k, v);
  const steps = ck.state.settings.steps;
  const plan = planExport(g, names, {
    baseModel: opts.baseModel === undefined ? ck.state.base : opts.baseModel, adapterName: opts.adapterName, kept,
    ...(opts.adalora ? { adalora: opts.adalora } : {}), ...(typeof steps === 'number' ? { totalSteps: steps } : {}),
  });
  if (plan.parts.length === 0) throw InteropError.of(`${ckptDir}: nothing in this fine-tune can be exported`, plan.skipped);
  if (plan.refuse) throw new InteropError(plan.refuse);
  const files = new Map<string, Uint8Array | string>();
  const folders: string[] = [];
  for (const part of plan.parts) {
    const sub = plan.parts.length === 1 ? '' : part.part;
    folders.push(sub || '.');
    const tensors: Record<string, Record<string, WriteTensor>> = {};
    for (const e of part.entries) (tensors[e.file ?? part.weightsFile] ??= {})[e.key] = { dtype: 'F32', shape: e.shape, data: toFileLayout(e, values.get(e.path)!, values) };
    files.set(join(sub, HF_CONFIG_FILE), pyDumps(part.config));
    for (const [name, config] of Object.entries(part.files ?? {})) files.set(join(sub, name), pyDumps(config));
    for (const [name, t] of Object.entries(tensors)) files.set(join(sub, name), serializeSafetensors(t, part.format === 'hf-peft' ? { format: 'pt' } : undefined));
  }
  await writeFolderAtomic(outDir, files);
  return { plan, folders };
}

/** The adapter folders in `dir`: itself, or its subfolders that hold an adapter_config.json. */
export async function readAdapterFolders(dir: string, read: WeightsReadOptions = {}): Promise<AdapterFolder[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InteropError(`\`${dir}\` is not a folder`);
  const dirs = existsSync(join(dir, HF_CONFIG_FILE))
    ? [dir]
    : readdirSync(dir).sort().map((d) => join(dir, d)).filter((d) => statSync(d).isDirectory() && existsSync(join(d, HF_CONFIG_FILE)));
  if (!dirs.length) throw new InteropError(`\`${dir}\` holds no ${HF_CONFIG_FILE} (nor do its subfolders)`);
  const out: AdapterFolder[] = [];
  for (const d of dirs) {
    const where = join(d, HF_CONFIG_FILE);
    const config = parseAdapterConfig(readFileSync(where, 'utf8'), where);
    const [safe, pickle] = config.kind === 'bottleneck' ? [ADAPTERHUB_WEIGHTS_FILE, 'pytorch_adapter.bin'] : [HF_WEIGHTS_FILE, 'adapter_model.bin'];
    if (!existsSync(join(d, safe))) {
      const hint = existsSync(join(d, pickle))
        ? `only ${pickle}, a PyTorch pickle peftc does not read; re-save with ${config.kind === 'bottleneck' ? 'use_safetensors=True' : 'safe_serialization=True'}`
        : `no ${safe}`;
      throw new InteropError(`${d}: ${hint}`);
    }
    const weights = await readWeightsFile(join(d, safe), read);
    // An AdapterHub folder may hold the prediction head beside the adapter (save_adapter with_head).
    if (config.kind === 'bottleneck' && existsSync(join(d, ADAPTERHUB_HEAD_WEIGHTS))) for (const [k, t] of (await readWeightsFile(join(d, ADAPTERHUB_HEAD_WEIGHTS), read)).tensors) weights.tensors.set(k, t);
    out.push({ where: d, config, weights });
  }
  return out;
}

export interface ImportInput {
  /** The .peft model compiled with derivedPrefix. */
  graph: Graph;
  /** The .peft entry file and the texts of every file it loaded. */
  source: { entry: string; files: Record<string, string> };
  set: string[];
  family?: Family;
  /** Accept NaN/±Inf weights (`--allow-nonfinite`). */
  allowNonFinite?: boolean;
}

/** `peftc import HF_DIR --peft FILE.peft -o CKPT`: a checkpoint at step 0 with zero optimizer state. */
export async function importToCheckpoint(hfDir: string, input: ImportInput, outDir: string): Promise<{ folders: AdapterFolder[]; state: CheckpointState }> {
  const folders = await readAdapterFolders(hfDir, { allowNonFinite: input.allowNonFinite ?? false });
  const g = input.graph;
  const values = importAdapters(g, hfNameMap(g, input.family), folders);
  const store = createStore(g, 'f32');
  for (const [path, v] of values) store.trainable.view(path).set(v);
  const n = store.trainable.size;
  const kinds = folders.map((f) => f.config.kind).join(',');
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    step: 0,
    seed: 0,
    settings: { imported_from: resolve(hfDir), imported_kinds: kinds },
    source: input.source,
    set: input.set,
    base: null,
    valLoss: null,
  };
  const ck = packCheckpoint(store, { step: 0, m: new Float32Array(n), v: new Float32Array(n) }, state);
  // AdaLoRA's allocation, as training saves it (rank-controller.ts), so a resumed run keeps it.
  for (const [m, kept] of adaloraKept(g, hfNameMap(g, input.family), folders) ?? []) {
    const r = rankedModules(g).find((x) => x.module === m)!.rank;
    const mask = new Float32Array(r);
    for (const i of kept) mask[i] = 1;
    ck.tensors[`rank.mask.${m}`] = { dtype: 'F32', shape: [r], data: mask };
  }
  const adapter: Record<string, WriteTensor> = {};
  for (const [path, v] of values) adapter[path] = { dtype: 'F32', shape: g.params.find((p) => p.path === path)!.shape, data: v };
  await writeFolderAtomic(outDir, new Map<string, Uint8Array>([
    ['checkpoint.safetensors', serializeSafetensors(ck.tensors, ck.metadata)],
    [ADAPTER_FILE, serializeSafetensors(adapter, { format: 'peftc-adapter/1' })],
  ]));
  return { folders, state };
}

/** `peftc merge FILE.peft --init BASE --adapter CKPT -o OUT.safetensors`; CKPT is a checkpoint directory or an adapter file. */
export async function mergeToFile(g: Graph, basePath: string, ckpt: string, outPath: string, family?: Family, read: WeightsReadOptions = {}, seed?: number): Promise<MergeResult> {
  if (existsSync(outPath) && statSync(outPath).isDirectory()) throw new InteropError(`\`${outPath}\` is a folder; -o names the merged .safetensors file`);
  const base = await readHfCheckpoint(basePath, read);
  const plan = planBaseLoad(g, base.file, family, basePath);
  const values = await adapterFor(g, ckpt, read);
  const res = mergeIntoBase(g, plan, base.file, values, seed);
  if (!read.allowNonFinite) checkMergedFinite(res, outPath);
  await writeSafetensorsFile(outPath, res.tensors, { format: 'pt' });
  return res;
}
