// Checkpoints of a fine-tune: the trainable partition, the optimizer state and the
// training state in one safetensors file, beside which the adapter file holds the weights as
// they are used. The frozen base is referenced (its path), not copied; the .peft sources are
// recorded. How the two files are kept one save (never half of each) is
// runtime/checkpoint-node.ts's job; what the state must look like, runtime/checkpoint-schema.ts's.
//   param.<path>   the trainable parameters
//   adam.m.<path>  adam.v.<path>  the optimizer moments
//   __metadata__.peftc  the CheckpointState as JSON
//   __metadata__.save   the id of the save (the adapter file carries the same)
import type { ParamStore } from './arena.ts';
import type { OptimizerState } from './optim.ts';
import { getFloat32, parseSafetensors, SafetensorsError, type SafetensorsFile, type WriteTensor } from './io/safetensors.ts';
import { stateProblem } from './checkpoint-schema.ts';

export const CHECKPOINT_FORMAT = 'peftc-checkpoint/1';
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
/** The trainable weights alone, by parameter path: what `--adapter` loads and exports read. */
export const ADAPTER_FILE = 'adapter.safetensors';
/** `__metadata__.format` of an adapter file. */
export const ADAPTER_FORMAT = 'peftc-adapter/1';

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  /** Optimizer steps taken. */
  step: number;
  seed: number;
  /** The command-line settings of the run (lr, schedule, batch, seq, data, backend, …). */
  settings: Record<string, string | number | boolean | null>;
  /** The .peft entry file and the texts of every file it loaded. */
  source: { entry: string; files: Record<string, string> };
  set: string[];
  /** The base weights the run started from (`--init`), if any. */
  base: string | null;
  /** The last validation loss, if evaluated. */
  valLoss: number | null;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function packCheckpoint(store: ParamStore, opt: OptimizerState, state: CheckpointState): { tensors: Record<string, WriteTensor>; metadata: Record<string, string> } {
  const tensors: Record<string, WriteTensor> = {};
  const arena = store.trainable;
  for (const s of arena.slots) {
    const slice = (a: Float32Array | Float64Array) => Float32Array.from(a.subarray(s.offset, s.offset + s.size));
    const shape = s.param.shape;
    tensors[`param.${s.param.path}`] = { dtype: 'F32', shape, data: slice(arena.data) };
    tensors[`adam.m.${s.param.path}`] = { dtype: 'F32', shape, data: slice(opt.m) };
    tensors[`adam.v.${s.param.path}`] = { dtype: 'F32', shape, data: slice(opt.v) };
  }
  return { tensors, metadata: { peftc: JSON.stringify(state) } };
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  file: SafetensorsFile;
  /** The id of the save it belongs to (`__metadata__.save`); null in files written without one. */
  save?: string | null;
}

/** The metadata key both files of one save carry, with the same value: the save's id. */
export const SAVE_KEY = 'save';

export function readCheckpoint(bytes: Uint8Array, where: string): LoadedCheckpoint {
  let file: SafetensorsFile;
  try {
    file = parseSafetensors(bytes);
  } catch (err) {
    if (err instanceof SafetensorsError) throw new CheckpointError(`${where}: ${err.message}`);
    throw err;
  }
  const raw = file.metadata?.peftc;
  if (!raw) throw new CheckpointError(`${where}: not a peftc checkpoint (no training state in its metadata)`);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new CheckpointError(`${where}: the training state in its metadata (__metadata__.peftc) is not valid JSON`);
  }
  const format = typeof value === 'object' && value !== null ? (value as { format?: unknown }).format : undefined;
  if (format !== undefined && format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${where}: training state (__metadata__.peftc): field \`format\` is ${JSON.stringify(format)}; this peftc reads ${CHECKPOINT_FORMAT}`);
  const problem = stateProblem(value);
  if (problem) throw new CheckpointError(`${where}: training state (__metadata__.peftc): ${problem}`);
  return { state: value as CheckpointState, file, save: file.metadata?.[SAVE_KEY] ?? null };
}

/** Restores the trainable arena and the optimizer moments; every trainable parameter must be present. */
export function restoreCheckpoint(ck: LoadedCheckpoint, store: ParamStore, opt: OptimizerState, where: string): void {
  const missing: string[] = [];
  const arena = store.trainable;
  for (const s of arena.slots) {
    const name = `param.${s.param.path}`;
    if (!ck.file.tensors.has(name)) {
      missing.push(s.param.path);
      continue;
    }
    arena.data.set(finiteTensor(ck, name, s.param.shape, where), s.offset);
    opt.m.set(finiteTensor(ck, `adam.m.${s.param.path}`, s.param.shape, where), s.offset);
    opt.v.set(finiteTensor(ck, `adam.v.${s.param.path}`, s.param.shape, where), s.offset);
  }
  if (missing.length) throw new CheckpointError(`${where}: no values for ${missing.length} trainable parameter(s) of this model: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  const extra = [...ck.file.tensors.keys()].filter((k) => k.startsWith('param.') && !arena.has(k.slice(6)));
  if (extra.length) throw new CheckpointError(`${where}: holds parameters this model does not have: ${extra.slice(0, 5).map((k) => k.slice(6)).join(', ')}`);
  opt.step = ck.state.step;
}

/** A tensor of the checkpoint as f32, which must have `shape` and hold finite numbers only: training on from NaN goes nowhere. */
function finiteTensor(ck: LoadedCheckpoint, name: string, shape: readonly number[], where: string): Float32Array {
  let v: Float32Array;
  try {
    v = getFloat32(ck.file, name, shape);
  } catch (err) {
    if (err instanceof SafetensorsError) throw new CheckpointError(`${where}: ${err.message}`);
    throw err;
  }
  const bad = v.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new CheckpointError(`${where}: tensor "${name}" holds a non-finite value (${v[bad]}) at element ${bad}`);
  return v;
}
