// Builtins as their users write them: `Linear(in, out, bias = true, layout = out_in)`.
import type { ParamSpec } from '../../compiler/evaluate.ts';
import { FUNCTIONS } from '../../compiler/functions.ts';
import { isLayer, LAYERS } from '../../compiler/layers.ts';
import { isMethod, METHODS } from '../../compiler/peft/methods.ts';
import { formatConst, type Const } from '../../compiler/values.ts';
import { METHOD_DOCS } from './method-docs.ts';

export interface Builtin {
  signature: string;
  doc: string;
  /** The names of its arguments or settings, for completion after `name(`. */
  params: string[];
}

const MODULE_BUILTINS: Record<string, Builtin> = {
  repeat: { signature: 'repeat(n, Block(…))', doc: '`n` copies of a module, numbered `0 … n-1` in their paths (`h.0`, `h.1`, …).', params: [] },
  Tied: { signature: 'Tied(embedding)', doc: 'An output projection that reuses an `Embedding` member\'s table (no parameters of its own).', params: [] },
};

export function layerBuiltin(name: string): Builtin | undefined {
  if (Object.hasOwn(MODULE_BUILTINS, name)) return MODULE_BUILTINS[name];
  if (!isLayer(name)) return undefined;
  const spec = LAYERS[name];
  return { signature: signature(name, spec.args), doc: spec.doc, params: spec.args.map((a) => a.name) };
}

export function functionBuiltin(name: string): Builtin | undefined {
  if (!Object.hasOwn(FUNCTIONS, name)) return undefined;
  const spec = FUNCTIONS[name]!;
  // Function defaults are constants (numbers and flags).
  const params = spec.params.map((p) => (p.default ? `${p.name} = ${formatConst(p.default as Const)}` : p.name));
  return { signature: `${name}(${params.join(', ')})`, doc: spec.doc, params: spec.params.map((p) => p.name) };
}

export function methodBuiltin(name: string): Builtin | undefined {
  if (!isMethod(name)) return undefined;
  const args = METHODS[name].args;
  return { signature: signature(name, args), doc: METHOD_DOCS[name], params: args.map((a) => a.name) };
}

function signature(name: string, args: readonly ParamSpec[]): string {
  const parts = args.map((a) => {
    if (!a.default) return a.name;
    // lora's alpha defaults to the rank (NaN marks "not given").
    const v = a.default.kind === 'num' && Number.isNaN(a.default.v) ? 'rank' : formatConst(a.default);
    return `${a.name} = ${v}`;
  });
  return `${name}(${parts.join(', ')})`;
}
