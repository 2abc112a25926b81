// The command that evaluates what a built trainer saved, as its page and docs/build.md show it:
// the model with its --set overrides and, when the trainer was built on base weights, --init
// with them (the frozen weights come from there, not from the adapter), and the frozen dtype the
// plans stored them in.
import type { TrainerManifest } from './manifest.ts';

/** `peftc eval` of the downloaded adapter, with the model's --set, its base (--init) and --frozen-dtype where it had them. */
export function evalCommand(m: Pick<TrainerManifest, 'model'>): string {
  const set = m.model.set.map((s) => ` --set ${s}`).join('');
  const base = m.model.base ? ` --init ${m.model.base}` : '';
  // The adapter file alone does not say how the base was stored: the command does.
  const dtype = m.model.frozenDtype && m.model.frozenDtype !== 'f32' ? ` --frozen-dtype ${m.model.frozenDtype}` : '';
  return `peftc eval ${m.model.entry}${set}${base}${dtype} --adapter adapter.safetensors --data …`;
}
