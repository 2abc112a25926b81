// Constants of the language at compile time: the config, block parameters and method settings.
// Their own file (values.ts adds tensors and modules) so that the evaluator and the module tree,
// which only read constants, do not import the module values built from them.

export type Const =
  | { kind: 'num'; v: number }
  | { kind: 'bool'; v: boolean }
  | { kind: 'str'; v: string }
  /** A bare identifier used as an option (`layout = in_out`, `activation = relu`). */
  | { kind: 'sym'; name: string }
  | { kind: 'list'; items: Const[] }
  /** A setting written as a call: `mlp(hidden = 512)`, `text("…")`. */
  | { kind: 'ctor'; name: string; args: Const[]; named: Map<string, Const> };

export function num(v: number): Const {
  return { kind: 'num', v };
}

/** A constant in words, for diagnostics (`found the number 3`). */
export function describeConst(c: Const): string {
  switch (c.kind) {
    case 'num':
      return `the number ${c.v}`;
    case 'bool':
      return `the boolean ${c.v}`;
    case 'str':
      return `the string "${c.v}"`;
    case 'sym':
      return `the option \`${c.name}\``;
    case 'list':
      return 'a list';
    case 'ctor':
      return `\`${c.name}(…)\``;
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
