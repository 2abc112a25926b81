// The shape of a checkpoint's training state (`__metadata__.peftc`), checked whenever a
// checkpoint is read. The state can be hand-edited, written by another tool or by an older
// peftc; every field the readers use is checked here, so a bad one is reported by name
// instead of surfacing later as a crash deep inside training, eval or export.
import { z } from 'zod';

const settingValue = z.union([z.string(), z.number(), z.boolean(), z.null()], { error: 'expected a string, number, boolean or null' });

export const checkpointStateSchema = z.object({
  format: z.string(),
  step: z.number().int().nonnegative(),
  seed: z.number().int(),
  settings: z.record(z.string(), settingValue),
  source: z.object({ entry: z.string(), files: z.record(z.string(), z.string()) }),
  set: z.array(z.string()),
  base: z.string().nullable(),
  // JSON has no NaN: a non-finite loss was written as null.
  valLoss: z.number().nullable(),
});

/** The first problem with a parsed state, as `field \`a.b\`: what is wrong`; null if it is valid. */
export function stateProblem(value: unknown): string | null {
  const r = checkpointStateSchema.safeParse(value);
  if (r.success) return null;
  const issue = r.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  const what = issue.message.endsWith('received undefined') ? 'missing' : issue.message.replace(/^Invalid input: /, '');
  return field ? `field \`${field}\`: ${what}` : what;
}
