// The page's text panels: the headline, what each method adds, the costs against a full
// fine-tune (or, with several adapters, against one fine-tuned copy per task), the details
// of the selected module and the list of trainable modules.
import { formatBytes, formatCount, formatShape, formatShare } from '../format.ts';
import { compressPaths } from '../paths.ts';
import { METHOD_LABELS, walkViz, type AppliedMethod, type FineTuneCosts, type MethodKey, type VizNode, type VizParam } from '../tree.ts';
import { COLORS } from './data.ts';
import { data, present, total } from './context.ts';
import { byId, fill, h } from './dom.ts';
import { mainMethod } from './layout.ts';
import { badge, settingsChips, swatch } from './widgets.ts';

// ── Headline ────────────────────────────────────────────────────────────────────────

export function header(): void {
  fill(
    byId('title'),
    h('span', { class: 'eyebrow' }, 'peftc · what trains'),
    h('h1', {}, data.model, data.file ? h('span', { class: 'file' }, data.file) : null, data.full ? h('span', { class: 'file' }, '--full') : null),
  );
  const t = data.totals;
  const groups = methodGroups();
  const hl = byId('headline');
  if (data.adapters) {
    const n = data.adapters.rows.length;
    fill(hl, h('strong', {}, `${n} adapter${n === 1 ? '' : 's'}`), ` over one frozen base of ${formatCount(data.adapters.baseParams)} parameters, held once: `, ...data.adapters.rows.flatMap((r, i) => [i ? ', ' : '', h('strong', {}, r.name), ` (${formatCount(r.params)})`]), '.');
  } else if (!groups.length) {
    fill(hl, h('strong', {}, 'Every parameter trains'), ` (${formatCount(t.total)}): a full fine-tune.`);
  } else {
    const byMethod = new Map<string, number>();
    for (const g of groups) byMethod.set(METHOD_LABELS[g.m.name], (byMethod.get(METHOD_LABELS[g.m.name]) ?? 0) + g.paths.length);
    const what = [...byMethod].map(([m, n]) => `${m} on ${n} module${n === 1 ? '' : 's'}`).join(', ');
    fill(hl, h('strong', { 'data-testid': 'total-trainable' }, formatCount(t.trainable)), ' of ', h('span', { 'data-testid': 'total-all' }, formatCount(t.total)), ` parameters train (${formatShare(t.trainable, t.total)}): ${what}. The rest is frozen.`);
  }
}

// ── What each method adds ───────────────────────────────────────────────────────────

interface MethodGroup {
  m: AppliedMethod;
  paths: string[];
  params: VizParam[];
}

/** One group per method, settings and adapter, with the modules it applies to and the tensors it makes or trains. */
export function methodGroups(): MethodGroup[] {
  const byOwner = new Map<string, VizParam[]>();
  for (const n of walkViz(data.tree)) {
    for (const p of n.params) {
      if (p.partition !== 'trainable' || !p.appliedTo) continue;
      const k = `${p.adapter ?? ''}|${p.appliedTo}|${p.method}`;
      byOwner.set(k, [...(byOwner.get(k) ?? []), p]);
    }
  }
  const groups = new Map<string, MethodGroup>();
  for (const n of walkViz(data.tree)) {
    for (const m of n.methods) {
      const key = `${m.adapter ?? ''}|${m.name}|${JSON.stringify(m.settings)}`;
      const g = groups.get(key) ?? { m, paths: [], params: [] };
      g.paths.push(n.path);
      g.params.push(...(byOwner.get(`${m.adapter ?? ''}|${n.path}|${m.name}`) ?? []));
      groups.set(key, g);
    }
  }
  return [...groups.values()];
}

export function whatPanel(): void {
  const groups = methodGroups();
  const el = byId('what');
  if (!groups.length) {
    fill(el, h('h2', {}, 'What trains'), h('p', { class: 'what' }, badge('full'), ' Every parameter of the model, as it is.'));
    return;
  }
  fill(el, h('h2', {}, data.adapters ? 'What each adapter adds' : 'What each method adds'), ...groups.map(methodCard));
}

