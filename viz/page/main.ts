// The partition page's script (bundled into the HTML by viz/html.ts). The first screen
// answers three questions: where the trainable parameters sit (a zoomable icicle of the
// module tree at true scale, with a magnified inset for the parts too small to label),
// what each method adds, and what it costs against a full fine-tune. Below: the details of
// the selected module, the list of trainable modules and the totals.
import { formatCount, formatShape, formatShare } from '../format.ts';
import { METHOD_LABELS, type VizNode } from '../tree.ts';
import { COLORS } from './data.ts';
import { cells, data, present, total } from './context.ts';
import { byId, fill, h } from './dom.ts';
import { depthBelow, inset, INSET, layout, mainMethod, paramKey, type Cell, type Inset } from './layout.ts';
import { comparePanel, details, header, statsPanel, trainableList, whatPanel } from './panels.ts';
import { compactCount, swatch } from './widgets.ts';

const MIN_HEIGHT = 420;
const MAX_HEIGHT = 760;
const MIN_COLUMN = 60;
const LABEL_MIN = 15;
const TWO_LINES_MIN = 32;
const THREE_LINES_MIN = 48;
const INSET_WIDTH = 250;
const CONNECTOR = 44;
const INSET_HEAD = 26;

const state = {
  view: cells.root,
  /** The selected band, and the module or tensor it was selected as (a list row names one layer of a run). */
  selected: undefined as { cell: Cell; node?: VizNode; label: string; times: number } | undefined,
  trainableOnly: false,
};
const elements = new Map<string, HTMLElement>();

// ── Controls ────────────────────────────────────────────────────────────────────────

function controls(): void {
  const legend = h('div', { class: 'legend', role: 'list' }, ...present.map((k) => h('span', { class: 'key', role: 'listitem' }, swatch(k), METHOD_LABELS[k])));
  const only = h('button', { type: 'button', class: 'btn', id: 'only-trainable', 'aria-pressed': 'false', onclick: () => {
    state.trainableOnly = !state.trainableOnly;
    only.classList.toggle('on', state.trainableOnly);
    only.setAttribute('aria-pressed', String(state.trainableOnly));
    render();
  } }, 'Trainable only');
  fill(
    byId('controls'),
    h('h2', {}, 'Where the trainable parameters sit'),
    legend,
    data.totals.trainable > 0 && data.totals.trainable < total ? only : null,
    h('p', { class: 'hint' }, 'Band height ∝ parameter count, to scale. Trainable parts too small to label are magnified in the inset on the right (hatched: enlarged further, to fit the label). Click a band to zoom; Esc zooms out.'),
  );
}

// ── The icicle ──────────────────────────────────────────────────────────────────────

const icicle = byId('icicle');
const canvas = h('div', { class: 'canvas' });
// The wedges are SVG written as markup: the HTML parser gives it SVG's namespace.
const svg = h('div', { class: 'connectors', 'aria-hidden': 'true' });
const insetBox = h('div', { class: 'inset', 'aria-label': 'Magnified trainable parts' });
canvas.append(svg, insetBox);
icicle.append(canvas);

/** Fills the screen below the icicle's top, within limits. */
function icicleHeight(): number {
  const top = icicle.getBoundingClientRect().top + window.scrollY;
  return Math.round(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, window.innerHeight - top - 28)));
}

/**
 * A module is tinted with its main method's colour only when that method trains at least half
 * of it; otherwise it is frozen grey, with a thin stripe of the method's colour marking the
 * path down to the trainable part.
 */
function cellColors(c: Cell): { bg: string; fg: string; stripe?: string } {
  if (c.param) return { bg: COLORS[c.param.method].fill, fg: COLORS[c.param.method].text };
  const n = c.node!;
  const main = mainMethod(n.byMethod, present);
  if (!main) return { bg: COLORS.frozen.tint, fg: '#1b1f24' };
  const share = n.trainable / Math.max(1, n.count);
  return { bg: share >= 0.5 ? COLORS[main].tint : COLORS.frozen.tint, fg: '#1b1f24', stripe: COLORS[main].fill };
}

