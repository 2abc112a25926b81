// nf4dq weights this process has quantized, found again by their dequantized values.
//
// NF4 and int8 give back their own dequantized values when they quantize them again, so the host
// store can hold the values and the GPU upload quantize them once more (runtime/quantize-store.ts,
// runtime/webgpu/executor.ts). nf4dq does not: the absmaxes it dequantizes have another mean, so
// double quantization of them moves a few by an ulp. A weight whose values are exactly those of
// one quantized before is therefore given that quantized form back: CPU, GPU and a stored base
// (`peftc quantize`, read back by runtime/io/quantized-weights.ts) keep one set of numbers.
// Entries are keyed by shape, layout and a hash of a sample of the values; the caller checks
// every value before using one.
import type { QuantizedWeight, WeightLayout } from './weight-types.ts';

/** At most this many weights are remembered (a 7B LLaMA has 226 matrices); the oldest go first. */
const CAPACITY = 2048;
const SAMPLES = 4096;
const known = new Map<string, QuantizedWeight>();

/** Shape, layout and an FNV-1a hash of the bits of up to 4096 evenly spaced values. */
export function valuesKey(values: ArrayLike<number>, shape: readonly number[], layout: WeightLayout): string {
  const bits = new Float32Array(1);
  const word = new Uint32Array(bits.buffer);
  const stride = Math.max(1, Math.floor(values.length / SAMPLES));
  let h = 0x811c9dc5;
  for (let i = 0; i < values.length; i += stride) {
    bits[0] = values[i]!;
    h = Math.imul(h ^ word[0]!, 0x01000193) >>> 0;
  }
  return `${layout} ${shape.join('x')} ${values.length} ${h.toString(16)}`;
}

export function remember(key: string, q: QuantizedWeight): void {
  known.delete(key);
  known.set(key, q);
  if (known.size > CAPACITY) known.delete(known.keys().next().value!);
}

export const recall = (key: string): QuantizedWeight | undefined => known.get(key);
