// Padded batches of a bidirectional encoder (tiny bert.peft): each row's real length goes in
// the `lengths` input, and every row's logits must equal those of the row alone, unpadded
// (as with Hugging Face's attention mask). Used by padding.test.ts (CPU) and the WebGPU plan suite.
import type { Batch } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import type { Graph } from '../../compiler/ir/types.ts';

export const PAD_T = 6;
/** Real tokens per row; the rest of each row is padding. */
export const PAD_LENGTHS = [6, 4, 2];

/** The padded batch [3, PAD_T] (padding = arbitrary ids, which must not matter) with its lengths. */
export function paddedBatch(g: Graph, seed = 5): { batch: Batch; rows: Batch[] } {
  const vocab = g.params.find((p) => p.origin === 'base' && /word_embeddings/.test(p.module))!.shape[0]!;
  const classes = g.nodes[g.outputs.logits]!.shape[1] as number;
  const rng = new Random(seed);
  const B = PAD_LENGTHS.length;
  const tokens = Int32Array.from({ length: B * PAD_T }, () => rng.int(vocab));
  const labels = Int32Array.from({ length: B }, () => rng.int(classes));
  const batch: Batch = {
    tokens: { shape: [B, PAD_T], data: tokens },
    targets: { shape: [B], data: labels },
    extra: { lengths: { shape: [B], data: Int32Array.from(PAD_LENGTHS, (n) => n + g.promptLength) } },
  };
  const rows = PAD_LENGTHS.map((n, b): Batch => ({
    tokens: { shape: [1, n], data: tokens.slice(b * PAD_T, b * PAD_T + n) },
    targets: { shape: [1], data: labels.slice(b, b + 1) },
  }));
  return { batch, rows };
}
