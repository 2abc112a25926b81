// What every part of the page reads: the embedded data, the methods present and the bands.
import { METHOD_KEYS, type MethodKey } from '../tree.ts';
import type { PageData } from './data.ts';
import { byId } from './dom.ts';
import { cellsOf } from './layout.ts';

export const data = JSON.parse(byId('peftc-data').textContent ?? '{}') as PageData;
export const present: MethodKey[] = METHOD_KEYS.filter((k) => (data.tree.byMethod[k] ?? 0) > 0);
export const cells = cellsOf(data.tree);
export const total = data.totals.total;