function methodCard(g: MethodGroup): HTMLElement {
  const count = g.params.reduce((a, p) => a + p.count, 0);
  const first = g.params.filter((p) => p.appliedTo === g.paths[0]);
  const each = g.paths.length > 1 && first.length * g.paths.length === g.params.length;
  const shown = each ? first : g.params.slice(0, 4);
  const tensors = shown.map((p) => h('span', { class: 'tensor' }, h('code', {}, p.name), ' ', h('span', { class: 'shape' }, formatShape(p.shape))));
  const adds = g.m.name === 'train' ? 'trains the module as it is:' : each ? 'adds to each:' : 'adds:';
  return h(
    'div',
    { class: 'method', 'data-method': g.m.name, ...(g.m.adapter ? { 'data-adapter': g.m.adapter } : {}) },
    h('div', { class: 'line' }, g.m.adapter ? h('span', { class: 'adapter-name' }, g.m.adapter) : null, badge(g.m.name), Object.keys(g.m.settings).length ? settingsChips(g.m) : null),
    h('div', { class: 'line' }, h('span', { class: 'muted' }, `on ${g.paths.length} module${g.paths.length === 1 ? '' : 's'}`), ...compressPaths(g.paths).map((p) => h('code', { class: 'where' }, p || data.model))),
    h('div', { class: 'line' }, h('span', { class: 'muted' }, adds), ...tensors, g.params.length > shown.length && !each ? h('span', { class: 'muted' }, `+ ${g.params.length - shown.length} more`) : null),
    h('div', { class: 'line total' }, h('span', { class: 'num' }, formatCount(count)), ` parameters · ${formatShare(count, total)} of the model`),
  );
}

// ── Costs ───────────────────────────────────────────────────────────────────────────

export function comparePanel(): void {
  if (data.adapters) return adaptersCosts();
  const { peft, full } = data.comparison!;
  const f = data.flops;
  const row = (label: string, note: string, a: number, b: number, show: (v: number) => string, less: string) => {
    const max = Math.max(a, b, 1);
    const cell = (v: number, cls: string) => h('div', { class: `cell-${cls}` }, h('span', { class: 'value' }, show(v)), h('div', { class: `bar ${cls}` }, h('span', { style: `width:max(2px, ${(100 * v) / max}%)` })));
    const ratio = a > 0 && b > a ? `${formatRatio(b / a)} ${less}` : a === b ? 'same' : '';
    return h('div', { class: 'cost', role: 'row' }, h('div', { class: 'label', role: 'rowheader' }, label, h('span', { class: 'what' }, note)), cell(a, 'peft'), cell(b, 'full'), h('div', { class: 'ratio' }, ratio));
  };
  fill(
    byId('compare'),
    h('h2', {}, 'Against a full fine-tune'),
    h(
      'div',
      { class: 'costs', role: 'table' },
      h('div', { class: 'cost head', role: 'row' }, h('div', { class: 'cell-peft', role: 'columnheader' }, 'This fine-tune'), h('div', { class: 'cell-full', role: 'columnheader' }, 'Full fine-tune'), h('div', {})),
      row('Trainable parameters', 'what the optimizer updates', peft.trainable, full.trainable, formatCount, 'fewer'),
      row('Gradients + AdamW', 'memory beyond the weights', peft.gradientBytes + peft.optimizerBytes, full.gradientBytes + full.optimizerBytes, formatBytes, 'less'),
      f ? row('Work per token', `FLOPs of a training step (T = ${f.peft.seq})`, f.peft.total, f.full.total, formatFlops, 'less') : null,
      row('Saved after training', peft.adapterOnly ? 'the adapter alone' : 'the whole model', peft.exportBytes, full.exportBytes, formatBytes, 'smaller'),
      row('Checkpoint to resume', 'trainable weights + AdamW', peft.checkpointBytes, full.checkpointBytes, formatBytes, 'smaller'),
    ),
    h('p', { class: 'note' }, `Both hold the fp32 weights (${formatBytes(4 * total)}) and activations. `, f ? workNote() : null),
  );
}

function workNote(): HTMLElement {
  return h('span', { class: 'formula' }, 'Work per matrix product: 2·in·out forward, 2·in·out for the input gradient where a trainable part lies below, 2·in·out for the weight gradient only if it trains (full: 6·in·out).');
}

