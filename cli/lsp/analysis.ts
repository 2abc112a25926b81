// One compile of an entry file as the editor sees it (open documents over the disk), with what
// the editor features ask of it: the symbol index, the config values after the workspace's
// `--set`, and the module instances of each member declaration.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { compile, type CompileResult } from '../../compiler/build.ts';
import { evaluateConfig, parseSet, type ConfigValues } from '../../compiler/config.ts';
import { Reporter } from '../../compiler/evaluate.ts';
import type { SourceHost } from '../../compiler/load.ts';
import { walk, type ModuleInst } from '../../compiler/modules.ts';
import { SymbolIndex } from './symbols.ts';

export interface Analysis {
  entry: string;
  result: CompileResult;
  index: SymbolIndex;
  config: ConfigValues;
  /** The constants the workspace's `--set` overrides. */
  setNames: Set<string>;
  /** The module instances made from each member (and the model), by declaration. */
  instances: Map<string, ModuleInst[]>;
  /** Every file this analysis read: a change to any of them makes it stale. */
  files: Set<string>;
}

export function analyze(entry: string, host: SourceHost, set: string[]): Analysis {
  const result = compile(entry, host, { set });
  const index = new SymbolIndex(result.files, host.resolve);
  const overrides = parseSet(set, new Reporter());
  const config = evaluateConfig(result.files, overrides, new Reporter()).values;
  const instances = new Map<string, ModuleInst[]>();
  if (result.root) {
    for (const m of walk(result.root)) {
      const key = declKey(m.range);
      const list = instances.get(key);
      if (list) list.push(m);
      else instances.set(key, [m]);
    }
  }
  return { entry, result, index, config, setNames: new Set(overrides.keys()), instances, files: new Set(result.texts.keys()) };
}

/** The key of a declaration's range in `Analysis.instances`. */
export function declKey(range: SourceRange): string {
  return `${range.file}\u0000${range.start.offset}`;
}