function render(): void {
  const H = icicleHeight();
  const view = state.view;
  const laid = layout(view, 0, H, state.trainableOnly);
  const ins = inset(laid, { ...INSET, height: H - INSET_HEAD });
  const width = Math.max(icicle.clientWidth, (depthBelow(view) + 1) * MIN_COLUMN + (ins ? INSET_WIDTH + CONNECTOR : 0));
  const treeWidth = width - (ins ? INSET_WIDTH + CONNECTOR : 0);
  const col = treeWidth / (depthBelow(view) + 1);
  canvas.style.height = `${H}px`;
  canvas.style.width = `${width}px`;
  const seen = new Set<string>();
  for (const c of laid) {
    const height = c.y1 - c.y0;
    // A trainable sliver keeps 1 px so that its inset connector starts somewhere visible.
    if (height < 0.35 && !(c.param && c.hot > 0)) continue;
    seen.add(c.id);
    const el = band(c);
    const left = (c.depth - view.depth) * col;
    const colors = cellColors(c);
    el.style.cssText = `top:${c.y0}px;height:${Math.max(1, height)}px;left:${left}px;width:${c.param ? treeWidth - left : col}px;background-color:${colors.bg};color:${colors.fg};${colors.stripe ? `box-shadow:inset 3px 0 0 ${colors.stripe}` : ''}`;
    el.classList.toggle('selected', c === state.selected?.cell);
    el.classList.toggle('view-root', c === view);
    const key = `${c.value}|${height >= LABEL_MIN}|${height >= TWO_LINES_MIN}|${col}`;
    if (el.dataset.key !== key) {
      el.dataset.key = key;
      fillLabel(el, c, height);
    }
  }
  for (const [id, el] of elements) {
    if (!seen.has(id)) {
      el.remove();
      elements.delete(id);
    }
  }
  drawInset(ins, treeWidth);
  icicle.classList.toggle('empty', laid.length === 0);
  crumbs();
}

function band(c: Cell): HTMLElement {
  let el = elements.get(c.id);
  if (!el) {
    const share = c.node && !c.param ? String(c.node.trainable / Math.max(1, c.node.count)) : undefined;
    el = h('div', { class: c.param ? 'cell leaf' : 'cell', 'data-id': c.id, 'data-trainable': c.param ? String(c.param.partition === 'trainable') : undefined, 'data-share': share });
    canvas.append(el);
    elements.set(c.id, el);
  }
  return el;
}

function nameOf(c: Cell): string {
  const x = c.times > 1 ? ` ×${c.times}` : '';
  return c.param ? `${c.param.adapter ? `${c.param.adapter}: ` : ''}${c.param.name}${x}` : `${c.name}${x}`;
}

/** The label, and a second line when there is room; a line that does not fit whole is left out. */
function fillLabel(el: HTMLElement, c: Cell, height: number): void {
  if (height < LABEL_MIN) return fill(el);
  const n = c.node;
  const trains = n && n.trainable > 0 && n.trainable < n.count ? `${formatShare(n.trainable, n.count)} trains` : '';
  const sub = c.param ? formatShape(c.param.shape) : `${compactCount(c.value)} · ${formatShare(c.value, total)}`;
  const lines = [height >= TWO_LINES_MIN ? h('span', { class: 'sub' }, sub) : null, trains && height >= THREE_LINES_MIN ? h('span', { class: 'sub trains' }, trains) : null];
  fill(el, h('span', { class: 'name' }, nameOf(c)), ...lines);
  for (const line of lines) if (line && line.scrollWidth > line.clientWidth + 0.5) line.remove();
}

