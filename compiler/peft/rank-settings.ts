// `rank = auto(…)` (AdaLoRA) and `rank = dynamic(…)` (DyLoRA) as LoRA settings: parsing,
// defaults, checks, and the agreement every auto-ranked module's schedule needs. The rewrites
// are in ranked-lora.ts, the runtime's budget in runtime/rank-controller.ts.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { Reporter } from '../evaluate.ts';
import { formatConst, type Const } from '../values.ts';

type Settings = Record<string, number | string | boolean>;

export type RankMode = 'fixed' | 'auto' | 'dynamic';

/** Hugging Face PEFT's AdaLoraConfig defaults (beta1 = beta2 = 0.85, orth_reg_weight 0.5, …). */
export const AUTO_DEFAULTS = { target: 8, init: 12, tinit: 0, tfinal: 0, delta_t: 1, beta1: 0.85, beta2: 0.85, orth: 0.5 };
/** The settings of `auto(…)` that one global budget needs every module to share. */
export const SHARED_AUTO = ['tinit', 'tfinal', 'delta_t', 'beta1', 'beta2', 'form'] as const;

const AUTO_ARGS = ['target', 'init', 'tinit', 'tfinal', 'delta_t', 'beta1', 'beta2', 'orth', 'form'] as const;
const DYNAMIC_ARGS = ['max', 'min', 'update'] as const;

/**
 * The settings that take an option rather than a number, with their choices (the first is the
 * default, which is left out of the settings so that a default run's IR is as before):
 *   auto's form: `hf_peft` (Hugging Face PEFT's AdaLoRA; `peft` is a keyword) or `paper` (Zhang et
 *   al. 2023 as written);
 *   dynamic's update: `prefix` (every rank up to the drawn b) or `sampled` (only the b-th).
 */
const OPTIONS: Record<string, readonly string[]> = { form: ['hf_peft', 'paper'], update: ['prefix', 'sampled'] };
/** Defaults of `dynamic(…)`: the smallest rank drawn. */
const DYNAMIC_DEFAULTS: Record<string, number> = { min: 1 };

/** AdaLoRA's form of a module's settings: PEFT's unless `form = paper`. */
export const adaloraForm = (s: Settings): 'peft' | 'paper' => (s.form === 'paper' ? 'paper' : 'peft');
/** DyLoRA's update of a module's settings: the prefix up to b unless `update = sampled`. */
export const dyloraUpdate = (s: Settings): 'prefix' | 'sampled' => (s.update === 'sampled' ? 'sampled' : 'prefix');

export function rankMode(s: Settings): RankMode {
  return s.rank_mode === 'auto' || s.rank_mode === 'dynamic' ? s.rank_mode : 'fixed';
}

/**
 * `rank = auto(…)` or `rank = dynamic(…)` as flat settings (`rank` is the parameters' rank: `init`
 * or `max`); undefined with an error reported; null when `rank` is not such a call.
 */
