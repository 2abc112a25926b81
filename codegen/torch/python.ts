// Python source text: literals and attribute paths, the small pieces every generated file uses.

const KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(' '),
);

/** A number, string or boolean as a Python literal. */
export function pyLiteral(v: number | string | boolean): string {
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Number.isNaN(v)) return "float('nan')";
  if (!Number.isFinite(v)) return v > 0 ? "float('inf')" : "float('-inf')";
  return String(v);
}

/** A float literal (`2.0`, not `2`, so that the reader sees a scale, not an index). */
export function pyFloat(v: number): string {
  const s = pyLiteral(v);
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

export function pyTuple(xs: readonly (number | string)[]): string {
  return xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(', ')})`;
}

export function isIdentifier(s: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !KEYWORDS.has(s);
}

/**
 * `self.h[0].attn.c_attn.weight` for the parameter path `h.0.attn.c_attn.weight`: numeric parts
 * index a ModuleList; a path with a part Python cannot spell falls back to get_parameter.
 */
export function attrPath(root: string, path: string): string {
  const parts = path.split('.');
  if (!parts.every((p) => /^\d+$/.test(p) || isIdentifier(p))) return `${root}.get_parameter(${JSON.stringify(path)})`;
  return root + parts.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
}

/** A Python variable name from a scope and an op (`c_attn_linear`), made unique by `taken`. */
export function varName(scope: string, op: string, taken: Map<string, number>): string {
  const last = scope.split('.').pop() ?? '';
  const stem = (last && !/^\d+$/.test(last) ? `${last}_${op}` : op).replace(/[^A-Za-z0-9_]/g, '_');
  const base = isIdentifier(stem) ? stem : `v_${stem}`;
  const n = (taken.get(base) ?? 0) + 1;
  taken.set(base, n);
  return n === 1 ? base : `${base}_${n}`;
}
