// The partition page's script (bundled into the HTML by viz/html.ts): a zoomable icicle
// of the module tree coloured by what trains, filters by method, details of the module
// under the pointer, the list of trainable modules and the full fine-tune comparison.
import { formatBytes, formatCount, formatShape, formatShare } from '../format.ts';
import { METHOD_KEYS, METHOD_LABELS, type AppliedMethod, type FineTuneCosts, type MethodKey, type VizNode } from '../tree.ts';
import { COLORS, type PageData } from './data.ts';
import { byId, fill, h } from './dom.ts';
import { cellsOf, DEFAULT_LAYOUT, depthBelow, layout, neededHeight, type Cell, type LayoutOptions } from './layout.ts';

const BASE_HEIGHT = 640;
const MAX_HEIGHT = 2400;
const MAX_SCALE = 6;
const MIN_COLUMN = 96;
const LABEL_MIN = 15;
const TWO_LINES_MIN = 34;

const data = JSON.parse(byId('peftc-data').textContent ?? '{}') as PageData;
const root = cellsOf(data.tree);
const cellById = new Map<string, Cell>();
(function index(c: Cell) {
  cellById.set(c.id, c);
  c.children.forEach(index);
})(root);
const present = METHOD_KEYS.filter((k) => (data.tree.byMethod[k] ?? 0) > 0);
const total = data.totals.total;

const state = {
  view: root,
  selected: undefined as Cell | undefined,
  hover: undefined as Cell | undefined,
  visible: new Set<MethodKey>(present),
  enlarge: true,
};
const elements = new Map<string, HTMLDivElement>();

// ── Pieces of text ──────────────────────────────────────────────────────────────────

function badge(k: MethodKey, text = METHOD_LABELS[k]): HTMLElement {
  const c = COLORS[k];
  return h('span', { class: 'badge', style: `background:${c.fill};color:${c.text}` }, text);
}

function swatch(k: MethodKey): HTMLElement {
  return h('span', { class: 'swatch', style: `background:${COLORS[k].fill}`, 'aria-hidden': 'true' });
}

function settingsChips(m: AppliedMethod): HTMLElement {
  const entries = Object.entries(m.settings);
  return h('span', { class: 'settings' }, ...entries.map(([k, v]) => h('span', { class: 'chip' }, h('span', { class: 'k' }, k), '=', String(v))));
}

/** A bar of the trainable share, split by method; anything above zero shows at least 2 px. */
function shareBar(n: VizNode): HTMLElement {
  const bar = h('div', { class: 'sharebar', role: 'img', 'aria-label': `${formatShare(n.trainable, n.count)} trainable` });
  for (const k of present) {
    if (k === 'frozen' || !n.byMethod[k]) continue;
    const w = (100 * n.byMethod[k]!) / Math.max(1, n.count);
    bar.append(h('span', { style: `width:max(2px, ${w}%);background:${COLORS[k].fill}` }));
  }
  return bar;
}

function mainMethod(n: VizNode): MethodKey | undefined {
  let best: MethodKey | undefined;
  for (const k of present) if (k !== 'frozen' && (n.byMethod[k] ?? 0) > (best ? n.byMethod[best]! : 0)) best = k;
  return best;
}

function methodsOf(n: VizNode): MethodKey[] {
  return present.filter((k) => k !== 'frozen' && (n.byMethod[k] ?? 0) > 0);
}

// ── Header: totals and what trains ─────────────────────────────────────────────────

function header(): void {
  const t = data.totals;
  fill(
    byId('title'),
    h('span', { class: 'eyebrow' }, 'peftc · partitions'),
    h('h1', {}, data.model, data.file ? h('span', { class: 'file' }, data.file) : null, data.full ? h('span', { class: 'file' }, '--full') : null),
  );
  const card = (label: string, value: string, note: string, key?: MethodKey) =>
    h('div', { class: 'card' }, h('div', { class: 'label' }, key ? swatch(key) : null, label), h('div', { class: 'value', 'data-testid': `total-${label.toLowerCase().split(' ')[0]}` }, value), h('div', { class: 'note' }, note));
  const trainKey = mainMethod(data.tree) ?? 'full';
  fill(
    byId('stats'),
    card('Trainable', formatCount(t.trainable), `${formatShare(t.trainable, t.total)} of all parameters`, trainKey),
    card('Frozen', formatCount(t.frozen), `${formatShare(t.frozen, t.total)} · no gradients, no optimizer state`, 'frozen'),
    card('All parameters', formatCount(t.total), `${formatBytes(t.total * 4)} of fp32 weights`),
  );
  const hf = byId('hf');
  fill(hf, h('code', {}, data.summaryLine), data.keptLine ? h('code', {}, `after training (reparameterisation discarded): ${data.keptLine}`) : null);
  fill(byId('what'), ...whatTrains());
}

