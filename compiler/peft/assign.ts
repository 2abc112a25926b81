// Resolves PEFT annotations — inline `with` methods and `peft { … }` rules with their
// targets, exclusions and overrides — into the list of methods applied to each module.
import type { Arg, Call, MethodRule, SourceFile, StringLit, TrainRule } from '../../grammar/ast.ts';
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import { bindArgs, evalConst, type ConstScope, type Reporter } from '../evaluate.ts';
import { walk, type ModuleInst } from '../modules.ts';
import { elide } from '../../grammar/elide.ts';
import { didYouMean } from '../suggest.ts';
import { compilePattern, MAX_PATTERN_LENGTH, nearestPaths } from './patterns.ts';
import { isSelector, SELECTORS } from './selectors.ts';
import { isMethod, METHODS, type MethodName, type Settings } from './methods.ts';
import { checkAutoAgreement } from './rank-settings.ts';

export interface MethodApp {
  method: MethodName;
  module: ModuleInst;
  settings: Settings;
  range: SourceRange;
}

export interface PeftPlan {
  apps: MethodApp[];
  /** Modules whose own parameters train (`train "…"`), by path. */
  train: Map<string, SourceRange>;
  /** Whether the program has any PEFT annotation at all (else: full fine-tuning). */
  any: boolean;
}

/** The method `method` applied to module `m`, if any: a map lookup (the tracer asks per module call). */
export function appsFor(plan: PeftPlan, m: ModuleInst, method: MethodName): MethodApp | undefined {
  return indexOf(plan).byModule.get(m)?.get(method);
}

/** Each plan's apps by module; apps are only ever appended, so the index catches up on use. */
const indexes = new WeakMap<MethodApp[], { size: number; byModule: Map<ModuleInst, Map<MethodName, MethodApp>> }>();

function indexOf(plan: PeftPlan) {
  let index = indexes.get(plan.apps);
  if (!index) indexes.set(plan.apps, (index = { size: 0, byModule: new Map() }));
  for (; index.size < plan.apps.length; index.size++) {
    const a = plan.apps[index.size]!;
    let methods = index.byModule.get(a.module);
    if (!methods) index.byModule.set(a.module, (methods = new Map()));
    if (!methods.has(a.method)) methods.set(a.method, a);
  }
  return index;
}

export function assignPeft(root: ModuleInst, files: SourceFile[], config: ConstScope, r: Reporter): PeftPlan {
  const plan: PeftPlan = { apps: [], train: new Map(), any: false };
  const modules = [...walk(root)].filter((m) => m !== root);
  for (const m of modules) {
    for (const call of m.inline) {
      plan.any = true;
      const settings = settingsOf(call, call.args, m.parent?.scope ?? config, r);
      if (settings) add(plan, settings.method, m, settings.settings, call.range, r);
    }
  }
  for (const f of files) {
    for (const item of f.items) {
      if (item.kind !== 'peft') continue;
      for (const rule of item.rules) {
        plan.any = true;
        if (rule.kind === 'train_rule') trainRule(plan, rule, modules, r);
        else methodRule(plan, rule, modules, config, r);
      }
    }
  }
  checkPrefixAgreement(plan, r);
  checkAutoAgreement(plan.apps, r);
  return plan;
}

function settingsOf(call: Call, args: Arg[], scope: ConstScope, r: Reporter, extra: Arg[] = []) {
  const name = call.callee.name;
  if (!isMethod(name)) {
    r.error(Codes.UnknownMethod, `unknown PEFT method \`${name}\`.${didYouMean(name, Object.keys(METHODS))} Methods: ${Object.keys(METHODS).join(', ')}.`, call.callee.range);
    return undefined;
  }
  const spec = METHODS[name];
  const evalArgs = (as: Arg[]) => as.map((a) => ({ name: a.name?.name, value: evalConst(a.value, scope, r, { symbols: true }), range: a.range }));
  const bound = bindArgs(name, spec.args, evalArgs(args), call.range, r);
  if (!bound) return undefined;
  for (const a of extra) {
    // Overrides are named settings that replace the rule's own for some targets.
    const key = a.name?.name;
    const names = spec.args.map((s) => s.name);
    if (!key || !names.includes(key)) {
      const what = key ? `\`${name}\` has no setting \`${key}\`.${didYouMean(key, names) || ` Its settings: ${names.join(', ')}.`}` : `an override names the settings it changes: (${names[0]} = …)`;
      r.error(Codes.BadArguments, what, a.range);
      return undefined;
    }
    const v = evalConst(a.value, scope, r, { symbols: true });
    if (!v) return undefined;
    bound.set(key, v);
  }
  const settings = spec.check(bound, call.range, r);
  return settings ? { method: name, settings } : undefined;
}

function add(plan: PeftPlan, method: MethodName, m: ModuleInst, settings: Settings, range: SourceRange, r: Reporter): void {
  const why = METHODS[method].notApplicable(m);
  if (why) {
    r.error(Codes.MethodNotApplicable, why, range);
    return;
  }
  addApplicable(plan, method, m, settings, range, r);
}

function addApplicable(plan: PeftPlan, method: MethodName, m: ModuleInst, settings: Settings, range: SourceRange, r: Reporter): void {
  const prev = appsFor(plan, m, method);
  if (prev) {
    r.error(Codes.ConflictingMethods, `\`${m.path}\` already has ${method}; a module takes each method once`, range, [
      { message: 'first applied here', range: prev.range },
    ]);
    return;
  }
  if (method === 'prompt' && plan.apps.some((a) => a.method === 'prompt')) {
    r.error(Codes.ConflictingMethods, 'only one `prompt` can be prepended at the input', range);
    return;
  }
  plan.apps.push({ method, module: m, settings, range });
}