/** The magnified inset: each small trainable tensor again, labelled, with a wedge from where it sits. */
function drawInset(ins: Inset | undefined, treeWidth: number): void {
  svg.replaceChildren();
  insetBox.hidden = !ins;
  if (!ins) return fill(insetBox);
  const x0 = treeWidth;
  const x1 = treeWidth + CONNECTOR;
  const wedges: string[] = [];
  insetBox.style.cssText = `left:${x1}px;width:${INSET_WIDTH}px`;
  const factor = ins.magnification >= 10 ? formatCount(Math.floor(ins.magnification)) : ins.magnification.toFixed(1);
  const head = h('div', { class: 'inset-head', title: 'Hatched bands are enlarged further, to the height of their label' }, `Magnified ×${factor}`);
  const owners = ownerNames(ins.bands.map((b) => b.cell));
  const bands = ins.bands.map((b) => {
    const p = b.cell.param!;
    const c = COLORS[p.method];
    const y0 = INSET_HEAD + b.y0;
    const y1 = INSET_HEAD + b.y1;
    const a0 = b.cell.y0;
    const a1 = Math.max(b.cell.y1, b.cell.y0 + 1);
    wedges.push(`<polygon points="${x0},${a0} ${x0},${a1} ${x1},${y1} ${x1},${y0}" fill="${c.fill}" fill-opacity="0.22"/>`);
    const sub = `${formatCount(b.cell.value)} · ${formatShape(p.shape)}${b.cell.times > 1 ? ` ×${b.cell.times}` : ''}`;
    return h(
      'div',
      { class: `inset-band${b.enlarged ? ' enlarged' : ''}`, 'data-id': b.cell.id, style: `top:${b.y0 + INSET_HEAD}px;height:${b.y1 - b.y0}px;background-color:${c.fill};color:${c.text}`, title: `${b.cell.parent?.id ?? ''}.${p.name}` },
      h('span', { class: 'name' }, `${owners.get(b.cell)}${nameOf(b.cell)}`),
      b.y1 - b.y0 >= TWO_LINES_MIN ? h('span', { class: 'sub' }, sub) : h('span', { class: 'count' }, ` ${compactCount(b.cell.value)}`),
    );
  });
  fill(insetBox, head, ...bands);
  svg.innerHTML = `<svg width="${x1}" height="${canvas.style.height.replace('px', '')}">${wedges.join('')}</svg>`;
  for (const el of insetBox.querySelectorAll<HTMLElement>('.inset-band')) el.classList.toggle('selected', el.dataset.id === state.selected?.cell.id);
}

/**
 * `c_attn.`: the module each inset tensor belongs to. Where two tensors would read the same,
 * the first part of their paths that differs goes in front: `attention…adapter.`, `output…adapter.`.
 */
function ownerNames(list: readonly Cell[]): Map<Cell, string> {
  const segs = (c: Cell) => (c.parent && c.parent !== state.view ? relPath(c.parent) : []);
  const short = (c: Cell) => `${c.param?.adapter ?? ''}|${segs(c).slice(-1)[0] ?? ''}|${c.param?.name}`;
  const out = new Map<Cell, string>();
  for (const c of list) {
    const mine = segs(c);
    const last = mine.length ? `${mine[mine.length - 1]}.` : '';
    const twin = list.find((o) => o !== c && short(o) === short(c));
    if (!twin) {
      out.set(c, last);
      continue;
    }
    const theirs = segs(twin);
    const i = mine.findIndex((s, k) => s !== theirs[k]);
    out.set(c, i >= 0 && i < mine.length - 1 ? `${mine[i]}…${last}` : last);
  }
  return out;
}

/** The names of a band and its ancestors below the zoomed-in view (`h.2–11`, `attn`, `c_attn`). */
function relPath(c: Cell): string[] {
  const names: string[] = [];
  for (let x: Cell | undefined = c; x && x !== state.view; x = x.parent) names.unshift(x.name);
  return names;
}

