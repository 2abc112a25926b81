// Unrolled vector code: a vector of n values of T (a head of attention, a row of a tile) lives in
// n named variables (q0 … q15 for hd = 64) instead of a private array, so that it stays in
// registers (private arrays indexed in loops are much slower on SwiftShader; the figure is in
// docs/webgpu-kernels.md, "Attention kernel tuning"). These helpers write the statements and
// expressions over such named vectors; any generator may use them.

/** The names prefix0 … prefix{n−1}. */
export const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, c) => `${prefix}${c}`);

/** A balanced sum of terms (shorter dependency chains than a left fold). */
export function treeSum(terms: string[]): string {
  if (terms.length === 1) return terms[0]!;
  const mid = Math.ceil(terms.length / 2);
  return `(${treeSum(terms.slice(0, mid))} + ${treeSum(terms.slice(mid))})`;
}

/** A balanced max of terms. */
export const maxOf = (xs: string[]): string => (xs.length === 1 ? xs[0]! : `max(${maxOf(xs.slice(0, Math.ceil(xs.length / 2)))}, ${maxOf(xs.slice(Math.ceil(xs.length / 2)))})`);

/** buf[base + c] (buf[base] for c = 0). */
export const at = (buf: string, base: string, c: number): string => `${buf}[${base}${c ? ` + ${c}u` : ''}]`;

/** `let p0 = buf[base]; …` (or `var`). */
export const loadVec = (kw: 'let' | 'var', prefix: string, buf: string, base: string, n: number): string =>
  names(prefix, n).map((x, c) => `${kw} ${x} = ${at(buf, base, c)};`).join(' ');

/** The dot product (WGSL `dot4`, which the kernel defines for its T) of the register vector `prefix` with buf[base …]. */
export const dotVec = (prefix: string, buf: string, base: string, n: number): string =>
  treeSum(names(prefix, n).map((x, c) => `dot4(${x}, ${at(buf, base, c)})`));

/** The dot product of buf1[base …] and buf2[base …]. */
export const dotBufs = (buf1: string, buf2: string, base: string, n: number): string =>
  treeSum(Array.from({ length: n }, (_, c) => `dot4(${at(buf1, base, c)}, ${at(buf2, base, c)})`));

/** One statement per component, `f(c)` giving it. */
export const each = (n: number, f: (c: number) => string): string => Array.from({ length: n }, (_, c) => f(c)).join(' ');

/** `vec4<f32>(f(0), f(1), f(2), f(3))`: four lanes written out (a matmul block's row or column). */
export const vec4Of = (f: (c: number) => string): string => `vec4<f32>(${[0, 1, 2, 3].map(f).join(', ')})`;
