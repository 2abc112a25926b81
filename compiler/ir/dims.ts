// Symbolic dimensions: a number, or an affine expression over B and T such as
// "B", "T", "T+20". Kept as canonical strings so shapes print and compare simply.
import type { Dim, Shape } from './types.ts';

export type DimEnv = Record<string, number>;

interface Affine {
  sym: string | null;
  add: number;
}

function toAffine(d: Dim): Affine | null {
  if (typeof d === 'number') return { sym: null, add: d };
  const m = /^([A-Za-z_]\w*)(?:\+(\d+))?$/.exec(d);
  if (!m) return null;
  return { sym: m[1]!, add: m[2] ? Number(m[2]) : 0 };
}

function fromAffine(a: Affine): Dim {
  if (a.sym === null) return a.add;
  return a.add === 0 ? a.sym : `${a.sym}+${a.add}`;
}

/** `d + n`, e.g. addDim("T", 20) = "T+20". Returns null if the sum is not affine in one symbol. */
export function addDims(a: Dim, b: Dim): Dim | null {
  const x = toAffine(a);
  const y = toAffine(b);
  if (!x || !y) return null;
  if (x.sym && y.sym) return null;
  return fromAffine({ sym: x.sym ?? y.sym, add: x.add + y.add });
}

export function dimEq(a: Dim, b: Dim): boolean {
  return String(a) === String(b);
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimEq(d, b[i]!));
}

export function evalDim(d: Dim, env: DimEnv): number {
  const a = toAffine(d);
  if (!a) throw new Error(`malformed dimension ${d}`);
  if (a.sym === null) return a.add;
  const v = env[a.sym];
  if (v === undefined) throw new Error(`dimension ${d} needs a value for ${a.sym}`);
  return v + a.add;
}

export function evalShape(s: Shape, env: DimEnv): number[] {
  return s.map((d) => evalDim(d, env));
}

export function formatShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/** Product of the dimensions if all are concrete, else null. */
export function numel(s: readonly Dim[]): number | null {
  let n = 1;
  for (const d of s) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}
