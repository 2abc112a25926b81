// Small pieces of the page: method badges, colour swatches, settings chips.
import { METHOD_LABELS, type AppliedMethod, type MethodKey } from '../tree.ts';
import { COLORS } from './data.ts';
import { h } from './dom.ts';

export function badge(k: MethodKey, text = METHOD_LABELS[k]): HTMLElement {
  const c = COLORS[k];
  return h('span', { class: 'badge', style: `background:${c.fill};color:${c.text}` }, text);
}

export function swatch(k: MethodKey): HTMLElement {
  return h('span', { class: 'swatch', style: `background:${COLORS[k].fill}`, 'aria-hidden': 'true' });
}

export function settingsChips(m: AppliedMethod): HTMLElement {
  return h('span', { class: 'settings' }, ...Object.entries(m.settings).map(([k, v]) => h('span', { class: 'chip' }, h('span', { class: 'k' }, k), '=', String(v))));
}

/** `124,734,720` → `124.7M`: for labels inside bands, where room is short. */
export function compactCount(n: number): string {
  if (n < 1e4) return n.toLocaleString('en-US');
  const [d, s] = n >= 1e9 ? [1e9, 'G'] : n >= 1e6 ? [1e6, 'M'] : [1e3, 'k'];
  const v = n / (d as number);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)}${s}`;
}
