// Number and text formats shared by the terminal tree and the HTML page.
import type { AppliedMethod } from './tree.ts';

/** `294912` → `294,912`. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** The trainable share of a module: `0%`, `<0.01%`, `0.24%`, `100%`. */
export function formatShare(part: number, total: number): string {
  if (part === 0 || total === 0) return '0%';
  const p = (100 * part) / total;
  if (p >= 100) return '100%';
  return p < 0.01 ? '<0.01%' : `${p.toFixed(2)}%`;
}

/** `1179648` → `1.1 MiB`: binary units, one decimal below 100. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** `lora(rank=8, alpha=16)`; `train` for a module trained as it is. */
export function methodNote(methods: readonly AppliedMethod[]): string {
  return methods
    .map((m) => {
      const s = Object.entries(m.settings).map(([k, v]) => `${k}=${v}`);
      return s.length ? `${m.name}(${s.join(', ')})` : m.name;
    })
    .join(' + ');
}

/** `[768, 2304]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.map(formatCount).join(', ')}]`;
}
