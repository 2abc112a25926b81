// The icicle layout of the partition page: modules as nested bands whose height is
// proportional to their parameter count (honestly: no band is stretched), one column per
// depth, tensors as the leaves. Consecutive identical layers are one band (`h.0–11 ×12`)
// whose children are totals over the layers, so the repeated structure is drawn once, large
// enough to read. Trainable tensors too small to label at true scale go to a magnified
// inset beside the icicle, all at one stated magnification.
// Pure (no DOM), so it runs in the page and in tests alike.
import type { MethodKey, VizNode, VizParam } from '../tree.ts';
import { layerRuns, structureSignature, type Run } from '../runs.ts';

/** One band of the icicle: a module (or a run of identical layers), or one of its tensors. */
export interface Cell {
  id: string;
  name: string;
  depth: number;
  /** The module it stands for; for a run of layers, the first. */
  node?: VizNode;
  param?: VizParam;
  /** How many identical copies the band stands for (a run of layers: 12). */
  times: number;
  parent?: Cell;
  children: Cell[];
  /** Parameters shown under the current mode (all, or trainable only). */
  value: number;
  /** Of which trained by a PEFT method (not a full fine-tune), by method. */
  hot: number;
  y0: number;
  y1: number;
}

export interface CellIndex {
  root: Cell;
  byId: Map<string, Cell>;
  /** Every module and tensor path (`h.5.attn.c_attn`, `h.5.attn.c_attn.lora_A.weight#`) → its band. */
  byPath: Map<string, Cell>;
}

/**
 * Modules become cells; a module's own tensors come first among its children. The layers of
 * a repeat become runs of identical layers, one band each (`h.0`, `h.1`, `h.2–11`); a repeat
 * that is one run is that band in its place. Ids are display paths (`h.0–11.attn.c_attn`).
 */
export function cellsOf(tree: VizNode): CellIndex {
  const byId = new Map<string, Cell>();
  const byPath = new Map<string, Cell>();
  const sig = structureSignature();
  const join = (parent: Cell | undefined, name: string) => (parent && parent.depth >= 0 && parent.id !== ROOT ? `${parent.id}.${name}` : name);
  // `copies` are the modules the band stands for: the layers of a run, and their parts.
  const visit = (copies: VizNode[], name: string, depth: number, times: number, parent?: Cell, id?: string): Cell => {
    const n = copies[0]!;
    const c: Cell = { id: id ?? (parent ? join(parent, name) : ROOT), name, depth, times, node: n, children: [], value: 0, hot: 0, y0: 0, y1: 0 };
    if (parent) c.parent = parent;
    byId.set(c.id, c);
    for (const m of copies) byPath.set(m.path, c);
    n.params.forEach((p, i) => {
      const tag = p.adapter ? `${p.adapter}:` : '';
      const leaf: Cell = { id: `${c.id === ROOT ? '' : `${c.id}.`}${tag}${p.name}#`, name: p.name, depth: depth + 1, times, param: p, parent: c, children: [], value: 0, hot: 0, y0: 0, y1: 0 };
      byId.set(leaf.id, leaf);
      for (const m of copies) byPath.set(paramKey(m.params[i]!), leaf);
      c.children.push(leaf);
    });
    // A run's id is its repeat's, with the range: `h.2–11`, also inside the repeat's band `h`.
    const run = (rep: VizNode, rc: VizNode[], r: Run, inRepeat: boolean) => {
      const last = r.index + r.members.length - 1;
      const name = `${rep.name}.${r.members.length > 1 ? `${r.index}–${last}` : r.index}`;
      const members = rc.flatMap((m) => m.children.slice(r.index, last + 1));
      return visit(members, name, depth + 1, times * r.members.length, c, inRepeat ? `${c.id}${name.slice(rep.name.length)}` : undefined);
    };
    if (n.repeat !== undefined) {
      for (const r of layerRuns(n.children, sig)) c.children.push(run(n, copies, r, true));
      return c;
    }
    n.children.forEach((k, i) => {
      const kc = copies.map((m) => m.children[i]!);
      const runs = k.repeat !== undefined && k.children.length > 1 ? layerRuns(k.children, sig) : [];
      if (runs.length !== 1) return c.children.push(visit(kc, k.name, depth + 1, times, c));
      const band = run(k, kc, runs[0]!, false);
      for (const m of kc) byPath.set(m.path, band);
      c.children.push(band);
    });
    return c;
  };
  return { root: visit([tree], tree.name, 0, 1), byId, byPath };
}

