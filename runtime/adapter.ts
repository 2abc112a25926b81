// The adapter of a fine-tune: its trainable weights by parameter path, as they are used
// after training. Transient parameters (the prefix reparameterisation MLP) are replaced by
// what they produce: the prefix table `prefix_embeddings`. Loading this file into the same
// program compiled with `derivedPrefix` gives the same model.
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { ParamStore } from './arena.ts';
import { CpuExecutor } from './cpu/executor.ts';
import type { WriteTensor } from './io/safetensors.ts';

export const DERIVED_PREFIX = 'prefix_embeddings';

export function adapterTensors(t: TrainingGraph, store: ParamStore): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = {};
  for (const s of store.trainable.slots) {
    if (s.param.transient) continue;
    out[s.param.path] = { dtype: 'F32', shape: s.param.shape, data: Float32Array.from(store.trainable.data.subarray(s.offset, s.offset + s.size)) };
  }
  const table = t.graph.prefixTable;
  if (table !== undefined) {
    // The table depends on no input; a one-token batch drives the executor.
    const batch = { tokens: { shape: [1, 1], data: new Int32Array(1) }, targets: { shape: [1, 1], data: new Int32Array(1) } };
    const v = new CpuExecutor(t).value(store, batch, table, { precision: 'f32', training: false, step: 0 });
    out[DERIVED_PREFIX] = { dtype: 'F32', shape: v.shape, data: Float32Array.from(v.data) };
  }
  return out;
}
