// What the frozen parameters weigh at a --frozen-dtype, as `peftc params` reports it: the matrices
// the dtype applies to (quantizableWeights: the base's linear weights and embedding tables) at
// f16 (2 B/value), int8 (1 B/value + one f32 scale per output channel) or nf4 (0.5 B/value + one
// f32 absmax per block of 64); every other frozen parameter (biases, norms) in f32. Unaligned:
// the WebGPU arena's 256-byte slots (`peftc memory`) add a little.
import type { Graph } from '../ir/types.ts';
import { isQuantDtype, type FrozenDtype } from './dtype.ts';
import { quantizableWeights } from './select.ts';
import { quantizedBytes } from './weight.ts';

export interface FrozenBytes {
  dtype: FrozenDtype;
  /** All frozen parameters at `dtype`. */
  bytes: number;
  /** The same parameters in f32, for comparison. */
  f32_bytes: number;
  /** How many frozen matrices the dtype applies to (the others stay f32). */
  matrices: number;
}

export function frozenBytes(g: Graph, dtype: FrozenDtype): FrozenBytes {
  const compact = dtype === 'f32' ? new Map() : quantizableWeights(g);
  let bytes = 0;
  let f32 = 0;
  for (const p of g.params) {
    if (p.partition !== 'frozen') continue;
    const n = p.shape.reduce((a, b) => a * b, 1);
    f32 += 4 * n;
    const layout = compact.get(p.path);
    if (!layout) bytes += 4 * n;
    else bytes += isQuantDtype(dtype) ? quantizedBytes(dtype, p.shape, layout) : 2 * n;
  }
  return { dtype, bytes, f32_bytes: f32, matrices: compact.size };
}
