// The file-level `recompute` setting: a config constant (`config { recompute = "blocks" }`, or
// `--set recompute=blocks` where the file declares it) that the Training IR reads
// (autodiff/recompute.ts). Checked here, where the config is, so `peftc check` and the language
// server report a mistaken value at the constant.
import type { SourceFile } from '../grammar/ast.ts';
import { syntheticRange } from '../grammar/diagnostics.ts';
import { elide } from '../grammar/elide.ts';
import { RECOMPUTE_KEY, RECOMPUTE_MODES, isRecomputeMode } from './autodiff/recompute.ts';
import { Codes } from './codes.ts';
import type { ConfigValues, Overrides } from './config.ts';
import type { Reporter } from './evaluate.ts';

/** An error when the config's `recompute` is there and is not one of the modes. */
export function checkRecomputeSetting(files: readonly SourceFile[], values: ConfigValues, overrides: Overrides, r: Reporter): void {
  if (!(RECOMPUTE_KEY in values) || isRecomputeMode(values[RECOMPUTE_KEY])) return;
  const modes = RECOMPUTE_MODES.map((m) => `"${m}"`).join(' or ');
  const found = elide(JSON.stringify(values[RECOMPUTE_KEY]), 40);
  const set = overrides.get(RECOMPUTE_KEY);
  if (set) return r.error(Codes.BadSet, `\`${RECOMPUTE_KEY}\` must be ${modes}, found ${found}`, syntheticRange(set.origin));
  // The last definition wins (a file may redefine an imported constant): report that one.
  const entries = files.flatMap((f) => f.items.flatMap((i) => (i.kind === 'config' ? i.entries : []))).filter((e) => e.name.name === RECOMPUTE_KEY);
  const at = entries[entries.length - 1]!;
  r.error(Codes.TypeMismatch, `\`${RECOMPUTE_KEY}\` must be ${modes} (keep only each repeated block's input in the forward pass and recompute the rest in the backward), found ${found}`, at.value.range);
}