/**
 * The modules matched by a list of patterns; reports a pattern that matches nothing.
 * With `subtree`, a module also matches when one of its ancestors does, so that
 * `exclude "h.0.*"` or `override "h.11"` reach everything inside that layer.
 */
function match(patterns: StringLit[], modules: ModuleInst[], r: Reporter, code: string = Codes.PatternMatchesNothing, subtree = false): ModuleInst[] {
  const out = new Set<ModuleInst>();
  for (const p of patterns) {
    if (p.bare) {
      for (const m of selected(p, modules, r)) out.add(m);
      continue;
    }
    if (p.value.length > MAX_PATTERN_LENGTH) {
      r.error(Codes.PatternTooLong, `target pattern "${elide(p.value)}" is ${p.value.length.toLocaleString('en-US')} characters long; patterns are at most ${MAX_PATTERN_LENGTH.toLocaleString('en-US')}`, p.range);
      continue;
    }
    const pat = compilePattern(p.value);
    const hit = modules.filter((m) => (subtree ? ancestry(m.path).some((a) => pat.matches(a)) : pat.matches(m.path)));
    if (hit.length === 0) {
      if (code === Codes.OverrideMatchesNothing) r.warn(code, `override pattern "${elide(p.value)}" matches none of the rule's targets`, p.range);
      else r.error(code, `target pattern "${elide(p.value)}" matches no module.${r.full ? '' : nearestHint(p.value, modules)}`, p.range);
    }
    for (const m of hit) out.add(m);
  }
  return [...out];
}

/** The modules a bare selector name (`all_linear`) stands for; reports an unknown name. */
function selected(p: StringLit, modules: ModuleInst[], r: Reporter): ModuleInst[] {
  if (isSelector(p.value)) return SELECTORS[p.value]!(modules);
  const names = Object.keys(SELECTORS);
  r.error(Codes.PatternMatchesNothing, `unknown target selector \`${p.value}\`: a target is a module pattern in quotes ("${p.value}") or a selector (${names.join(', ')}).${didYouMean(p.value, names)}`, p.range);
  return [];
}

/** ` Nearest module paths: `a`, `b`, `c`.` (a pattern matches a path or its part after a dot). */
function nearestHint(pattern: string, modules: ModuleInst[]): string {
  const near = nearestPaths(pattern, modules.map((m) => m.path));
  return near.length ? ` Nearest module paths: ${near.map((n) => `\`${n}\``).join(', ')}.` : '';
}

function methodRule(plan: PeftPlan, rule: MethodRule, modules: ModuleInst[], config: ConstScope, r: Reporter): void {
  const base = settingsOf(rule.method, rule.method.args, config, r);
  if (!base) return;
  let targets: ModuleInst[];
  if (rule.targets.length === 0) {
    if (METHODS[base.method].targetRequired) {
      r.error(Codes.PatternMatchesNothing, `\`${base.method}\` needs targets: add \`on "pattern"\``, rule.method.range);
      return;
    }
    const emb = modules.find((m) => m.kind === 'Embedding');
    targets = emb ? [emb] : [];
  } else {
    targets = match(rule.targets, modules, r);
  }
  const excluded = new Set(match(rule.exclude, modules, r, Codes.PatternMatchesNothing, true));
  targets = targets.filter((m) => !excluded.has(m));
  // One error per rule for the modules the method cannot apply to, not one per layer.
  const spec = METHODS[base.method];
  const unfit = targets.filter((m) => spec.notApplicable(m));
  if (unfit.length) {
    const more = unfit.length > 1 ? ` (and ${unfit.length - 1} more module${unfit.length > 2 ? 's' : ''} matched by this rule)` : '';
    r.error(Codes.MethodNotApplicable, `${spec.notApplicable(unfit[0]!)}${more}`, rule.range);
    return;
  }
  const overrides = rule.overrides.map((o) => ({ o, hit: new Set(match([o.pattern], targets, r, Codes.OverrideMatchesNothing, true)) }));
  for (const m of targets) {
    const extra = overrides.filter((x) => x.hit.has(m)).flatMap((x) => x.o.args);
    const s = extra.length ? settingsOf(rule.method, rule.method.args, config, r, extra) : base;
    if (s) addApplicable(plan, s.method, m, s.settings, rule.range, r);
  }
}

function trainRule(plan: PeftPlan, rule: TrainRule, modules: ModuleInst[], r: Reporter): void {
  for (const m of match(rule.targets, modules, r)) plan.train.set(m.path, rule.range);
}

/** All prefix-tuned layers share one prefix tensor, so they must agree on its settings. */
function checkPrefixAgreement(plan: PeftPlan, r: Reporter): void {
  const prefixes = plan.apps.filter((a) => a.method === 'prefix');
  const first = prefixes[0];
  for (const p of prefixes.slice(1)) {
    if (p.settings.length !== first!.settings.length || p.settings.hidden !== first!.settings.hidden) {
      r.error(Codes.ConflictingMethods, `every prefix-tuned layer shares one prefix; \`${p.module.path}\` asks for different settings`, p.range, [
        { message: 'the first prefix is set here', range: first!.range },
      ]);
    }
  }
}

/** `h.0.attn.c_attn` → [`h`, `h.0`, `h.0.attn`, `h.0.attn.c_attn`]. */
function ancestry(path: string): string[] {
  const parts = path.split('.');
  return parts.map((_, i) => parts.slice(0, i + 1).join('.'));
}