export function rankSettings(v: Const, range: SourceRange, r: Reporter): Settings | undefined | null {
  if (v.kind !== 'ctor' || (v.name !== 'auto' && v.name !== 'dynamic')) return null;
  const names: readonly string[] = v.name === 'auto' ? AUTO_ARGS : DYNAMIC_ARGS;
  const given = new Map<string, Const>();
  const fail = (msg: string): undefined => {
    r.error(Codes.BadMethodSetting, msg, range);
    return undefined;
  };
  if (v.args.length > 1 || (v.args.length === 1 && v.name === 'auto' && v.named.has('target'))) {
    return fail(`\`${v.name}(…)\` takes its settings by name: ${names.map((n) => `${n} = …`).join(', ')}`);
  }
  if (v.args[0]) given.set(names[0]!, v.args[0]);
  for (const [k, c] of v.named) {
    if (!names.includes(k)) return fail(`\`${v.name}(…)\` has no setting \`${k}\`; its settings: ${names.join(', ')}`);
    given.set(k, c);
  }
  const out: Settings = {};
  for (const k of names) {
    const c = given.get(k);
    const choices = OPTIONS[k];
    if (choices) {
      if (!c) continue;
      if (c.kind !== 'sym' || !choices.includes(c.name)) return fail(`\`${v.name}(…)\`'s ${k} must be ${choices.join(' or ')}; found ${formatConst(c)}`);
      if (c.name !== choices[0]) out[k] = c.name;
      continue;
    }
    const dflt = v.name === 'auto' ? AUTO_DEFAULTS[k as keyof typeof AUTO_DEFAULTS] : DYNAMIC_DEFAULTS[k];
    if (!c) {
      if (dflt === undefined) return fail(`\`dynamic(…)\` needs \`max\`, the largest rank: \`rank = dynamic(max = 8)\``);
      out[k] = dflt;
      continue;
    }
    if (c.kind !== 'num') return fail(`\`${v.name}(…)\`'s ${k} must be a number; found ${formatConst(c)}`);
    out[k] = c.v;
  }
  const int = (k: string, min: number) => Number.isInteger(out[k]) && (out[k] as number) >= min;
  if (v.name === 'dynamic') return dynamicSettings(out, fail);
  for (const [k, min] of [['init', 1], ['target', 1], ['tinit', 0], ['tfinal', 0], ['delta_t', 1]] as const) {
    if (!int(k, min)) return fail(`\`auto(…)\`'s ${k} must be an integer ≥ ${min}; found ${out[k]}`);
  }
  if ((out.target as number) > (out.init as number)) return fail(`\`auto(…)\`'s target rank ${out.target} exceeds its initial rank ${out.init}`);
  for (const k of ['beta1', 'beta2']) {
    if (!((out[k] as number) >= 0 && (out[k] as number) < 1)) return fail(`\`auto(…)\`'s ${k} must be in [0, 1); found ${out[k]}`);
  }
  if (!((out.orth as number) >= 0)) return fail(`\`auto(…)\`'s orth (the orthogonality weight) must be ≥ 0; found ${out.orth}`);
  const { init, ...rest } = out;
  return { rank: init!, rank_mode: 'auto', ...rest };
}

/** `dynamic(max, min, update)` checked: `rank` is max; min (the paper's r_min) only when above 1. */
function dynamicSettings(out: Settings, fail: (msg: string) => undefined): Settings | undefined {
  const { max, min } = out as { max: number; min: number };
  if (!(Number.isInteger(max) && max >= 1)) return fail(`\`dynamic(…)\`'s max must be an integer ≥ 1; found ${max}`);
  if (!(Number.isInteger(min) && min >= 1 && min <= max)) return fail(`\`dynamic(…)\`'s min (the smallest rank drawn) must be an integer from 1 to max = ${max}; found ${min}`);
  return { rank: max, rank_mode: 'dynamic', ...(min > 1 ? { min } : {}), ...(out.update ? { update: out.update } : {}) };
}

/** All modules with `rank = auto(…)` share one budget: their schedule settings must agree. */
/** What the agreement check reads of a method application (assign.ts's MethodApp). */
interface RankedApp {
  method: string;
  module: { path: string };
  settings: Settings;
  range: SourceRange;
}

export function checkAutoAgreement(apps: readonly RankedApp[], r: Reporter): void {
  const auto = apps.filter((a) => a.method === 'lora' && a.settings.rank_mode === 'auto');
  const first = auto[0];
  for (const a of auto.slice(1)) {
    const diff = SHARED_AUTO.filter((k) => a.settings[k] !== first!.settings[k]);
    if (diff.length) {
      r.error(Codes.ConflictingMethods, `every \`rank = auto(…)\` module shares one rank budget and schedule; \`${a.module.path}\` sets ${diff.join(', ')} differently`, a.range, [
        { message: 'the first auto rank is set here', range: first!.range },
      ]);
      return;
    }
  }
}
