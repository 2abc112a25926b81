// The string labels of a classifier's training data, recorded with its fine-tune. String labels
// get ids in the order the training file first shows them; another file (eval's, or a resumed
// run's) may show them in another order, so the ids are taken from the checkpoint, never
// recomputed — a swapped mapping would report a 74 % model as 26 %.
import { CheckpointError } from './checkpoint.ts';

/** The checkpoint setting that holds the names, as a JSON array in id order. */
export const LABEL_NAMES_SETTING = 'label_names';

export function labelNamesSetting(names: readonly string[] | undefined): Record<string, string> {
  return names ? { [LABEL_NAMES_SETTING]: JSON.stringify(names) } : {};
}

/** The recorded names, or undefined when the run had integer labels (or is no classifier). */
export function recordedLabelNames(settings: Record<string, unknown>, where: string): string[] | undefined {
  const raw = settings[LABEL_NAMES_SETTING];
  if (raw === undefined || raw === null) return undefined;
  let names: unknown;
  try {
    names = typeof raw === 'string' ? JSON.parse(raw) : undefined;
  } catch {
    names = undefined;
  }
  const ok = Array.isArray(names) && names.length > 0 && names.every((n) => typeof n === 'string') && new Set(names).size === names.length;
  if (!ok) throw new CheckpointError(`${where}: setting \`${LABEL_NAMES_SETTING}\` must be a JSON array of distinct label names`);
  return names as string[];
}
