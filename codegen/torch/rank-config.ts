// What train.py needs to select LoRA ranks as `peftc train` does (runtime/rank-controller.ts,
// ported in py/rank.py): the modules with `rank = auto(…)` or `rank = dynamic(…)`, their
// parameters and mask inputs, and AdaLoRA's shared schedule settings. Written into config.json.
import type { Graph } from '../../compiler/ir/types.ts';
import { rankedModules } from '../../compiler/peft/ranked-modules.ts';
import { CodegenError } from '../codegen-error.ts';

export interface RankSelectionConfig {
  modules: { module: string; mode: 'auto' | 'dynamic'; rank: number; alpha: number; target: number | null; min: number; input: string; A: string; B: string; E: string | null }[];
  /** AdaLoRA's schedule and smoothing, shared by every `auto(…)` module (the first one's, as peftc reads them). */
  beta1: number;
  beta2: number;
  tinit: number | null;
  tfinal: number | null;
  delta_t: number | null;
  /** AdaLoRA's form: 'peft' (Hugging Face PEFT's) or 'paper'. */
  form: 'peft' | 'paper';
}

export function rankSelection(g: Graph): RankSelectionConfig | null {
  const mods = rankedModules(g);
  if (!mods.length) return null;
  const sampled = mods.find((m) => m.update !== undefined);
  if (sampled) {
    throw new CodegenError('validation', `DyLoRA's \`update = sampled\` (on \`${sampled.module}\`) is not supported by the torch target; train it here, or use the prefix update`, 'train.py');
  }
  const auto = mods.find((m) => m.mode === 'auto');
  const first = auto?.settings;
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  return {
    modules: mods.map((m) => ({ module: m.module, mode: m.mode, rank: m.rank, alpha: m.alpha, target: num(m.settings.target), min: m.min ?? 1, input: m.input, A: m.A, B: m.B, E: m.E ?? null })),
    beta1: num(first?.beta1) ?? 0.85,
    beta2: num(first?.beta2) ?? 0.85,
    tinit: num(first?.tinit),
    tfinal: num(first?.tfinal),
    delta_t: num(first?.delta_t),
    form: auto?.form ?? 'peft',
  };
}
