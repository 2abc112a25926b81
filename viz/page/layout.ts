// The icicle layout of the partition page: modules as nested bands whose height is
// proportional to their parameter count, one column per depth, tensors as the leaves.
// Pure (no DOM), so it runs in the page and in tests alike.
//
// Tiny trainable parts (LoRA inside a 124M-parameter model is 0.02 px tall) would vanish,
// so with `enlarge` every tensor trained by a PEFT method gets at least `minTrainable`
// pixels and its frozen neighbours at least `minSibling`, taken from their larger siblings:
// sizes stay proportional everywhere else.
import type { MethodKey, VizNode, VizParam } from '../tree.ts';

/** One band of the icicle: a module, or one of its tensors (a leaf). */
export interface Cell {
  id: string;
  name: string;
  depth: number;
  node?: VizNode;
  param?: VizParam;
  parent?: Cell;
  children: Cell[];
  /** Parameters shown under the current filter. */
  value: number;
  /** Of which trained by a PEFT method (not a full fine-tune). */
  hot: number;
  /** Height the band needs so that its small trainable parts stay visible. */
  need: number;
  y0: number;
  y1: number;
  /** Taller than its share because of enlargement. */
  enlarged: boolean;
}

/** Modules become cells; a module's own tensors come first among its children. */
export function cellsOf(n: VizNode, depth = 0, parent?: Cell): Cell {
  const cell: Cell = { id: n.path || '(model)', name: n.name, depth, node: n, children: [], value: 0, hot: 0, need: 0, y0: 0, y1: 0, enlarged: false };
  if (parent) cell.parent = parent;
  for (const p of n.params) {
    cell.children.push({ id: `${p.path}#`, name: p.name, depth: depth + 1, param: p, parent: cell, children: [], value: 0, hot: 0, need: 0, y0: 0, y1: 0, enlarged: false });
  }
  for (const c of n.children) cell.children.push(cellsOf(c, depth + 1, cell));
  return cell;
}

export interface LayoutOptions {
  /** Methods shown; tensors of other methods count as zero. */
  visible: ReadonlySet<MethodKey>;
  enlarge: boolean;
  minTrainable: number;
  minSibling: number;
}

export const DEFAULT_LAYOUT: Omit<LayoutOptions, 'visible'> = { enlarge: true, minTrainable: 4, minSibling: 1 };

/** Sets `value` and `hot` of every cell under the filter. */
export function measure(c: Cell, visible: ReadonlySet<MethodKey>): void {
  if (c.param) {
    const shown = visible.has(c.param.method);
    c.value = shown ? c.param.count : 0;
    c.hot = shown && c.param.method !== 'frozen' && c.param.method !== 'full' ? c.param.count : 0;
    return;
  }
  c.value = 0;
  c.hot = 0;
  for (const k of c.children) {
    measure(k, visible);
    c.value += k.value;
    c.hot += k.hot;
  }
}

/**
 * Sets `need` bottom-up. Only the children of a band holding PEFT-trained tensors get
 * minimums (`active`); inside a frozen band everything stays proportional. The trained
 * tensors of one module share one minimum (`share` of it each), so a module with four
 * adapter tensors needs no more room than one with a single prompt table.
 */
function needs(c: Cell, parentHot: boolean, o: LayoutOptions, active = true, share = 1): number {
  const on = active && o.enlarge && c.value > 0;
  const hotInner = on && c.hot > 0 && !c.param;
  const hotLeaf = (k: Cell) => !!k.param && k.hot > 0;
  const hotLeaves = hotInner ? c.children.filter(hotLeaf).length : 0;
  const sum = c.children.reduce((a, k) => a + needs(k, hotInner, o, hotInner, hotLeaf(k) ? 1 / hotLeaves : 1), 0);
  let need = 0;
  if (on && c.hot > 0) need = c.param ? o.minTrainable * share : Math.max(o.minTrainable, sum);
  else if (on && parentHot) need = o.minSibling;
  c.need = need;
  return need;
}

/**
 * Splits `extent` among `values` in proportion, except that item i gets at least
 * `mins[i]`; the others shrink in proportion to make room. When the minimums
 * alone do not fit, they are scaled down to fit.
 */
export function allocate(extent: number, values: readonly number[], mins: readonly number[]): number[] {
  const totalMin = mins.reduce((a, b) => a + b, 0);
  if (totalMin >= extent && totalMin > 0) return mins.map((m) => (m * extent) / totalMin);
  const clamped = values.map(() => false);
  for (;;) {
    let rest = extent;
    let free = 0;
    values.forEach((v, i) => (clamped[i] ? (rest -= mins[i]!) : (free += v)));
    const sizes = values.map((v, i) => (clamped[i] ? mins[i]! : free > 0 ? (rest * v) / free : 0));
    const low = sizes.findIndex((s, i) => !clamped[i] && s < mins[i]!);
    if (low < 0) return sizes;
    // Clamp every item below its minimum at once: each round clamps at least one.
    sizes.forEach((s, i) => {
      if (!clamped[i] && s < mins[i]!) clamped[i] = true;
    });
  }
}

/** Lays `root` out over [y0, y1); returns the cells with a positive value, in pre-order. */
export function layout(root: Cell, y0: number, y1: number, o: LayoutOptions): Cell[] {
  measure(root, o.visible);
  needs(root, false, o);
  const out: Cell[] = [];
  const place = (c: Cell, a: number, b: number) => {
    c.y0 = a;
    c.y1 = b;
    out.push(c);
    const kids = c.children.filter((k) => k.value > 0);
    const sizes = allocate(b - a, kids.map((k) => k.value), kids.map((k) => k.need));
    let y = a;
    kids.forEach((k, i) => {
      const h = sizes[i]!;
      k.enlarged = h > 1.5 * ((b - a) * k.value) / c.value + 1;
      place(k, y, y + h);
      y += h;
    });
  };
  root.enlarged = false;
  if (root.value > 0) place(root, y0, y1);
  return out;
}

/** The height the icicle needs at the top level for every enlarged part to fit. */
export function neededHeight(root: Cell, o: LayoutOptions): number {
  measure(root, o.visible);
  return needs(root, false, o);
}

/** Depth of the deepest cell below `c`, counted from `c` (0 for a leaf). */
export function depthBelow(c: Cell, visibleOnly = true): number {
  let d = 0;
  for (const k of c.children) if (!visibleOnly || k.value > 0) d = Math.max(d, 1 + depthBelow(k, visibleOnly));
  return d;
}
