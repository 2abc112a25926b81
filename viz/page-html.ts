// The partition view's HTML around its data, given the page script and stylesheet: pure, so
// that the playground page (playground/) renders the same view in a browser; viz/html.ts
// supplies the assets bundled with esbuild.
import { summaryLine, type ParamSummary } from '../compiler/params.ts';
import type { FrozenBytes } from '../compiler/quant/frozen-bytes.ts';
import { formatBytes, formatCount } from './format.ts';
import type { AdapterRows, PageData } from './page/data.ts';
import type { StepFlops } from './flops.ts';
import { compareWithFull, type VizNode } from './tree.ts';

export type { AdapterRows } from './page/data.ts';

export interface PartitionsHtmlOptions {
  /** The .peft file as the user named it, shown in the title. */
  file?: string;
  /** The program was compiled with `full: true`. */
  full?: boolean;
  /** The same program compiled with `full: true`, for the comparison; without it, every parameter of this one trains. */
  fullSummary?: ParamSummary;
  /** The work of one training step (viz/flops.ts), this program and its full fine-tune. */
  flops?: { peft: StepFlops; full: StepFlops };
  /**
   * Adapters loaded over this (shared, frozen) base: `peftc viz BASE.peft --adapter a=DIR …`;
   * `tree` then holds the base and every adapter's tensors (buildVizTree's `adapters`).
   */
  adapters?: AdapterRows;
  /** The frozen parameters' bytes at a frozen dtype (compiler/quant/frozen-bytes.ts), shown in the totals. */
  frozen?: FrozenBytes;
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/** The page script (viz/page/main.ts bundled) and its stylesheet. */
export interface VizAssets {
  script: string;
  style: string;
}

export function partitionsPage(tree: VizNode, summary: ParamSummary, opts: PartitionsHtmlOptions, assets: VizAssets): string {
  const { params: _, ...base } = summary;
  // With several adapters the page counts what the base and the adapters hold together.
  const totals = opts.adapters ? { ...base, total: tree.count, trainable: tree.trainable, frozen: tree.count - tree.trainable, trainable_percent: (100 * tree.trainable) / tree.count } : base;
  const data: PageData = {
    model: tree.name,
    full: opts.full ?? false,
    tree,
    totals,
    summaryLine: summaryLine(totals.trainable, totals.total),
  };
  if (opts.adapters) data.adapters = opts.adapters;
  else {
    const full = opts.fullSummary ?? { ...summary, trainable: summary.total, frozen: 0, trainable_percent: 100, kept: { ...summary.kept, trainable: summary.kept.total, trainable_percent: 100 } };
    data.comparison = compareWithFull(summary, full);
    if (summary.kept.trainable !== summary.trainable) data.keptLine = summaryLine(summary.kept.trainable, summary.kept.total);
  }
  if (opts.flops && !opts.adapters) data.flops = opts.flops;
  if (opts.file) data.file = opts.file;
  if (opts.frozen) data.frozen = opts.frozen;
  const { script, style } = assets;
  const title = `${tree.name}${opts.file ? ` (${opts.file})` : ''}: what trains · peftc`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="color-scheme" content="light">
<meta name="generator" content="peftc viz">
<title>${escapeHtml(title)}</title>
<style>
${style}</style>
</head>
<body>
<main>
<header><div id="title"></div><p id="headline"></p></header>
<div class="first">
<section id="where" class="panel" aria-label="Where the trainable parameters sit">
<div id="controls"></div>
<nav id="crumbs" aria-label="Zoom"></nav>
<div id="icicle"></div>
</section>
<div class="side">
<section id="what" class="panel" aria-label="What each method adds"></section>
<section id="compare" class="panel" aria-label="Compared with a full fine-tune"></section>
</div>
</div>
<div class="below">
<aside id="details" class="panel" aria-label="Details"></aside>
<section id="trainable" class="panel" aria-label="Trainable modules"></section>
</div>
<section id="stats" class="panel" aria-label="Totals"></section>
${opts.adapters ? adaptersSection(opts.adapters) : ''}<div id="tip" role="tooltip" hidden></div>
<noscript><p>${escapeHtml(data.summaryLine)}. The interactive view needs JavaScript.</p></noscript>
</main>
<script type="application/json" id="peftc-data">${jsonForScript(data)}</script>
<script>${script.replace(/<\/(script)/gi, '<\\/$1')}</script>
</body>
</html>
`;
}

/** A static table (no script needed): each adapter next to the base it shares. */
function adaptersSection(a: AdapterRows): string {
  const n = a.rows.length;
  const cell = (x: string, num = false) => `<td${num ? ' class="num"' : ''}>${escapeHtml(x)}</td>`;
  const rows = a.rows
    .map((r) => `<tr>${cell(r.name)}${cell(r.what)}${cell(formatCount(r.params), true)}${cell(formatBytes(r.bytes), true)}${cell(`${((100 * r.params) / a.baseParams).toFixed(2)}%`, true)}${cell(r.where)}</tr>`)
    .join('');
  return `<section id="adapters" class="panel" aria-label="Loaded adapters">
<h2>${n} adapter${n === 1 ? '' : 's'} over one shared base</h2>
<p>The base (${escapeHtml(formatCount(a.baseParams))} frozen parameters, ${escapeHtml(formatBytes(a.baseBytes))}) is held once; each adapter adds its own weights. Total ${escapeHtml(formatBytes(a.totalBytes))}, where ${n} fine-tuned copies would take ${escapeHtml(formatBytes(n * a.baseBytes))}.</p>
<table><thead><tr><th>adapter</th><th>what</th><th>params</th><th>memory</th><th>of base</th><th>where</th></tr></thead><tbody>${rows}</tbody></table>
</section>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that cannot end its <script> element early. */
function jsonForScript(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}
