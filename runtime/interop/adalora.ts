// AdaLoRA (`lora(rank = auto(…))`) in Hugging Face PEFT's own format, `peft_type: ADALORA`
// (peft/tuners/adalora/{config,layer,model}.py), both ways:
//
// - Keys `base_model.model.<module>.lora_A` [k, in], `.lora_B` [out, k], `.lora_E` [k, 1]
//   (parameters, so no `.weight`), k the triplets the module kept: PEFT's save drops the masked
//   ones (resize_state_dict_by_rank_pattern). `ranknum` (always init_r) is not saved.
// - E is saved as PEFT's: peftc scales by alpha / init, PEFT by lora_alpha / (init_r + 1e-5), so
//   the file's E is ours × (init + 1e-5) / init (and back on import): the same function exactly.
// - `rank_pattern` maps `<module>.lora_E` (the transformers name) to one boolean per initial
//   triplet, true where kept; on loading PEFT shrinks each module to those and keeps
//   ranknum = init_r, so the scale stays lora_alpha / (init_r + 1e-5).
// - `init_r`, `target_r`, `tinit`, `tfinal`, `deltaT`, `beta1`, `beta2`, `orth_reg_weight` are the
//   `auto(…)` settings; `total_step` the run's steps; `r` is unused by PEFT (its default 8).
//
// PEFT's AdaLoRA has one init_r, lora_alpha, target_r and orth_reg_weight for every module, so a
// fine-tune whose auto modules differ in them (or that mixes fixed and auto ranks) is exported
// as the plain LoRA it has become instead (hf-peft.ts).
import type { Graph, Param } from '../../compiler/ir/types.ts';
import { rankedModules, type RankedModule } from '../../compiler/peft/ranked-modules.ts';
import { AUTO_DEFAULTS } from '../../compiler/peft/rank-settings.ts';
import { InteropError } from './errors.ts';
import type { HfNames } from './names.ts';
import { pyFloat, type PyJson } from './pyjson.ts';

/** PEFT's SVDLinear divides by ranknum + 1e-5. */
export const ADALORA_EPS = 1e-5;

/** The `auto(…)` settings as AdaLoraConfig names them. */
export interface AdaLoraSettings {
  initR: number;
  targetR: number;
  tinit: number;
  tfinal: number;
  deltaT: number;
  beta1: number;
  beta2: number;
  orth: number;
  totalStep: number | null;
  /** `<transformers module>.lora_E` → kept triplets; absent: every module keeps all. */
  rankPattern: Record<string, boolean[]> | null;
}

const SHARED = ['rank', 'alpha', 'target', 'orth', 'tinit', 'tfinal', 'delta_t', 'beta1', 'beta2'] as const;

/** The auto modules, when they can be one ADALORA adapter; else why not. */
export function adaloraModules(g: Graph, loraParams: Param[]): RankedModule[] | string {
  const ranked = rankedModules(g);
  const auto = ranked.filter((m) => m.mode === 'auto');
  const modules = new Set(loraParams.map((p) => p.method!.module));
  if (!auto.length || auto.length !== modules.size) return 'LoRA modules with fixed ranks beside rank = auto(…) ones: PEFT\'s AdaLoRA adapts every module the same way';
  const first = auto[0]!;
  const diff = SHARED.filter((k) => auto.some((m) => m.settings[k] !== first.settings[k]));
  if (diff.length) return `rank = auto(…) modules with different ${diff.join(', ')}: PEFT's AdaLoraConfig has one of each`;
  return auto;
}

/** The ADALORA config fields (beside the common and LoRA ones) of these modules. */
export function adaloraConfig(g: Graph, auto: RankedModule[], names: HfNames, kept: Map<string, number[]> | undefined, totalSteps: number | undefined): { [key: string]: PyJson } {
  const s = auto[0]!.settings;
  const num = (k: string) => s[k] as number;
  const pattern: { [key: string]: PyJson } = {};
  for (const m of auto) {
    const on = new Set(kept?.get(m.module) ?? [...Array(m.rank).keys()]);
    pattern[`${names.toHf(m.module)}.lora_E`] = [...Array(m.rank).keys()].map((i) => on.has(i));
  }
  // PEFT refuses a schedule with no budgeting phase (tinit ≥ total_step − tfinal).
  const total = Math.max(totalSteps ?? 0, num('tinit') + num('tfinal') + 1);
  return {
    beta1: pyFloat(num('beta1')),
    beta2: pyFloat(num('beta2')),
    deltaT: num('delta_t'),
    init_r: auto[0]!.rank,
    orth_reg_weight: pyFloat(num('orth')),
    peft_type: 'ADALORA',
    r: 8,
    rank_pattern: pattern,
    target_r: num('target'),
    tfinal: num('tfinal'),
    tinit: num('tinit'),
    total_step: total,
  };
}