/** One line per method and settings: `LoRA rank=8 alpha=16 on 12 modules: h.0.attn.c_attn, …`. */
function whatTrains(): HTMLElement[] {
  const groups = new Map<string, { m: AppliedMethod; paths: string[] }>();
  const visit = (n: VizNode) => {
    for (const m of n.methods) {
      const key = `${m.name} ${JSON.stringify(m.settings)}`;
      const g = groups.get(key) ?? { m, paths: [] };
      g.paths.push(n.path);
      groups.set(key, g);
    }
    n.children.forEach(visit);
  };
  visit(data.tree);
  if (groups.size === 0) {
    return [h('p', { class: 'what' }, badge('full'), ' Every parameter trains: a full fine-tune.')];
  }
  return [...groups.values()].map(({ m, paths }) => {
    const shown = paths.length > 3 ? `${paths.slice(0, 2).join(', ')}, …, ${paths[paths.length - 1]}` : paths.join(', ');
    const where = `${paths.length} module${paths.length === 1 ? '' : 's'}${m.name === 'train' ? ' (train rule)' : ''}:`;
    return h('p', { class: 'what' }, badge(m.name), Object.keys(m.settings).length ? settingsChips(m) : null, h('span', { class: 'muted' }, where), h('code', { title: paths.join('\n') }, shown));
  });
}

// ── Controls: the legend is also the filter ─────────────────────────────────────────

function controls(): void {
  const legend = h('fieldset', { class: 'legend' }, h('legend', {}, 'Show'));
  for (const k of present) {
    const box = h('input', { type: 'checkbox', checked: true, 'data-method': k, onchange: (e: Event) => toggle(k, (e.target as HTMLInputElement).checked) });
    legend.append(h('label', { class: 'filter' }, box, swatch(k), METHOD_LABELS[k], h('span', { class: 'n' }, formatCount(data.tree.byMethod[k] ?? 0))));
  }
  const onlyTrainable = h('button', { type: 'button', class: 'btn', id: 'only-trainable', onclick: () => toggle('frozen', !state.visible.has('frozen')) }, 'Trainable only');
  const peft = present.some((k) => k !== 'frozen' && k !== 'full');
  const enlarge = !peft ? null : h('label', { class: 'filter' }, h('input', { type: 'checkbox', checked: true, id: 'enlarge', onchange: (e: Event) => ((state.enlarge = (e.target as HTMLInputElement).checked), render()) }), 'Enlarge small trainable parts');
  fill(
    byId('controls'),
    legend,
    h('div', { class: 'tools' }, present.includes('frozen') && present.length > 1 ? onlyTrainable : null, enlarge),
    h(
      'p',
      { class: 'hint' },
      'Height is proportional to parameter count. ',
      peft ? h('span', { class: 'hatch-sample', 'aria-hidden': 'true' }) : null,
      peft ? ' Hatched: enlarged so it stays visible, not to scale. ' : null,
      'Click a module to zoom in; click the leftmost band or press Esc to zoom out.',
    ),
  );
}

function toggle(k: MethodKey, on: boolean): void {
  if (on) state.visible.add(k);
  else state.visible.delete(k);
  const box = document.querySelector<HTMLInputElement>(`input[data-method="${k}"]`);
  if (box) box.checked = on;
  byId('only-trainable')?.classList.toggle('on', !state.visible.has('frozen'));
  render();
}

// ── The icicle ──────────────────────────────────────────────────────────────────────

const icicle = byId('icicle');
const canvas = h('div', { class: 'canvas' });
icicle.append(canvas);

function layoutOptions(): LayoutOptions {
  return { ...DEFAULT_LAYOUT, visible: state.visible, enlarge: state.enlarge };
}

function cellColors(c: Cell): { bg: string; fg: string; stripe?: string } {
  if (c.param) return { bg: COLORS[c.param.method].fill, fg: COLORS[c.param.method].text };
  const n = c.node!;
  const main = mainMethod(n);
  if (!main || !methodsOf(n).some((k) => state.visible.has(k))) return { bg: COLORS.frozen.tint, fg: '#1b1f24' };
  return { bg: COLORS[main].tint, fg: '#1b1f24', stripe: COLORS[main].fill };
}