const ROOT = '(model)';

/** The key of a tensor in `CellIndex.byPath`: its path, its adapter's name first where it has one. */
export function paramKey(p: VizParam): string {
  return `${p.adapter ? `${p.adapter}:` : ''}${p.path}#`;
}

/** Whether a tensor counts as trained by a PEFT method (the parts the page must show). */
export function isHot(p: VizParam): boolean {
  return p.method !== 'frozen' && p.method !== 'full';
}

/** Sets `value` and `hot` of every cell: all parameters, or the trainable ones only. */
export function measure(c: Cell, trainableOnly: boolean): void {
  if (c.param) {
    const n = c.param.count * c.times;
    c.value = !trainableOnly || c.param.partition === 'trainable' ? n : 0;
    c.hot = isHot(c.param) ? c.value : 0;
    return;
  }
  c.value = 0;
  c.hot = 0;
  for (const k of c.children) {
    measure(k, trainableOnly);
    c.value += k.value;
    c.hot += k.hot;
  }
}

/** Lays `root` out over [y0, y1) in proportion to the values; returns the cells with a positive value, in pre-order. */
export function layout(root: Cell, y0: number, y1: number, trainableOnly = false): Cell[] {
  measure(root, trainableOnly);
  const out: Cell[] = [];
  const place = (c: Cell, a: number, b: number) => {
    c.y0 = a;
    c.y1 = b;
    out.push(c);
    let y = a;
    for (const k of c.children) {
      if (k.value <= 0) continue;
      const h = ((b - a) * k.value) / c.value;
      place(k, y, y + h);
      y += h;
    }
  };
  if (root.value > 0) place(root, y0, y1);
  return out;
}

/** Depth of the deepest cell below `c` with a positive value, counted from `c` (0 for a leaf). */
export function depthBelow(c: Cell): number {
  let d = 0;
  for (const k of c.children) if (k.value > 0) d = Math.max(d, 1 + depthBelow(k));
  return d;
}

// ── The magnified inset ─────────────────────────────────────────────────────────────

export interface InsetBand {
  cell: Cell;
  y0: number;
  y1: number;
  /** Given the minimum height to carry its label: larger than the inset's magnification. */
  enlarged: boolean;
}

export interface Inset {
  bands: InsetBand[];
  /** How many times larger than in the icicle the bands not enlarged are drawn. */
  magnification: number;
}

export interface InsetOptions {
  /** A band needs this many pixels to carry its label. */
  minBand: number;
  /** Room for the inset. */
  height: number;
  /** At most this much room per band, so that two bands do not fill the whole height. */
  maxPerBand: number;
  gap: number;
}

export const INSET: InsetOptions = { minBand: 20, height: 560, maxPerBand: 64, gap: 3 };

/**
 * The trainable tensors (of a PEFT method) whose band in the laid-out icicle is too small to
 * label, drawn again in an inset at one magnification: sizes stay in proportion to each other.
 * Only a band that would still be below the label height is enlarged to it, and says so.
 */
export function inset(cells: readonly Cell[], o: InsetOptions = INSET): Inset | undefined {
  const small = cells.filter((c) => c.param && c.hot > 0 && c.y1 - c.y0 < o.minBand);
  if (!small.length) return undefined;
  const room = Math.min(o.height, small.length * o.maxPerBand) - o.gap * (small.length - 1);
  const honest = small.map((c) => Math.max(c.y1 - c.y0, 1e-9));
  const heights = allocate(room, honest, small.map(() => o.minBand));
  const ratios = heights.map((h, i) => h / honest[i]!);
  // The bands left in proportion share the smallest ratio; the enlarged ones have more.
  const magnification = Math.min(...ratios);
  let y = 0;
  const bands = small.map((cell, i) => {
    const band = { cell, y0: y, y1: y + heights[i]!, enlarged: ratios[i]! > magnification * 1.001 };
    y += heights[i]! + o.gap;
    return band;
  });
  return { bands, magnification };
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

/** The method colouring a module: the one that trains most of it, if it trains at all. */
export function mainMethod(byMethod: Partial<Record<MethodKey, number>>, keys: readonly MethodKey[]): MethodKey | undefined {
  let best: MethodKey | undefined;
  for (const k of keys) if (k !== 'frozen' && (byMethod[k] ?? 0) > (best ? byMethod[best]! : 0)) best = k;
  return best;
}
