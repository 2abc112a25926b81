// The command that evaluates what a built trainer saved, as its page and docs/build.md show it:
// the model with its --set overrides and, when the trainer was built on base weights, --init
// with them (the frozen weights come from there, not from the adapter).
import type { TrainerManifest } from './manifest.ts';

/** `peftc eval` of the downloaded adapter, with the model's --set and, if it had one, its base (--init). */
export function evalCommand(m: Pick<TrainerManifest, 'model'>): string {
  const set = m.model.set.map((s) => ` --set ${s}`).join('');
  const base = m.model.base ? ` --init ${m.model.base}` : '';
  return `peftc eval ${m.model.entry}${set}${base} --adapter adapter.safetensors --data …`;
}
