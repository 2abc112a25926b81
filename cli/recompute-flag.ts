// --recompute none|blocks (grad, train, build, memory, compile): overrides the model's
// `recompute` setting (compiler/autodiff/recompute.ts) for this run. It is written into the
// compiled graph's config, where buildTrainingGraph reads the file's own setting, so every verb
// that builds a Training IR from the graph honours it.
import { Option } from 'commander';
import { RECOMPUTE_KEY, RECOMPUTE_MODES, isRecomputeMode, type RecomputeMode } from '../compiler/autodiff/recompute.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { UserError } from './errors.ts';

export function recomputeOption(): Option {
  return new Option('--recompute <mode>', "none | blocks: keep only each repeated block's input in the forward pass and recompute the block in the backward (less activation memory, one more forward of the blocks; default: the file's `recompute` setting, else none)");
}

/** The mode --recompute names (a UserError naming the flag otherwise). */
export function recomputeFlag(flag: string): RecomputeMode {
  if (!isRecomputeMode(flag)) throw new UserError(`--recompute must be ${RECOMPUTE_MODES.join(' or ')}, not \`${flag}\``);
  return flag;
}

/** The graph with --recompute applied (unchanged when the flag is absent). */
export function applyRecompute(g: Graph, flag: string | undefined): Graph {
  if (flag === undefined) return g;
  // A copy without a prototype, as the compiler makes it: any constant name is an own key.
  g.config = Object.assign(Object.create(null) as Graph['config'], g.config, { [RECOMPUTE_KEY]: recomputeFlag(flag) });
  return g;
}
