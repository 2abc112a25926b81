// Checkpoints of a fine-tune: the trainable partition, the optimizer state and the
// training state, in ONE safetensors file, so that writing it (temporary file, then
// rename) is atomic: a checkpoint is the old one or the new one, never half of each.
// The frozen base is referenced (its path), not copied; the .peft sources are recorded.
//   param.<path>   the trainable parameters
//   adam.m.<path>  adam.v.<path>  the optimizer moments
//   __metadata__.peftc  the CheckpointState as JSON
import type { ParamStore } from './arena.ts';
import type { OptimizerState } from './optim.ts';
import { parseSafetensors, type SafetensorsFile, type WriteTensor } from './io/safetensors.ts';
import { getFloat32 } from './io/safetensors.ts';

export const CHECKPOINT_FORMAT = 'peftc-checkpoint/1';
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
/** The trainable weights alone, by parameter path: what `--adapter` loads and exports read. */
export const ADAPTER_FILE = 'adapter.safetensors';

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
}

export function readCheckpoint(bytes: Uint8Array, where: string): LoadedCheckpoint {
  const file = parseSafetensors(bytes);
  const raw = file.metadata?.peftc;
  if (!raw) throw new CheckpointError(`${where}: not a peftc checkpoint (no training state in its metadata)`);
  let state: CheckpointState;
  try {
    state = JSON.parse(raw) as CheckpointState;
  } catch {
    throw new CheckpointError(`${where}: the training state in its metadata is not valid JSON`);
  }
  if (state.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${where}: format ${String(state.format)}, this peftc reads ${CHECKPOINT_FORMAT}`);
  return { state, file };
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
    arena.data.set(getFloat32(ck.file, name, s.param.shape), s.offset);
    opt.m.set(getFloat32(ck.file, `adam.m.${s.param.path}`, s.param.shape), s.offset);
    opt.v.set(getFloat32(ck.file, `adam.v.${s.param.path}`, s.param.shape), s.offset);
  }
  if (missing.length) throw new CheckpointError(`${where}: no values for ${missing.length} trainable parameter(s) of this model: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  const extra = [...ck.file.tensors.keys()].filter((k) => k.startsWith('param.') && !arena.has(k.slice(6)));
  if (extra.length) throw new CheckpointError(`${where}: holds parameters this model does not have: ${extra.slice(0, 5).map((k) => k.slice(6)).join(', ')}`);
  opt.step = ck.state.step;
}