function adaptersCosts(): void {
  const a = data.adapters!;
  const n = a.rows.length;
  const copies = n * a.baseBytes;
  fill(
    byId('compare'),
    h('h2', {}, `Serving ${n} task${n === 1 ? '' : 's'} from one base`),
    h(
      'table',
      { class: 'compare' },
      h('tbody', {}, h('tr', {}, h('th', { scope: 'row' }, 'The base, held once', h('div', { class: 'note' }, `${formatCount(a.baseParams)} frozen parameters`)), h('td', { class: 'value' }, formatBytes(a.baseBytes)), h('td', {})), ...a.rows.map((r) => h('tr', { 'data-adapter': r.name }, h('th', { scope: 'row' }, h('span', { class: 'adapter-name' }, r.name), h('div', { class: 'note' }, `${r.what}; ${r.where}`)), h('td', { class: 'value' }, `${formatCount(r.params)} · ${formatBytes(r.bytes)}`), h('td', { class: 'ratio' }, formatShare(r.params, a.baseParams)))), h('tr', {}, h('th', { scope: 'row' }, 'All together'), h('td', { class: 'value' }, formatBytes(a.totalBytes)), h('td', { class: 'ratio' }, copies > a.totalBytes ? `${formatRatio(copies / a.totalBytes)} less` : '')), h('tr', {}, h('th', { scope: 'row' }, `${n} fine-tuned copies`, h('div', { class: 'note' }, 'one whole model per task')), h('td', { class: 'value' }, formatBytes(copies)), h('td', {}))),
    ),
  );
}

function formatRatio(r: number): string {
  return r >= 10 ? `${formatCount(Math.round(r))}×` : `${r.toFixed(1)}×`;
}

/** `1.23e9` → `1.23 GFLOP`. */
export function formatFlops(n: number): string {
  const [d, u] = n >= 1e12 ? [1e12, 'TFLOP'] : n >= 1e9 ? [1e9, 'GFLOP'] : n >= 1e6 ? [1e6, 'MFLOP'] : [1e3, 'kFLOP'];
  return `${(n / (d as number)).toPrecision(3)} ${u}`;
}

// ── Totals ──────────────────────────────────────────────────────────────────────────

export function statsPanel(): void {
  const t = data.totals;
  const card = (label: string, value: string, note: string, key?: MethodKey) => h('div', { class: 'card' }, h('div', { class: 'label' }, key ? swatch(key) : null, label), h('div', { class: 'value' }, value), h('div', { class: 'note' }, note));
  fill(
    byId('stats'),
    h('h2', {}, 'Totals'),
    h(
      'div',
      { class: 'cards' },
      card('Trainable', formatCount(t.trainable), `${formatShare(t.trainable, t.total)} of all parameters`, mainMethod(data.tree.byMethod, present) ?? 'full'),
      card('Frozen', formatCount(t.frozen), `${formatShare(t.frozen, t.total)} · no gradients, no optimizer state${frozenStorage()}`, 'frozen'),
      card('All parameters', formatCount(t.total), `${formatBytes(t.total * 4)} of fp32 weights`),
    ),
    h('p', {}, h('code', {}, data.summaryLine)),
    data.keptLine ? h('p', {}, h('code', {}, `after training (reparameterisation discarded): ${data.keptLine}`)) : null,
  );
}

/** ` · stored in nf4: 67.2 MiB (f32: 474.7 MiB)`: the frozen bytes at the dtype the page was made for. */
function frozenStorage(): string {
  const f = data.frozen;
  if (!f) return '';
  return ` · stored in ${f.dtype}: ${formatBytes(f.bytes)}${f.dtype === 'f32' ? '' : ` (f32: ${formatBytes(f.f32_bytes)})`}`;
}

// ── Details of one module or tensor ────────────────────────────────────────────────

