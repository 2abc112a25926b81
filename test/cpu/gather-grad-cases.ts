// Finite-difference cases of the gathered linear (compiler/ir/gather-ops.ts), spread into
// GRAD_CASES: both layouts, with and without the stacked bias, sequences that share a slice,
// a slice no sequence uses, and a sequence with no adapter (index −1).
import { Random } from '../../runtime/cpu/random.ts';
import { ints, randomNormal } from '../../runtime/cpu/tensor.ts';
import type { GradCase } from './grad-cases.ts';
import { run } from './helpers.ts';

const rng = new Random(20251126);

export function gatherCases(): GradCase[] {
  const out: GradCase[] = [];
  const N = 3;
  for (const layout of ['in_out', 'out_in'] as const) {
    for (const bias of [true, false]) {
      for (const xShape of [[4, 3, 5], [4, 5]]) {
        const w = randomNormal(layout === 'in_out' ? [N, 5, 6] : [N, 6, 5], rng);
        const ids = ints([4], [2, 0, -1, 2]); // slice 1 unused, sequence 2 without adapter
        const inputs = [randomNormal(xShape, rng), w, ids, ...(bias ? [randomNormal([N, 6], rng)] : [])];
        const other = layout === 'in_out' ? 'out_in' : 'in_out';
        out.push({
          name: `linear_gather ${layout} ${bias ? 'with' : 'without'} bias x${JSON.stringify(xShape)}`,
          inputs,
          wrt: bias ? [0, 1, 3] : [0, 1],
          forward: (xs) => run('linear_gather', xs, { layout }),
          backward: ([x, w, ids, b], g) => [
            run('linear_gather', [g, w!, ids!], { layout: other }),
            run('linear_gather_grad_weight', [x!, g, ids!], { layout, count: N }),
            ...(b ? [run('linear_gather_grad_bias', [g, ids!], { count: N })] : []),
          ],
        });
      }
    }
  }
  return out;
}
