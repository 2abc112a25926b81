// IA³ in Hugging Face PEFT's format (peft_type IA3): one vector `ia3_l` per module, [out, 1], or
// [1, in] for the modules listed in `feedforward_modules`, whose input it scales. The graph keeps
// the vectors one-dimensional (compiler/peft/ia3.ts); the entries carry the file's shape.
import type { Graph, Param } from '../../compiler/ir/types.ts';
import { ia3FileShape } from '../../compiler/peft/ia3.ts';
import { InteropError, listSome } from './errors.ts';
import { linearLayout, linearModules, modulePaths } from './graph-info.ts';
import type { PartEntry } from './hf-peft.ts';
import { isHeadPath, type HfNames } from './names.ts';
import { exactRegex, leafNames } from './patterns.ts';
import type { PyJson } from './pyjson.ts';

export interface Ia3Config {
  kind: 'ia3';
  targets: string[] | string;
  feedforward: string[] | string;
  exclude: string[] | string | null;
  modulesToSave: string[];
}

export interface Ia3Module {
  module: string;
  feedforward: boolean;
}

const PREFIX = 'base_model.model.';

/** The IA³ modules of a graph, in model order. */
export function ia3Modules(g: Graph): Ia3Module[] {
  return ia3Params(g).map((p) => ({ module: p.method!.module, feedforward: p.method!.settings.feedforward === true }));
}

function ia3Params(g: Graph): Param[] {
  return g.params.filter((p) => p.method?.name === 'ia3');
}

/** adapter_config.json's fields and the tensors' keys for the IA³ vectors of `g`. */
export function ia3Config(g: Graph, names: HfNames): { config: { [key: string]: PyJson }; entries: PartEntry[] } {
  const mods = ia3Modules(g);
  const universe = modulePaths(g);
  const targets = leafNames(mods.map((m) => m.module), universe) ?? exactRegex(mods.map((m) => names.toHf(m.module)));
  const ff = mods.filter((m) => m.feedforward).map((m) => m.module);
  // PEFT wants listed feed-forward names to be a subset of listed targets; a regex skips that check.
  const ffLeaves = leafNames(ff, universe);
  const feedforward = ffLeaves && Array.isArray(targets) && ffLeaves.every((n) => targets.includes(n)) ? ffLeaves : ff.length ? exactRegex(ff.map((m) => names.toHf(m))) : [];
  const layouts = mods.map((m) => linearLayout(g, m.module));
  const config = {
    exclude_modules: null,
    fan_in_fan_out: layouts.every((l) => l === 'in_out'),
    feedforward_modules: feedforward,
    init_ia3_weights: true,
    modules_to_save: null,
    peft_type: 'IA3',
    target_modules: targets,
  };
  const entries = ia3Params(g).map((p) => ({
    key: PREFIX + names.toHf(p.path),
    path: p.path,
    shape: ia3FileShape(p.method!.settings.feedforward === true, p.shape[0]!),
  }));
  return { config, entries };
}

/** The modules Hugging Face PEFT would give IA³ in this model, and which are feed-forward. */
export function resolveIa3(cfg: Ia3Config, g: Graph, names: HfNames, where: string, regex: (p: string) => RegExp): Ia3Module[] {
  const linear = linearModules(g);
  const all = [...modulePaths(g)];
  // As PEFT: a listed target matches the whole name or its end after a dot; a listed
  // feed-forward name matches any end of the name; a string is a regular expression.
  const isTarget = (spec: string[] | string, key: string) => (typeof spec === 'string' ? regex(spec).test(key) : spec.some((t) => key === t || key.endsWith(`.${t}`)));
  const isFf = (key: string) => (typeof cfg.feedforward === 'string' ? regex(cfg.feedforward).test(key) : cfg.feedforward.some((t) => key.endsWith(t)));
  let hits = cfg.targets === 'all-linear' ? linear.filter((m) => !isHeadPath(names, m)) : all.filter((m) => isTarget(cfg.targets, names.toHf(m)));
  if (cfg.exclude) hits = hits.filter((m) => !isTarget(cfg.exclude!, names.toHf(m)));
  if (hits.length === 0) throw new InteropError(`${where}: target_modules ${JSON.stringify(cfg.targets)} matches no module of this model (Linear layers: ${listSome(linear.map(names.toHf), 4)})`);
  const notLinear = hits.filter((m) => !linear.includes(m));
  if (notLinear.length) throw new InteropError(`${where}: target_modules matches ${listSome(notLinear)}, which ${notLinear.length > 1 ? 'are' : 'is'} not a Linear layer`);
  return hits.map((m) => ({ module: m, feedforward: isFf(names.toHf(m)) }));
}

/** What differs between the folder's IA³ modules and the .peft's. */
export function checkIa3(theirs: Ia3Module[], g: Graph): string[] {
  const ours = new Map(ia3Modules(g).map((m) => [m.module, m]));
  const there = new Map(theirs.map((m) => [m.module, m]));
  const problems: string[] = [];
  const onlyTheirs = [...there.keys()].filter((m) => !ours.has(m));
  const onlyOurs = [...ours.keys()].filter((m) => !there.has(m));
  if (onlyTheirs.length) problems.push(`it scales ${onlyTheirs.length} module(s) the .peft leaves alone: ${listSome(onlyTheirs)}`);
  if (onlyOurs.length) problems.push(`the .peft scales ${onlyOurs.length} module(s) it leaves alone: ${listSome(onlyOurs)}`);
  for (const [m, t] of there) {
    const o = ours.get(m);
    if (o && o.feedforward !== t.feedforward) problems.push(`\`${m}\` is ${t.feedforward ? '' : 'not '}a feed-forward module there (feedforward_modules), ${o.feedforward ? '' : 'not '}in the .peft`);
  }
  return problems;
}
