// Values of the language at compile time: constants (consts.ts: config, block parameters,
// method settings) and, inside forward bodies, tensors and modules.
import type { SourceRange } from '../grammar/diagnostics.ts';
import { type Const, describeConst } from './consts.ts';
import type { ModuleInst } from './modules.ts';

export { type Const, formatConst, num } from './consts.ts';

export type Value =
  | Const
  | { kind: 'tensor'; id: number; src: SourceRange }
  | { kind: 'tuple'; items: Value[] }
  | { kind: 'module'; inst: ModuleInst }
  /** The result of an expression that already reported an error; absorbs further errors. */
  | { kind: 'poison' };

export const POISON: Value = { kind: 'poison' };

export function describe(v: Value): string {
  switch (v.kind) {
    case 'tensor':
      return 'a tensor';
    case 'tuple':
      return `${v.items.length} values`;
    case 'module':
      return `the module \`${v.inst.path || v.inst.name}\``;
    case 'poison':
      return 'an invalid value';
    default:
      return describeConst(v);
  }
}
