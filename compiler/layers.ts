// Builtin layers: the modules with parameters that blocks are built from.
// Each declares its arguments, validates them and lists its parameters.
import type { InitRule } from './ir/types.ts';
import type { ParamSpec } from './evaluate.ts';
import type { Const } from './consts.ts';

export type LayerKind = 'Linear' | 'Embedding' | 'LayerNorm' | 'RMSNorm';

export interface ParamDecl {
  /** Local name (`weight`, `bias`). */
  name: string;
  shape: number[];
  init: InitRule;
}

export interface LayerSpec {
  args: ParamSpec[];
  /** Which arguments are sizes (positive integers). */
  sizes: string[];
  /** Allowed options for symbol-valued arguments. */
  options?: Record<string, string[]>;
  params(s: LayerSettings, initStd: number): ParamDecl[];
  doc: string;
}

export type LayerSettings = Record<string, number | boolean | string>;

const sym = (name: string): Const => ({ kind: 'sym', name });
const bool = (v: boolean): Const => ({ kind: 'bool', v });
const num = (v: number): Const => ({ kind: 'num', v });

export const LAYERS: Record<LayerKind, LayerSpec> = {
  Linear: {
    args: [{ name: 'in' }, { name: 'out' }, { name: 'bias', default: bool(true) }, { name: 'layout', default: sym('out_in') }],
    sizes: ['in', 'out'],
    options: { layout: ['out_in', 'in_out'] },
    doc: 'y = x·W + b. layout out_in stores W as [out, in] (torch.nn.Linear); in_out as [in, out] (GPT-2 Conv1D).',
    params: (s, std) => {
      const shape = s.layout === 'in_out' ? [s.in as number, s.out as number] : [s.out as number, s.in as number];
      const ps: ParamDecl[] = [{ name: 'weight', shape, init: { kind: 'normal', std } }];
      if (s.bias) ps.push({ name: 'bias', shape: [s.out as number], init: { kind: 'zeros' } });
      return ps;
    },
  },
  Embedding: {
    args: [{ name: 'num' }, { name: 'dim' }],
    sizes: ['num', 'dim'],
    doc: 'A lookup table [num, dim].',
    params: (s, std) => [{ name: 'weight', shape: [s.num as number, s.dim as number], init: { kind: 'normal', std } }],
  },
  LayerNorm: {
    args: [{ name: 'dim' }, { name: 'eps', default: num(1e-5) }, { name: 'affine', default: bool(true) }],
    sizes: ['dim'],
    doc: 'Layer normalisation over the last axis with learned scale and shift.',
    params: (s) =>
      s.affine
        ? [
            { name: 'weight', shape: [s.dim as number], init: { kind: 'ones' } },
            { name: 'bias', shape: [s.dim as number], init: { kind: 'zeros' } },
          ]
        : [],
  },
  RMSNorm: {
    args: [{ name: 'dim' }, { name: 'eps', default: num(1e-6) }],
    sizes: ['dim'],
    doc: 'Root-mean-square normalisation over the last axis with a learned scale (LLaMA).',
    params: (s) => [{ name: 'weight', shape: [s.dim as number], init: { kind: 'ones' } }],
  },
};

export function isLayer(name: string): name is LayerKind {
  return Object.prototype.hasOwnProperty.call(LAYERS, name);
}
