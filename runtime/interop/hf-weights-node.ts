// Reading Hugging Face checkpoints from disk (Node): one .safetensors file, a sharded
// checkpoint (`model.safetensors.index.json` with its `weight_map`), or a folder holding
// either. Each file is read whole (so each must stay under Node's 2 GiB file-read limit).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Graph } from '../../compiler/ir/types.ts';
import type { ParamStore } from '../arena.ts';
import { readWeightsFile, type WeightsReadOptions } from '../io/read-weights-node.ts';
import { SCHEME_KEY } from '../io/quantized-weights.ts';
import { isQuantDtype } from '../../compiler/quant/dtype.ts';
import type { QuantDtype } from '../../compiler/quant/weight.ts';
import type { ReadTensor, SafetensorsFile } from '../io/safetensors.ts';
import { InteropError, listSome } from './errors.ts';
import { applyBaseLoad, planBaseLoad, type BaseLoadPlan } from './hf-weights.ts';
import type { Family } from './names.ts';

export interface HfCheckpoint {
  /** Every tensor of every shard, in one name space. */
  file: SafetensorsFile;
  /** The files read, in order. */
  files: string[];
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** Which file(s) a path names: a .safetensors file, an index.json, or a folder with either. */
export function resolveCheckpointPath(path: string): string {
  if (!existsSync(path)) throw new InteropError(`\`${path}\` does not exist`);
  if (!statSync(path).isDirectory()) return path;
  for (const f of [INDEX_FILE, SINGLE_FILE]) if (existsSync(join(path, f))) return join(path, f);
  const found = readdirSync(path).filter((f) => f.endsWith('.safetensors'));
  if (found.length === 1) return join(path, found[0]!);
  const what = found.length ? `${found.length} .safetensors files (${listSome(found)}) and no ${INDEX_FILE}` : 'no .safetensors file';
  throw new InteropError(`\`${path}\` holds ${what}; name the file, or the index of a sharded checkpoint`);
}

export async function readHfCheckpoint(path: string, opts: WeightsReadOptions = {}): Promise<HfCheckpoint> {
  const at = resolveCheckpointPath(path);
  if (!at.endsWith('.json')) return { file: await readWeightsFile(at, opts), files: [at] };
  const shards = readIndex(at);
  const tensors = new Map<string, ReadTensor>();
  const from = new Map<string, string>();
  const problems: string[] = [];
  const files: string[] = [];
  for (const [shard, names] of shards) {
    const file = join(dirname(at), shard);
    if (!existsSync(file)) {
      problems.push(`shard \`${shard}\` (${names.length} tensors) is not next to the index`);
      continue;
    }
    const st = await readWeightsFile(file, opts);
    files.push(file);
    const absent = names.filter((n) => !st.tensors.has(n));
    if (absent.length) problems.push(`shard \`${shard}\` lacks ${absent.length} tensor(s) the index puts there: ${listSome(absent)}`);
    for (const [name, t] of st.tensors) {
      if (tensors.has(name)) problems.push(`\`${name}\` is in both \`${from.get(name)}\` and \`${shard}\``);
      tensors.set(name, t);
      from.set(name, shard);
    }
  }
  if (problems.length) throw InteropError.of(`${at}: the sharded checkpoint is inconsistent`, problems);
  return { file: { tensors, metadata: undefined }, files };
}

/** The index's shards and the tensor names the weight_map puts in each. */
function readIndex(at: string): Map<string, string[]> {
  let index: unknown;
  try {
    index = JSON.parse(readFileSync(at, 'utf8'));
  } catch (e) {
    throw new InteropError(`${at}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new InteropError(`${at}: no \`weight_map\` object mapping tensor names to shard files`);
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard !== basename(shard)) throw new InteropError(`${at}: weight_map entry \`${name}\` must name a file next to the index, found ${JSON.stringify(shard)}`);
    shards.set(shard, [...(shards.get(shard) ?? []), name]);
  }
  if (shards.size === 0) throw new InteropError(`${at}: the weight_map is empty`);
  return shards;
}

export interface InitReport {
  /** Parameter paths set from the checkpoint. */
  loaded: Set<string>;
  plan: BaseLoadPlan;
  files: string[];
  /** The scheme of a base `peftc quantize` stored as codes (read back as the values they stand for). */
  quantized?: QuantDtype;
}

/**
 * `--init`: loads base weights in Hugging Face's names (GPT-2, LLaMA, BERT, with or without the
 * base prefix; sharded or not; F16/BF16/F32) into the store. Throws an InteropError listing every
 * mismatch and writes nothing then. Parameters it does not set (PEFT weights, a fresh head) are
 * left for the caller to initialise: `initParams(g, store, { seed, skip: report.loaded })`, after
 * this call, so that a prompt drawn from the vocabulary reads the loaded embeddings.
 */
export async function loadInit(path: string, graph: Graph, store: ParamStore, family?: Family, opts: WeightsReadOptions = {}): Promise<InitReport> {
  const ck = await readHfCheckpoint(resolve(path), opts);
  const plan = planBaseLoad(graph, ck.file, family, path);
  const loaded = applyBaseLoad(store, ck.file, plan);
  const scheme = ck.file.metadata?.[SCHEME_KEY] ?? '';
  return { loaded, plan, files: ck.files, ...(isQuantDtype(scheme) ? { quantized: scheme } : {}) };
}