/** AdaLoraConfig's fields of a parsed adapter_config.json (ADALORA), checked. */
export function parseAdaLora(c: Record<string, unknown>, where: string): AdaLoraSettings {
  const int = (k: string, dflt: number, min: number) => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new InteropError(`${where}: \`${k}\` must be an integer ≥ ${min}, found ${JSON.stringify(c[k])}`);
    return v;
  };
  const real = (k: string, dflt: number) => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InteropError(`${where}: \`${k}\` must be a number, found ${JSON.stringify(c[k])}`);
    return v;
  };
  const rp = c.rank_pattern;
  if (rp !== undefined && rp !== null && (typeof rp !== 'object' || Array.isArray(rp) || Object.values(rp).some((v) => !Array.isArray(v) || v.some((b) => typeof b !== 'boolean')))) {
    throw new InteropError(`${where}: an AdaLoRA \`rank_pattern\` maps each module's lora_E to a list of booleans (the kept triplets), found ${JSON.stringify(rp).slice(0, 80)}`);
  }
  const total = c.total_step;
  return {
    initR: int('init_r', AUTO_DEFAULTS.init, 1), targetR: int('target_r', AUTO_DEFAULTS.target, 1), tinit: int('tinit', 0, 0), tfinal: int('tfinal', 0, 0),
    deltaT: int('deltaT', 1, 1), beta1: real('beta1', AUTO_DEFAULTS.beta1), beta2: real('beta2', AUTO_DEFAULTS.beta2), orth: real('orth_reg_weight', AUTO_DEFAULTS.orth),
    totalStep: typeof total === 'number' ? total : null,
    rankPattern: (rp ?? null) as Record<string, boolean[]> | null,
  };
}

/** The triplets each module keeps by a folder's rank_pattern, by our module path. */
export function keptByPattern(a: AdaLoraSettings, names: HfNames, modules: string[], where: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const byHf = new Map(modules.map((m) => [`${names.toHf(m)}.lora_E`, m]));
  for (const [key, bits] of Object.entries(a.rankPattern ?? {})) {
    // PEFT's keys are the names in the transformers model; older saves may carry the adapter name.
    const m = byHf.get(key) ?? byHf.get(key.replace(/\.default$/, ''));
    if (!m) throw new InteropError(`${where}: rank_pattern names \`${key}\`, which is not the lora_E of a module it adapts`);
    if (bits.length !== a.initR) throw new InteropError(`${where}: rank_pattern \`${key}\` has ${bits.length} entries, init_r is ${a.initR}`);
    out.set(m, [...bits.keys()].filter((i) => bits[i]));
  }
  for (const m of modules) if (!out.has(m)) out.set(m, [...Array(a.initR).keys()]);
  return out;
}

/** Where the folder's AdaLoRA settings differ from the .peft's `auto(…)`. */
export function adaloraProblems(a: AdaLoraSettings, alpha: number, auto: RankedModule[]): string[] {
  const problems: string[] = [];
  const theirs: Record<string, number> = { rank: a.initR, alpha, target: a.targetR, tinit: a.tinit, tfinal: a.tfinal, delta_t: a.deltaT, beta1: a.beta1, beta2: a.beta2, orth: a.orth };
  const label: Record<string, string> = { rank: 'init_r (auto\'s init)', alpha: 'lora_alpha', target: 'target_r', delta_t: 'deltaT', orth: 'orth_reg_weight' };
  for (const m of auto) {
    for (const k of SHARED) {
      const ours = m.settings[k] as number;
      if (ours !== theirs[k]) problems.push(`\`${m.module}\`: ${label[k] ?? k} is ${theirs[k]} there, ${ours} in the .peft`);
    }
  }
  return problems;
}
