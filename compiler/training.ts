// The Training IR of a Model IR: the generic autodiff (autodiff/backward.ts) with the
// regularisers of the fine-tuning methods (peft/plugins.ts) passed in, so the autodiff itself
// knows no method. Every verb that trains, plans or prints a training step starts here.
// Recomputation (autodiff/recompute.ts) is the model's `recompute` setting unless the caller
// says otherwise (`--recompute`).
import { DEFAULT_OPTIMIZER, differentiate, type OptimizerConfig, type TrainingGraph } from './autodiff/backward.ts';
import { recomputeOf, type RecomputeMode } from './autodiff/recompute.ts';
import type { Graph } from './ir/types.ts';
import { REGULARISERS } from './peft/plugins.ts';

export function buildTrainingGraph(model: Graph, optimizer: OptimizerConfig = DEFAULT_OPTIMIZER, recompute: RecomputeMode = recomputeOf(model)): TrainingGraph {
  return differentiate(model, optimizer, REGULARISERS, recompute);
}
