// Values of the language at compile time: constants (config, block parameters,
// method settings) and, inside forward bodies, tensors and modules.
import type { SourceRange } from '../grammar/diagnostics.ts';
import type { ModuleInst } from './modules.ts';

export type Const =
  | { kind: 'num'; v: number }
  | { kind: 'bool'; v: boolean }
  | { kind: 'str'; v: string }
  /** A bare identifier used as an option (`layout = in_out`, `activation = relu`). */
  | { kind: 'sym'; name: string }
  | { kind: 'list'; items: Const[] }
  /** A setting written as a call: `mlp(hidden = 512)`, `text("…")`. */
  | { kind: 'ctor'; name: string; args: Const[]; named: Map<string, Const> };

export type Value =
  | Const
  | { kind: 'tensor'; id: number; src: SourceRange }
  | { kind: 'tuple'; items: Value[] }
  | { kind: 'module'; inst: ModuleInst }
  /** The result of an expression that already reported an error; absorbs further errors. */
  | { kind: 'poison' };

export const POISON: Value = { kind: 'poison' };

export function num(v: number): Const {
  return { kind: 'num', v };
}

export function describe(v: Value): string {
  switch (v.kind) {
    case 'num':
      return `the number ${v.v}`;
    case 'bool':
      return `the boolean ${v.v}`;
    case 'str':
      return `the string "${v.v}"`;
    case 'sym':
      return `the option \`${v.name}\``;
    case 'list':
      return 'a list';
    case 'ctor':
      return `\`${v.name}(…)\``;
    case 'tensor':
      return 'a tensor';
    case 'tuple':
      return `${v.items.length} values`;
    case 'module':
      return `the module \`${v.inst.path || v.inst.name}\``;
    case 'poison':
      return 'an invalid value';
  }
}

export function formatConst(c: Const): string {
  switch (c.kind) {
    case 'num':
      return String(c.v);
    case 'bool':
      return String(c.v);
    case 'str':
      return JSON.stringify(c.v);
    case 'sym':
      return c.name;
    case 'list':
      return `[${c.items.map(formatConst).join(', ')}]`;
    case 'ctor': {
      const parts = [...c.args.map(formatConst), ...[...c.named].map(([k, v]) => `${k} = ${formatConst(v)}`)];
      return `${c.name}(${parts.join(', ')})`;
    }
  }
}