function render(): void {
  const base = layoutOptions();
  const view = state.view;
  const need = neededHeight(view, base);
  const H = Math.round(Math.min(MAX_HEIGHT, Math.max(BASE_HEIGHT, need * 2.2)));
  // Zoomed in, there is room: small trainable parts get bigger, up to MAX_SCALE times.
  const scale = need > 0 ? Math.min(MAX_SCALE, Math.max(1, (0.3 * H) / need)) : 1;
  const o = { ...base, minTrainable: base.minTrainable * scale, minSibling: base.minSibling * scale };
  const cells = layout(view, 0, H, o);
  const columns = depthBelow(view) + 1;
  const width = Math.max(icicle.clientWidth, columns * MIN_COLUMN);
  const col = width / columns;
  canvas.style.height = `${H}px`;
  canvas.style.width = `${width}px`;
  const seen = new Set<string>();
  for (const c of cells) {
    const height = c.y1 - c.y0;
    if (height < 0.35) continue;
    seen.add(c.id);
    let el = elements.get(c.id);
    if (!el) {
      el = h('div', { class: c.param ? 'cell leaf' : 'cell', 'data-id': c.id });
      canvas.append(el);
      elements.set(c.id, el);
    }
    const left = (c.depth - view.depth) * col;
    const colors = cellColors(c);
    el.style.cssText = `top:${c.y0}px;height:${height}px;left:${left}px;width:${c.param ? width - left : col}px;background-color:${colors.bg};color:${colors.fg};${colors.stripe ? `box-shadow:inset 4px 0 0 ${colors.stripe}` : ''}`;
    el.classList.toggle('enlarged', c.enlarged);
    el.classList.toggle('selected', c === state.selected);
    el.classList.toggle('view-root', c === view);
    const key = `${c.value}|${height >= LABEL_MIN}|${height >= TWO_LINES_MIN}`;
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
  icicle.classList.toggle('empty', cells.length === 0);
  crumbs();
  details(state.hover ?? state.selected ?? state.view);
}

function fillLabel(el: HTMLElement, c: Cell, height: number): void {
  if (height < LABEL_MIN) return fill(el);
  const n = c.node;
  const name = c.param ? c.param.name : n!.repeat !== undefined ? `${c.name} ×${n!.repeat}` : displayName(c);
  const sub = c.param ? `${formatCount(c.value)} · ${formatShape(c.param.shape)}` : `${formatCount(c.value)} · ${formatShare(c.value, total)}`;
  fill(el, h('span', { class: 'name' }, name), height >= TWO_LINES_MIN ? h('span', { class: 'sub' }, sub) : null);
}

/** Layers of a repeat are named with it: `h.3`, not `3`. */
function displayName(c: Cell): string {
  return c.parent?.node?.repeat !== undefined ? `${c.parent.name}.${c.name}` : c.name;
}

function crumbs(): void {
  const chain: Cell[] = [];
  for (let c: Cell | undefined = state.view; c; c = c.parent) chain.unshift(c);
  const el = byId('crumbs');
  fill(el);
  chain.forEach((c, i) => {
    if (i) el.append(h('span', { class: 'sep', 'aria-hidden': 'true' }, '›'));
    const last = i === chain.length - 1;
    el.append(h('button', { type: 'button', class: 'crumb', 'aria-current': last ? 'true' : undefined, onclick: () => zoom(c) }, c === root ? data.model : displayName(c)));
  });
  el.append(h('span', { class: 'shown' }, `${formatCount(state.view.value)} parameters shown`));
}

function zoom(c: Cell, select: Cell | undefined = c): void {
  state.view = c.param ? c.parent! : c;
  state.selected = select;
  state.hover = undefined;
  render();
}

canvas.addEventListener('click', (e) => {
  const c = cellAt(e.target);
  if (!c) return;
  if (c === state.view) {
    if (c.parent) zoom(c.parent, c);
  } else if (c.param) {
    state.selected = c;
    render();
  } else {
    zoom(c);
  }
});
canvas.addEventListener('mouseover', (e) => {
  const c = cellAt(e.target);
  if (c && c !== state.hover) {
    state.hover = c;
    details(c);
  }
});
canvas.addEventListener('mouseleave', () => {
  state.hover = undefined;
  details(state.selected ?? state.view);
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.view.parent) zoom(state.view.parent, state.view);
});
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(render, 100);
});

