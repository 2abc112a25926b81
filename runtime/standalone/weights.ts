// A built trainer's weights.safetensors: every parameter's initial value by path, in F32, except
// the frozen matrices its plans store quantized (`peftc build --frozen-dtype int8|nf4`), which it
// ships as their codes and scales in `peftc quantize`'s layout (runtime/io/quantized-weights.ts:
// `P.qcodes`, `P.qscales` and the metadata naming the scheme). Those codes are what the GPU's
// frozen arena holds (GpuExecutor.upload takes them as they are), so a quantized trainer's file is
// about as small as its frozen arena, and no f32 copy of those weights is made at run time.
// Isomorphic: `peftc build` and the playground write it, the Node entry and the page read it.
import type { ArenaLayout } from '../../compiler/lower/memory.ts';
import { isQuantDtype } from '../../compiler/quant/dtype.ts';
import { quantizeWeight, type QuantDtype, type QuantizedWeight } from '../../compiler/quant/weight.ts';
import type { ParamStore } from '../arena.ts';
import { quantizedMatrices, quantizedTensors } from '../io/quantized-weights.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, SafetensorsError, type SafetensorsFile, type WriteTensor } from '../io/safetensors.ts';
import type { TrainerManifest } from './manifest.ts';
import { TrainerError } from './trainer-error.ts';

export const WEIGHTS_FORMAT = 'peftc-initial-weights/1';
const WHERE = 'weights.safetensors';

/** weights.safetensors as read: the file, and the quantized frozen matrices by path (empty for an f32/f16 trainer). */
export interface TrainerWeights {
  file: SafetensorsFile;
  quantized: ReadonlyMap<string, QuantizedWeight>;
}

/**
 * The bytes of weights.safetensors for `store`, with the frozen slots `frozen` (the plan's frozen
 * layout) stores quantized written as codes and scales, quantized here as the WebGPU backend's
 * upload does (the store already holds the values they stand for, so the codes are the same).
 */
export function trainerWeightBytes(store: ParamStore, frozen: ArenaLayout): Uint8Array {
  const plain = new Map<string, WriteTensor>();
  const matrices = new Map<string, QuantizedWeight>();
  let dtype: QuantDtype | undefined;
  const quantSlots = new Map(frozen.slots.filter((s) => isQuantDtype(s.dtype)).map((s) => [s.path, s]));
  for (const arena of [store.frozen, store.trainable]) {
    for (const slot of arena.slots) {
      const values = Float32Array.from(arena.data.subarray(slot.offset, slot.offset + slot.size));
      const q = arena === store.frozen ? quantSlots.get(slot.param.path) : undefined;
      if (q) {
        dtype = q.dtype as QuantDtype;
        matrices.set(slot.param.path, quantizeWeight(values, slot.param.shape, q.layout!, dtype));
      } else plain.set(slot.param.path, { dtype: 'F32', shape: slot.param.shape, data: values });
    }
  }
  if (!dtype) return serializeSafetensors(plain, { format: WEIGHTS_FORMAT });
  const { tensors, metadata } = quantizedTensors(dtype, matrices, plain);
  return serializeSafetensors(tensors, { format: WEIGHTS_FORMAT, ...metadata });
}

/** weights.safetensors parsed, with every parameter of the manifest present (in F32, or quantized) and of its shape. */
export function readTrainerWeights(bytes: Uint8Array, manifest: TrainerManifest): TrainerWeights {
  try {
    const file = parseSafetensors(bytes);
    const quantized = quantizedMatrices(file, WHERE)?.matrices ?? new Map<string, QuantizedWeight>();
    for (const p of manifest.params) {
      const q = quantized.get(p.path);
      if (q) {
        if (p.partition !== 'frozen' || q.shape.join('×') !== p.shape.join('×')) throw new TrainerError(`${WHERE}: the quantized ${p.path} is [${q.shape.join(', ')}]; trainer.json has a ${p.partition} [${p.shape.join(', ')}]; rebuild the trainer with \`peftc build\``);
        continue;
      }
      if (!file.tensors.has(p.path)) throw new TrainerError(`${WHERE} has no value for ${p.path}; rebuild the trainer with \`peftc build\``);
      getFloat32(file, p.path, p.shape);
    }
    return { file, quantized };
  } catch (e) {
    if (e instanceof SafetensorsError) throw new TrainerError(`${WHERE}: ${e.message.startsWith(`${WHERE}: `) ? e.message.slice(WHERE.length + 2) : e.message}; rebuild the trainer with \`peftc build\``);
    throw e;
  }
}

/** The quantized matrices must be exactly the frozen slots the plan stores quantized, in its dtype and layout. */
export function checkQuantized(weights: TrainerWeights, frozen: ArenaLayout, plan: string): void {
  for (const s of frozen.slots) {
    const q = weights.quantized.get(s.path);
    const stored = isQuantDtype(s.dtype) ? `${s.dtype} (${s.layout})` : s.dtype;
    const given = q ? `${q.dtype} (${q.layout})` : 'f32';
    if (stored === given || (!q && s.dtype === 'f16')) continue;
    throw new TrainerError(`${WHERE} holds ${s.path} as ${given}, but ${plan} stores it as ${stored}; rebuild the trainer with \`peftc build\``);
  }
}
