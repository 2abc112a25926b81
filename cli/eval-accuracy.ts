// A classifier's accuracy over evaluation batches: the share of labelled rows whose largest logit
// is the label. One-adapter and multi-adapter eval print it the same way.
import type { Backend } from '../runtime/backend.ts';
import type { Batch } from '../runtime/data/batches.ts';

export async function accuracy(backend: Pick<Backend, 'evaluate'>, batches: Batch[]): Promise<number> {
  let right = 0;
  let total = 0;
  for (const b of batches) {
    const { logits } = await backend.evaluate(b);
    const C = logits.shape[1]!;
    b.targets.data.forEach((label, i) => {
      if (label === -100) return;
      const row = Array.from(logits.data.subarray(i * C, (i + 1) * C));
      if (row.indexOf(Math.max(...row)) === label) right++;
      total++;
    });
  }
  return total ? right / total : NaN;
}