function cellAt(target: EventTarget | null): Cell | undefined {
  const el = (target as Element | null)?.closest?.('.cell') as HTMLElement | null;
  return el ? cellById.get(el.dataset.id!) : undefined;
}

// ── Details of one module or tensor ────────────────────────────────────────────────

function details(c: Cell): void {
  const el = byId('details');
  if (c.param) {
    const p = c.param;
    const owner = c.parent!.node!;
    fill(
      el,
      h('div', { class: 'kind' }, 'Tensor'),
      h('h2', { class: 'path' }, p.path),
      h('p', {}, badge(p.method), ' ', p.partition, p.transient ? ' · discarded after training' : ''),
      h('dl', {}, h('dt', {}, 'Shape'), h('dd', {}, formatShape(p.shape)), h('dt', {}, 'Parameters'), h('dd', {}, formatCount(p.count), h('span', { class: 'muted' }, ` · ${formatShare(p.count, total)} of the model`)), h('dt', {}, 'Origin'), h('dd', {}, p.origin), h('dt', {}, 'Module'), h('dd', {}, h('code', {}, owner.path || data.model))),
      methodsBlock(owner),
    );
    return;
  }
  const n = c.node!;
  fill(
    el,
    h('div', { class: 'kind' }, n.tiedTo ? `Tied to ${n.tiedTo}` : n.type),
    h('h2', { class: 'path' }, n.path || data.model),
    h('dl', {}, h('dt', {}, 'Parameters'), h('dd', {}, formatCount(n.count), h('span', { class: 'muted' }, ` · ${formatShare(n.count, total)} of the model`)), h('dt', {}, 'Trainable'), h('dd', {}, formatCount(n.trainable), h('span', { class: 'muted' }, ` · ${formatShare(n.trainable, n.count)} of this module`))),
    shareBar(n),
    byMethodTable(n),
    methodsBlock(n),
    n.params.length ? tensorTable(n) : null,
    n.tiedFrom ? h('p', { class: 'muted' }, `Also used by ${n.tiedFrom.join(', ')} (tied weights).`) : null,
    n.synthetic ? h('p', { class: 'muted' }, 'Added by a PEFT method.') : null,
  );
}

function byMethodTable(n: VizNode): HTMLElement | null {
  const rows = present.filter((k) => (n.byMethod[k] ?? 0) > 0);
  if (!rows.length) return null;
  return h('table', { class: 'mini' }, ...rows.map((k) => h('tr', {}, h('td', {}, swatch(k), METHOD_LABELS[k]), h('td', { class: 'num' }, formatCount(n.byMethod[k]!)), h('td', { class: 'num muted' }, formatShare(n.byMethod[k]!, n.count)))));
}

function methodsBlock(n: VizNode): HTMLElement | null {
  if (!n.methods.length) return null;
  return h('div', { class: 'methods' }, h('h3', {}, 'Applied here'), ...n.methods.map((m) => h('p', {}, badge(m.name), ' ', settingsChips(m))));
}

function tensorTable(n: VizNode): HTMLElement {
  return h(
    'div',
    {},
    h('h3', {}, 'Tensors'),
    h(
      'table',
      { class: 'mini tensors' },
      ...n.params.map((p) => h('tr', {}, h('td', {}, swatch(p.method), h('code', {}, p.name)), h('td', { class: 'shape' }, formatShape(p.shape)), h('td', { class: 'num' }, formatCount(p.count)))),
    ),
  );
}

// ── Trainable modules ───────────────────────────────────────────────────────────────

function trainableList(): void {
  const rows: Cell[] = [];
  const visit = (c: Cell) => {
    if (c.node && c.node.params.some((p) => p.partition === 'trainable')) rows.push(c);
    c.children.forEach(visit);
  };
  visit(root);
  const trainable = data.totals.trainable;
  const list = byId('trainable');
  const full = rows.length > 0 && rows.every((c) => c.node!.params.every((p) => p.method === 'full'));
  fill(
    list,
    h('h2', {}, 'Trainable modules ', h('span', { class: 'count' }, String(rows.length))),
    full
      ? h('p', { class: 'muted' }, 'Every module trains (a full fine-tune).')
      : h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'list' },
            h('thead', {}, h('tr', {}, h('th', {}, 'Module'), h('th', {}, 'Method'), h('th', { class: 'num' }, 'Trainable'), h('th', { class: 'num' }, 'Of trainable'))),
            h(
              'tbody',
              {},
              ...rows.map((c) => {
                const n = c.node!;
                const own = n.params.filter((p) => p.partition === 'trainable');
                const count = own.reduce((a, p) => a + p.count, 0);
                const keys = [...new Set(own.map((p) => p.method))];
                return h(
                  'tr',
                  {},
                  h('td', {}, h('button', { type: 'button', class: 'link', 'data-path': n.path, title: own.map((p) => `${p.name} ${formatShape(p.shape)}`).join('\n'), onclick: () => reveal(c) }, n.path || data.model)),
                  h('td', {}, ...keys.map((k) => badge(k))),
                  h('td', { class: 'num' }, formatCount(count)),
                  h('td', { class: 'num muted' }, formatShare(count, trainable)),
                );
              }),
            ),
          ),
        ),
  );
}

