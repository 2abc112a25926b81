// JSON as Python's `json.dumps(obj, indent=2, sort_keys=True)` writes it, which is how Hugging
// Face PEFT and the `adapters` library write adapter_config.json. Python keeps floats and ints
// apart (`1.0` vs `1`) and some readers depend on it (`adapters` rejects an int `scaling`), so a
// float is marked with `pyFloat(x)`; a plain JS number is written as an int when it is one.

export class PyFloat {
  constructor(readonly value: number) {}
}

export const pyFloat = (x: number): PyFloat => new PyFloat(x);

export type PyJson = null | boolean | number | string | PyFloat | PyJson[] | { [key: string]: PyJson };

/** Python's `repr(float)`: shortest round-trip digits; exponent form below 1e-4 and from 1e16. */
export function formatPyFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    const sign = exp < 0 ? '-' : '+';
    return `${mant}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = String(x);
  return fixed.includes('.') ? fixed : `${fixed}.0`;
}

function str(s: string): string {
  // Python escapes non-ASCII by default (ensure_ascii=True).
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function pyDumps(v: PyJson, indent = 2, level = 0): string {
  const pad = ' '.repeat(indent * (level + 1));
  const end = ' '.repeat(indent * level);
  if (v === null) return 'null';
  if (v instanceof PyFloat) return formatPyFloat(v.value);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : formatPyFloat(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => pad + pyDumps(x, indent, level + 1)).join(',\n')}\n${end}]`;
  }
  const keys = Object.keys(v).sort();
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${pad}${str(k)}: ${pyDumps(v[k]!, indent, level + 1)}`).join(',\n')}\n${end}}`;
}
