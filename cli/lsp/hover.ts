// Hover: what a name stands for in this program. A member or block: its module paths, the
// shapes of its own parameters, its parameter and trainable counts and the PEFT methods on it;
// a config constant: its value after the workspace's `--set`; a builtin or PEFT method: its
// meaning and arguments; a target string: the modules it matches.
import { basename } from 'node:path';
import type * as ast from '../../grammar/ast.ts';
import { walk, type ModuleInst } from '../../compiler/modules.ts';
import { compilePattern } from '../../compiler/peft/patterns.ts';
import { count } from '../../compiler/params.ts';
import { declKey, type Analysis } from './analysis.ts';
import { functionBuiltin, layerBuiltin, methodBuiltin, type Builtin } from './signatures.ts';
import type { Occurrence } from './symbols.ts';

/** Module paths listed in full up to this many; more are shown first … last. */
const LISTED_PATHS = 4;

export function hoverText(a: Analysis, file: string, offset: number): string | undefined {
  const occ = a.index.at(file, offset);
  if (occ) return symbolText(a, occ);
  const target = targetAt(a, file, offset);
  return target && targetText(a, target);
}

function symbolText(a: Analysis, occ: Occurrence): string | undefined {
  const s = occ.symbol;
  switch (s.kind) {
    case 'member':
      return moduleText(`**member** \`${s.name}\` of \`${s.owner}\``, a.instances.get(declKey(s.decl!)) ?? [], a);
    case 'model':
      return moduleText(`**model** \`${s.name}\``, a.result.root ? [a.result.root] : [], a);
    case 'block': {
      const insts = a.result.root ? [...walk(a.result.root)].filter((m) => m.kind === 'block' && m.decl?.kind === 'block' && m.decl.name.name === s.name) : [];
      return moduleText(`**block** \`${s.name}\``, insts, a);
    }
    case 'const': {
      const v = a.config[s.name];
      const set = a.setNames.has(s.name) ? ' (from the `peftc.set` setting)' : '';
      return `**config** \`${s.name}\` = \`${v === undefined ? '?' : String(v)}\`${set}`;
    }
    case 'param':
      return `**parameter** \`${s.name}\` of block \`${s.owner}\``;
    case 'local':
      return `**local** \`${s.name}\` in the forward of \`${s.owner}\``;
    case 'import':
      return `**import** \`${s.target}\``;
    case 'layer':
      return builtinText('layer', layerBuiltin(s.name));
    case 'function':
      return builtinText('function', functionBuiltin(s.name));
    case 'method':
      return methodText(a, occ);
  }
}

function builtinText(what: string, b: Builtin | undefined): string | undefined {
  return b && `**${what}** \`${b.signature}\`\n\n${b.doc}`;
}

/** A method: its meaning and settings, and the modules this use of it applies to. */
function methodText(a: Analysis, occ: Occurrence): string | undefined {
  const base = builtinText('PEFT method', methodBuiltin(occ.symbol.name));
  if (!base) return undefined;
  const apps = (a.result.plan?.apps ?? []).filter(
    (app) => app.method === occ.symbol.name && app.range.file === occ.range.file && app.range.start.offset <= occ.range.start.offset && occ.range.end.offset <= app.range.end.offset,
  );
  if (apps.length === 0) return base;
  const settings = Object.entries(apps[0]!.settings).map(([k, v]) => `${k} = ${v}`).join(', ');
  return `${base}\n\nApplied to ${paths(apps.map((x) => x.module.path))}${settings ? ` with ${settings}` : ''}.`;
}

function moduleText(title: string, insts: ModuleInst[], a: Analysis): string {
  const lines = [title];
  if (insts.length === 0) return [...lines, 'No module in the model is made from it (or the file has errors before the module tree).'].join('\n\n');
  const first = insts[0]!;
  lines.push(`${insts.length === 1 ? 'path' : `${insts.length} modules`}: ${paths(insts.map((m) => m.path || '(the model)'))}`);
  const own = first.params.map((p) => `${p.name} [${p.shape.join(', ')}]`);
  if (own.length) lines.push(`${first.kind}: ${own.join(', ')}`);
  const { total, trainable, methods } = counts(insts, a);
  if (a.result.graph) {
    const share = total ? ` (${((100 * trainable) / total).toFixed(2)}%)` : '';
    lines.push(`params: ${total.toLocaleString('en-US')} · trainable: ${trainable.toLocaleString('en-US')}${share}`);
  } else lines.push(`params (base): ${total.toLocaleString('en-US')}; trainable counts once the file compiles`);
  if (methods.size) lines.push(`methods: ${[...methods].join(', ')}`);
  return lines.join('\n\n');
}

/** Parameter counts under the modules (with their PEFT parameters once the graph exists). */
function counts(insts: ModuleInst[], a: Analysis): { total: number; trainable: number; methods: Set<string> } {
  const methods = new Set<string>();
  let total = 0;
  let trainable = 0;
  const graph = a.result.graph;
  if (!graph) {
    for (const m of insts) for (const sub of walk(m)) for (const p of sub.params) total += count(p.shape);
    return { total, trainable, methods };
  }
  const prefixes = insts.map((m) => m.path);
  for (const p of graph.params) {
    if (!prefixes.some((x) => x === '' || p.module === x || p.module.startsWith(`${x}.`))) continue;
    const n = count(p.shape);
    total += n;
    if (p.partition === 'trainable') trainable += n;
    if (p.method && p.method.name !== 'train') methods.add(p.method.name);
  }
  for (const app of a.result.plan?.apps ?? []) if (insts.includes(app.module)) methods.add(app.method);
  return { total, trainable, methods };
}

function paths(list: string[]): string {
  const quoted = list.map((p) => `\`${p}\``);
  return list.length <= LISTED_PATHS ? quoted.join(', ') : `${quoted.slice(0, 2).join(', ')} … ${quoted[quoted.length - 1]}`;
}

/** The target string of a `peft` rule under the cursor. */
export function targetAt(a: Analysis, file: string, offset: number): ast.StringLit | undefined {
  for (const f of a.result.files) {
    if (f.path !== file) continue;
    for (const item of f.items) {
      if (item.kind !== 'peft') continue;
      for (const rule of item.rules) {
        const strings = rule.kind === 'train_rule' ? rule.targets : [...rule.targets, ...rule.exclude, ...rule.overrides.map((o) => o.pattern)];
        const hit = strings.find((s) => s.range.start.offset <= offset && offset <= s.range.end.offset);
        if (hit) return hit;
      }
    }
  }
  return undefined;
}

function targetText(a: Analysis, target: ast.StringLit): string {
  const root = a.result.root;
  if (!root) return `**target** \`"${target.value}"\``;
  const pattern = compilePattern(target.value);
  const matched = [...walk(root)].filter((m) => m.path && pattern.matches(m.path)).map((m) => m.path);
  const what = matched.length ? `matches ${matched.length} module${matched.length === 1 ? '' : 's'}: ${paths(matched)}` : 'matches no module';
  return `**target** \`"${target.value}"\` ${what} (in ${basename(a.entry)})`;
}