/** Zooms to a module's parent so it shows with its neighbours, selected. */
function reveal(c: Cell): void {
  zoom(c.parent ?? c, c);
  icicle.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  const el = elements.get(c.id);
  if (el) {
    el.classList.remove('flash');
    void el.offsetWidth;
    el.classList.add('flash');
  }
}

// ── Compared with a full fine-tune ──────────────────────────────────────────────────

function comparison(): void {
  const { peft, full } = data.comparison;
  const name = methodsOf(data.tree).filter((k) => k !== 'full').map((k) => METHOD_LABELS[k]).join(' + ') || 'Full fine-tune';
  const row = (label: string, note: string, get: (c: FineTuneCosts) => number, show: (v: number, c: FineTuneCosts) => string, less = 'less') => {
    const a = get(peft);
    const b = get(full);
    const max = Math.max(a, b, 1);
    const cell = (v: number, c: FineTuneCosts, cls: string) =>
      h('td', {}, h('div', { class: 'value' }, show(v, c)), h('div', { class: `bar ${cls}` }, h('span', { style: `width:max(2px, ${(100 * v) / max}%)` })));
    const ratio = a > 0 && b > a ? `${formatRatio(b / a)} ${less}` : a === b ? 'same' : '';
    return h('tr', {}, h('th', { scope: 'row' }, label, h('div', { class: 'note' }, note)), cell(a, peft, 'peft'), cell(b, full, 'full'), h('td', { class: 'ratio' }, ratio));
  };
  fill(
    byId('compare'),
    h('h2', {}, 'Compared with a full fine-tune'),
    h(
      'table',
      { class: 'compare' },
      h('thead', {}, h('tr', {}, h('th', {}), h('th', { scope: 'col' }, 'This fine-tune', h('div', { class: 'note' }, name)), h('th', { scope: 'col' }, 'Full fine-tune', h('div', { class: 'note' }, 'every parameter trains')), h('th', {}))),
      h(
        'tbody',
        {},
        row('Trainable parameters', 'the arena the optimizer updates', (c) => c.trainable, (v, c) => `${formatCount(v)} (${formatShare(v, c.total)})`, 'fewer'),
        row('Gradients', 'fp32, 4 B per trainable parameter', (c) => c.gradientBytes, formatBytes),
        row('AdamW moments', 'fp32, 8 B per trainable parameter', (c) => c.optimizerBytes, formatBytes),
        row('Gradients + optimizer', 'training memory beyond the weights', (c) => c.gradientBytes + c.optimizerBytes, formatBytes),
        row('Checkpoint to resume', 'trainable weights + AdamW state', (c) => c.checkpointBytes, formatBytes),
        row('Saved after training', 'adapter only, or the whole model', (c) => c.exportBytes, (v, c) => `${formatBytes(v)} ${c.adapterOnly ? '(adapter)' : '(model)'}`, 'smaller'),
      ),
    ),
    h(
      'p',
      { class: 'muted' },
      `Frozen weights get no gradient and no optimizer state. The full fine-tune is the base model of this program without its PEFT methods, every one of its ${full.total.toLocaleString('en-US')} parameters trained (`,
      h('code', { class: 'nowrap' }, '--full'),
      ' on the base).',
    ),
  );
}

function formatRatio(r: number): string {
  return r >= 10 ? `${formatCount(Math.round(r))}×` : `${r.toFixed(1)}×`;
}

// ── Start ───────────────────────────────────────────────────────────────────────────

header();
controls();
comparison();
trainableList();
render();
document.documentElement.dataset.rendered = 'true';
(window as unknown as { peftcRenderedAt: number }).peftcRenderedAt = performance.now();
