// Loading parameter values from a safetensors file whose tensor names are the IR's
// parameter paths. Every mismatch (a name that matches no parameter, a wrong shape)
// is collected and reported together, naming both sides; nothing is written to the
// store unless the whole file fits.
import type { Graph } from '../compiler/ir/types.ts';
import { paramView, type ParamStore } from './arena.ts';
import { getFloat32, type SafetensorsFile } from './io/safetensors.ts';

export class WeightsError extends Error {
  constructor(readonly problems: string[]) {
    super(`the weights do not fit the model:\n  ${problems.join('\n  ')}`);
    this.name = 'WeightsError';
  }
}

export interface LoadOptions {
  /** Maps a file's tensor name to a parameter path (or undefined to skip it). */
  rename?: (name: string) => string | undefined;
  /** Tensors in the file that are not parameters and are not an error (e.g. `lm_head.weight` when tied). */
  ignore?: (name: string) => boolean;
}

/** Copies the file's tensors into the store; returns the paths it set. */
export function loadWeights(g: Graph, store: ParamStore, file: SafetensorsFile, opts: LoadOptions = {}): Set<string> {
  const params = new Map(g.params.map((p) => [p.path, p]));
  const problems: string[] = [];
  const plan: { name: string; path: string }[] = [];
  for (const [name, t] of file.tensors) {
    const path = opts.rename ? opts.rename(name) : name;
    if (path === undefined || opts.ignore?.(name)) continue;
    const p = params.get(path);
    if (!p) {
      problems.push(`tensor \`${name}\` ${fmt(t.shape)} matches no parameter of the model`);
      continue;
    }
    if (p.shape.length !== t.shape.length || p.shape.some((d, i) => d !== t.shape[i])) {
      problems.push(`tensor \`${name}\` has shape ${fmt(t.shape)} but parameter \`${path}\` is ${fmt(p.shape)}`);
      continue;
    }
    plan.push({ name, path });
  }
  if (problems.length) throw new WeightsError(problems);
  for (const { name, path } of plan) paramView(store, path).set(getFloat32(file, name));
  return new Set(plan.map((x) => x.path));
}

function fmt(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}
