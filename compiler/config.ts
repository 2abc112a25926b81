// The config: named constants from every `config` block of the program, evaluated in
// order (imports first), with command-line `--set key=value` overrides applied to the
// named constant itself, so that dependents (`ff = 4 * n_embd`) follow it.
// Names come from the user: every table keyed by them is a Map (or has no prototype), so
// `constructor` or `__proto__` is a name like any other.
import type { ConfigEntry, SourceFile } from '../grammar/ast.ts';
import { elide } from '../grammar/elide.ts';
import { syntheticRange } from '../grammar/diagnostics.ts';
import { Codes } from './codes.ts';
import { ConstScope, evalConst, Reporter } from './evaluate.ts';
import { parseSetValue, type SetValue } from './set-value.ts';
import { didYouMean } from './suggest.ts';
import { formatConst, type Const } from './values.ts';

export type { SetValue } from './set-value.ts';

/** One `--set key=value`, with the text it came from (for messages). */
export interface Override {
  value: SetValue;
  /** `--set n_layer=4` as written, shortened if long. */
  origin: string;
}

export type Overrides = Map<string, Override>;

/** The config constants' values by name (no prototype: any name is an own key or absent). */
export type ConfigValues = Record<string, number | string | boolean>;

/** Parses `a=1,b=2.5,c=true` (one or several `--set` flags joined). */
export function parseSet(specs: string[], r: Reporter): Overrides {
  const out: Overrides = new Map();
  for (const spec of specs) {
    const parts = spec.split(',');
    if (parts.some((p) => p.trim() === '')) {
      r.error(Codes.BadSet, 'an empty setting between commas; write --set key=value[,key=value]', syntheticRange(`--set ${elide(spec, 80)}`));
    }
    for (const part of parts.filter((p) => p.trim() !== '')) {
      const origin = `--set ${elide(part.trim(), 80)}`;
      const m = /^\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*$/s.exec(part);
      if (!m) {
        r.error(Codes.BadSet, 'not of the form key=value', syntheticRange(origin));
        continue;
      }
      const value = parseSetValue(m[2]!);
      if (typeof value === 'object') r.error(Codes.BadSet, value.problem, syntheticRange(origin));
      else out.set(m[1]!, { value, origin });
    }
  }
  return out;
}

function toConst(v: SetValue): Const {
  return typeof v === 'number' ? { kind: 'num', v } : typeof v === 'boolean' ? { kind: 'bool', v } : { kind: 'str', v };
}

export interface ConfigResult {
  scope: ConstScope;
  values: ConfigValues;
}

export function evaluateConfig(files: SourceFile[], overrides: Overrides, r: Reporter): ConfigResult {
  const scope = new ConstScope();
  const values: ConfigValues = Object.create(null);
  const entries = collectEntries(files, r);
  for (const { entry, value } of entries.values()) {
    const name = entry.name.name;
    const set = overrides.get(name);
    const v = set ? overridden(name, set, evalConst(value, scope, new Reporter()), r) : evalConst(value, scope, r);
    if (!v) continue;
    scope.set(name, v);
    if (v.kind === 'num' || v.kind === 'bool' || v.kind === 'str') values[name] = v.v;
  }
  for (const [key, set] of overrides) {
    if (!entries.has(key)) {
      r.error(Codes.UnknownSetting, `no config constant \`${elide(key)}\`.${didYouMean(key, entries.keys())}`, syntheticRange(set.origin));
    }
  }
  return { scope, values };
}

/** The `--set` value of a constant, if it has the kind the file gives it (a number stays a number). */
function overridden(name: string, set: Override, original: Const | undefined, r: Reporter): Const | undefined {
  const v = toConst(set.value);
  const kind = (c: Const) => (c.kind === 'num' ? 'a number' : c.kind === 'bool' ? '`true` or `false`' : c.kind === 'str' ? 'a string' : undefined);
  const want = original && kind(original);
  if (want && original.kind !== v.kind) {
    r.error(Codes.BadSet, `\`${name}\` is ${want} in the file (\`${elide(formatConst(original), 40)}\`); \`${elide(String(set.value), 40)}\` is not`, syntheticRange(set.origin));
    return original;
  }
  return v;
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