/** `times`: the band stands for that many identical layers; its counts are totals over them. */
export function details(n: VizNode | undefined, p: VizParam | undefined, label: string, times = 1): void {
  const el = byId('details');
  const x = times > 1 ? ` ×${times}` : '';
  if (p) {
    fill(
      el,
      h('div', { class: 'kind' }, 'Tensor'),
      h('h2', { class: 'path' }, label, x),
      h('p', {}, badge(p.method), ' ', p.partition, p.adapter ? ` · adapter ${p.adapter}` : '', p.transient ? ' · discarded after training' : ''),
      h('dl', {}, h('dt', {}, 'Shape'), h('dd', {}, formatShape(p.shape), x), h('dt', {}, 'Parameters'), h('dd', {}, formatCount(p.count * times), h('span', { class: 'muted' }, ` · ${formatShare(p.count * times, total)} of the model`)), h('dt', {}, 'Origin'), h('dd', {}, p.origin)),
      n ? methodsBlock(n) : null,
    );
    return;
  }
  if (!n) return;
  fill(
    el,
    h('div', { class: 'kind' }, n.tiedTo ? `Tied to ${n.tiedTo}` : n.type, times > 1 ? ` · ${times} identical layers: totals` : ''),
    h('h2', { class: 'path' }, label, x),
    h('dl', {}, h('dt', {}, 'Parameters'), h('dd', {}, formatCount(n.count * times), h('span', { class: 'muted' }, ` · ${formatShare(n.count * times, total)} of the model`)), h('dt', {}, 'Trainable'), h('dd', {}, formatCount(n.trainable * times), h('span', { class: 'muted' }, ` · ${formatShare(n.trainable, n.count)} of this module`))),
    shareBar(n),
    methodsBlock(n),
    n.params.length ? tensorTable(n, times) : null,
    n.tiedFrom ? h('p', { class: 'muted' }, `Also used by ${n.tiedFrom.join(', ')} (tied weights).`) : null,
    n.synthetic ? h('p', { class: 'muted' }, 'Added by a PEFT method.') : null,
  );
}

/** The trainable share, split by method: widths in proportion, nothing stretched. */
function shareBar(n: VizNode): HTMLElement {
  const bar = h('div', { class: 'sharebar', role: 'img', 'aria-label': `${formatShare(n.trainable, n.count)} trainable` });
  for (const k of present) {
    if (k === 'frozen' || !n.byMethod[k]) continue;
    bar.append(h('span', { style: `width:${(100 * n.byMethod[k]!) / Math.max(1, n.count)}%;background:${COLORS[k].fill}` }));
  }
  return bar;
}

function methodsBlock(n: VizNode): HTMLElement | null {
  if (!n.methods.length) return null;
  return h('div', { class: 'methods' }, h('h3', {}, 'Applied here'), ...n.methods.map((m) => h('p', {}, m.adapter ? h('span', { class: 'adapter-name' }, m.adapter) : null, badge(m.name), ' ', settingsChips(m))));
}

function tensorTable(n: VizNode, times: number): HTMLElement {
  return h(
    'div',
    {},
    h('h3', {}, times > 1 ? `Tensors (of each layer)` : 'Tensors'),
    h('table', { class: 'mini tensors' }, ...n.params.map((p) => h('tr', {}, h('td', {}, swatch(p.method), h('code', {}, p.adapter ? `${p.adapter}: ${p.name}` : p.name)), h('td', { class: 'shape' }, formatShape(p.shape)), h('td', { class: 'num' }, formatCount(p.count))))),
  );
}

// ── Trainable modules ───────────────────────────────────────────────────────────────

export function trainableList(pick: (n: VizNode) => void): void {
  const rows = [...walkViz(data.tree)].filter((n) => n.params.some((p) => p.partition === 'trainable'));
  const trainable = data.totals.trainable;
  const full = rows.length > 0 && rows.every((n) => n.params.every((p) => p.method === 'full'));
  const row = (n: VizNode) => {
    const own = n.params.filter((p) => p.partition === 'trainable');
    const count = own.reduce((a, p) => a + p.count, 0);
    const keys = [...new Set(own.map((p) => p.method))];
    const adapters = [...new Set(own.map((p) => p.adapter).filter((a) => a !== undefined))];
    return h(
      'tr',
      {},
      h('td', {}, h('button', { type: 'button', class: 'link', 'data-path': n.path, title: own.map((p) => `${p.name} ${formatShape(p.shape)}`).join('\n'), onclick: () => pick(n) }, n.path || data.model)),
      h('td', {}, ...adapters.map((a) => h('span', { class: 'adapter-name' }, a)), ...keys.map((k) => badge(k))),
      h('td', { class: 'num' }, formatCount(count)),
      h('td', { class: 'num muted' }, formatShare(count, trainable)),
    );
  };
  fill(
    byId('trainable'),
    h('h2', {}, 'Trainable modules ', h('span', { class: 'count' }, String(rows.length))),
    full
      ? h('p', { class: 'muted' }, 'Every module trains (a full fine-tune).')
      : h('div', { class: 'scroll' }, h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Module'), h('th', {}, 'Method'), h('th', { class: 'num' }, 'Trainable'), h('th', { class: 'num' }, 'Of trainable'))), h('tbody', {}, ...rows.map(row)))),
  );
}