function crumbs(): void {
  const chain: Cell[] = [];
  for (let c: Cell | undefined = state.view; c; c = c.parent) chain.unshift(c);
  const el = byId('crumbs');
  fill(el);
  chain.forEach((c, i) => {
    if (i) el.append(h('span', { class: 'sep', 'aria-hidden': 'true' }, '›'));
    const last = i === chain.length - 1;
    el.append(h('button', { type: 'button', class: 'crumb', 'aria-current': last ? 'true' : undefined, onclick: () => zoom(c) }, c.times > 1 ? `${c.name} ×${c.times}` : c.name));
  });
  el.append(h('span', { class: 'shown' }, `${formatCount(state.view.value)} parameters shown`));
}

function zoom(c: Cell): void {
  state.view = c.param ? c.parent! : c;
  render();
}

/** Selects a band and shows it in the details panel, where it stays until another is selected. */
function select(c: Cell, node?: VizNode, label?: string): void {
  const times = node ? 1 : c.times;
  state.selected = { cell: c, label: label ?? (c.param ? c.id.replace(/#$/, '') : c.id === '(model)' ? data.model : c.id), times, ...(node ? { node } : {}) };
  for (const [id, el] of elements) el.classList.toggle('selected', id === c.id);
  for (const el of insetBox.querySelectorAll<HTMLElement>('.inset-band')) el.classList.toggle('selected', el.dataset.id === c.id);
  showSelected();
}

function showSelected(): void {
  const s = state.selected;
  if (!s) return details(data.tree, undefined, data.model);
  if (s.cell.param) details(s.cell.parent?.node, s.cell.param, s.label, s.times);
  else details(s.node ?? s.cell.node, undefined, s.label, s.times);
}

/** A row of the trainable list: zoom so the module shows with its neighbours, and select it. */
function pick(n: VizNode): void {
  const c = cells.byPath.get(n.path);
  if (!c) return;
  state.view = c.parent ?? c;
  render();
  select(c, n, n.path || data.model);
  const el = elements.get(c.id);
  if (el) {
    el.classList.remove('flash');
    void el.offsetWidth;
    el.classList.add('flash');
  }
}

// ── Pointer: clicks zoom and select; hovering shows a tooltip, never replaces the details ─

function cellAt(target: EventTarget | null): Cell | undefined {
  const el = (target as Element | null)?.closest?.('.cell, .inset-band') as HTMLElement | null;
  return el ? cells.byId.get(el.dataset.id!) : undefined;
}

canvas.addEventListener('click', (e) => {
  const c = cellAt(e.target);
  if (!c) return;
  if (c.param) return select(c);
  if (c === state.view) {
    if (c.parent) zoom(c.parent);
    return select(c);
  }
  zoom(c);
  select(c);
});

const tip = byId('tip');
canvas.addEventListener('mousemove', (e) => {
  const c = cellAt(e.target);
  if (!c) {
    tip.hidden = true;
    return;
  }
  const p = c.param;
  const value = p ? p.count * c.times : c.value;
  fill(tip, h('strong', {}, nameOf(c)), h('div', {}, `${formatCount(value)} parameters · ${formatShare(value, total)} of the model`), p ? h('div', {}, `${formatShape(p.shape)} · ${METHOD_LABELS[p.method]}`) : c.node && c.node.trainable ? h('div', {}, `${formatShare(c.node.trainable, c.node.count)} trains`) : null);
  tip.hidden = false;
  tip.style.left = `${Math.min(e.clientX + 14, window.innerWidth - 300)}px`;
  tip.style.top = `${e.clientY + 14}px`;
});
canvas.addEventListener('mouseleave', () => (tip.hidden = true));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.view.parent) zoom(state.view.parent);
});
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(render, 100);
});

// ── Start ───────────────────────────────────────────────────────────────────────────

header();
controls();
whatPanel();
comparePanel();
trainableList(pick);
statsPanel();
render();
showSelected();
void paramKey;
document.documentElement.dataset.rendered = 'true';
(window as unknown as { peftcRenderedAt: number }).peftcRenderedAt = performance.now();
