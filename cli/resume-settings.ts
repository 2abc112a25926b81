// What `peftc train --resume DIR` takes from the checkpoint besides the seed, base, --set and
// data: how the step was planned (`--recompute`, setting `recompute`) and how the frozen base
// was stored (`--frozen-dtype`, setting `frozen_dtype`). A flag given again wins, with a one-line
// note when it differs from what the checkpoint recorded. Checkpoints written before the
// `recompute` setting existed resume with the model file's own setting, as they always did.
import { RECOMPUTE_MODES, isRecomputeMode } from '../compiler/autodiff/recompute.ts';
import { CheckpointError, type CheckpointState } from '../runtime/checkpoint.ts';
import { chooseFrozenDtype } from './fine-tune.ts';
import { recomputeFlag } from './recompute-flag.ts';

/** The checkpoint setting that records the recompute mode the run's step was planned with. */
export const RECOMPUTE_SETTING = 'recompute';

export interface ResumeChoices {
  recompute?: string;
  frozenDtype?: string;
  notes: string[];
}

/** --recompute and --frozen-dtype for a run resumed from `dir` (whose training state is `state`). */
export function resumeChoices(dir: string, state: CheckpointState, flags: { recompute?: string; frozenDtype?: string }): ResumeChoices {
  const dtype = chooseFrozenDtype({ adapter: dir, dir, state }, flags.frozenDtype);
  const recorded = state.settings[RECOMPUTE_SETTING];
  if (recorded !== undefined && !isRecomputeMode(recorded)) {
    throw new CheckpointError(`${dir}: setting \`${RECOMPUTE_SETTING}\` must be one of ${RECOMPUTE_MODES.join(', ')}, not ${JSON.stringify(recorded)}`);
  }
  const notes = [...dtype.notes];
  if (flags.recompute !== undefined) recomputeFlag(flags.recompute); // a misspelt flag is refused before any note about it
  if (flags.recompute !== undefined && recorded !== undefined && flags.recompute !== recorded) {
    notes.push(`--recompute ${flags.recompute} is not what ${dir} was trained with (${recorded}); using --recompute ${flags.recompute} (the numbers do not change, the memory does)`);
  }
  const recompute = flags.recompute ?? recorded;
  return { ...(recompute !== undefined ? { recompute } : {}), ...(dtype.dtype !== undefined ? { frozenDtype: dtype.dtype } : {}), notes };
}
