// The config: named constants from every `config` block of the program, evaluated in
// order (imports first), with command-line `--set key=value` overrides applied to the
// named constant itself, so that dependents (`ff = 4 * n_embd`) follow it.
import type { ConfigEntry, SourceFile } from '../grammar/ast.ts';
import { syntheticRange } from '../grammar/diagnostics.ts';
import { Codes } from './codes.ts';
import { ConstScope, evalConst, type Reporter } from './evaluate.ts';
import { didYouMean } from './suggest.ts';
import type { Const } from './values.ts';

export type Overrides = Record<string, number | boolean | string>;

/** Parses `a=1,b=2.5,c=true` (one or several `--set` flags joined). */
export function parseSet(specs: string[], r: Reporter): Overrides {
  const out: Overrides = {};
  for (const spec of specs) {
    for (const part of spec.split(',')) {
      if (part.trim() === '') continue;
      const m = /^\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*$/.exec(part);
      if (!m) {
        r.error(Codes.BadSet, `\`--set ${part}\` is not of the form key=value`, syntheticRange());
        continue;
      }
      out[m[1]!] = parseValue(m[2]!);
    }
  }
  return out;
}

function parseValue(s: string): number | boolean | string {
  if (s === 'true') return true;
  if (s === 'false') return false;
  const n = Number(s);
  return s !== '' && Number.isFinite(n) ? n : s.replace(/^"(.*)"$/, '$1');
}

function toConst(v: number | boolean | string): Const {
  return typeof v === 'number' ? { kind: 'num', v } : typeof v === 'boolean' ? { kind: 'bool', v } : { kind: 'str', v };
}

export interface ConfigResult {
  scope: ConstScope;
  values: Record<string, number | string | boolean>;
}

export function evaluateConfig(files: SourceFile[], overrides: Overrides, r: Reporter): ConfigResult {
  const scope = new ConstScope();
  const values: Record<string, number | string | boolean> = {};
  const entries = collectEntries(files, r);
  for (const { entry, value } of entries.values()) {
    const name = entry.name.name;
    const v = name in overrides ? toConst(overrides[name]!) : evalConst(value, scope, r);
    if (!v) continue;
    scope.set(name, v);
    if (v.kind === 'num' || v.kind === 'bool' || v.kind === 'str') values[name] = v.v;
  }
  for (const key of Object.keys(overrides)) {
    if (!entries.has(key)) {
      r.error(Codes.UnknownSetting, `\`--set ${key}\`: no config constant \`${key}\`.${didYouMean(key, entries.keys())}`, syntheticRange());
    }
  }
  return { scope, values };
}

/**
 * The config entries in evaluation order (imports first). A file that imports another may
 * redefine its constants: the new expression takes the old one's place, so constants
 * computed from it follow (`n_inner = 4 * n_embd`). Defining a name twice in one file is
 * an error.
 */
function collectEntries(files: SourceFile[], r: Reporter): Map<string, { entry: ConfigEntry; value: ConfigEntry['value'] }> {
  const out = new Map<string, { entry: ConfigEntry; value: ConfigEntry['value'] }>();
  for (const f of files) {
    for (const item of f.items) {
      if (item.kind !== 'config') continue;
      for (const entry of item.entries) {
        const name = entry.name.name;
        const prev = out.get(name);
        if (prev && prev.entry.range.file === entry.range.file) {
          r.error(Codes.Duplicate, `config constant \`${name}\` is already defined`, entry.name.range, [
            { message: 'first defined here', range: prev.entry.name.range },
          ]);
        } else if (prev) {
          prev.value = entry.value;
        } else {
          out.set(name, { entry, value: entry.value });
        }
      }
    }
  }
  return out;
}
