// The graph-level view of rank-masked LoRA: which modules of a Model IR have an `auto(…)` or
// `dynamic(…)` rank, their parameters and their mask input. Read by the runtime's rank
// controller, the exporters and the code generators; it needs the IR alone, not the tracer.
import type { Graph } from '../ir/types.ts';
import { adaloraForm, dyloraUpdate, rankMode } from './rank-settings.ts';

/** The graph input that carries a module's rank mask, f32 [r]. */
export const rankMaskName = (module: string): string => `rank_mask.${module}`;
/** DyLoRA's `update = sampled`: the graph input that says which rank learns this step, f32 [r]. */
export const rankUpdateName = (module: string): string => `rank_update.${module}`;

/** A LoRA module with a rank mask, as the runtime and the exporters see it. */
export interface RankedModule {
  module: string;
  mode: 'auto' | 'dynamic';
  /** The parameters' rank: auto's init, dynamic's max. */
  rank: number;
  alpha: number;
  settings: Record<string, number | string | boolean>;
  /** The mask input's name. */
  input: string;
  A: string;
  B: string;
  /** AdaLoRA's singular values. */
  E?: string;
  /** AdaLoRA's form: Hugging Face PEFT's (default) or the paper's. */
  form?: 'peft' | 'paper';
  /** DyLoRA's smallest rank drawn (1 unless `min` is set). */
  min?: number;
  /** DyLoRA's `update = sampled`: the input naming the rank that learns (see rankUpdateName). */
  update?: string;
}

/** The modules of `g` whose LoRA rank is `auto(…)` or `dynamic(…)`, in model order. */
export function rankedModules(g: Graph): RankedModule[] {
  const out: RankedModule[] = [];
  for (const p of g.params) {
    const m = p.method;
    if (!m || m.name !== 'lora' || p.path !== `${m.module}.lora_A.weight`) continue;
    const mode = rankMode(m.settings);
    if (mode === 'fixed') continue;
    const rm: RankedModule = {
      module: m.module,
      mode,
      rank: m.settings.rank as number,
      alpha: m.settings.alpha as number,
      settings: m.settings,
      input: rankMaskName(m.module),
      A: p.path,
      B: `${m.module}.lora_B.weight`,
    };
    if (mode === 'auto') Object.assign(rm, { E: `${m.module}.lora_E.weight`, form: adaloraForm(m.settings) });
    else {
      rm.min = (m.settings.min as number | undefined) ?? 1;
      if (dyloraUpdate(m.settings) === 'sampled') rm.update = rankUpdateName(m.module);
    }
    out.push(rm);
  }
  return out;
}
