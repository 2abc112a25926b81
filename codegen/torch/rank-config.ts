// What train.py needs to select LoRA ranks as `peftc train` does (runtime/rank-controller.ts,
// ported in py/rank.py): the modules with `rank = auto(…)` or `rank = dynamic(…)`, their
// parameters and mask inputs, and AdaLoRA's shared schedule settings. Written into config.json.
import type { Graph } from '../../compiler/ir/types.ts';
import { rankedModules } from '../../compiler/peft/ranked-modules.ts';

export interface RankSelectionConfig {
  modules: { module: string; mode: 'auto' | 'dynamic'; rank: number; alpha: number; target: number | null; input: string; A: string; B: string; E: string | null }[];
  /** AdaLoRA's schedule and smoothing, shared by every `auto(…)` module (the first one's, as peftc reads them). */
  beta1: number;
  beta2: number;
  tinit: number | null;
  tfinal: number | null;
  delta_t: number | null;
}

export function rankSelection(g: Graph): RankSelectionConfig | null {
  const mods = rankedModules(g);
  if (!mods.length) return null;
  const first = mods.find((m) => m.mode === 'auto')?.settings;
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  return {
    modules: mods.map((m) => ({ module: m.module, mode: m.mode, rank: m.rank, alpha: m.alpha, target: num(m.settings.target), input: m.input, A: m.A, B: m.B, E: m.E ?? null })),
    beta1: num(first?.beta1) ?? 0.85,
    beta2: num(first?.beta2) ?? 0.85,
    tinit: num(first?.tinit),
    tfinal: num(first?.tfinal),
    delta_t: num(first?.delta_t),
  };
}
