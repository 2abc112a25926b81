// The partition view as one self-contained HTML file: the data as JSON, the stylesheet
// and the page script (viz/page/, bundled with esbuild) inline; a Content-Security-Policy
// that forbids every network request, so the file works offline and leaks nothing.
// The HTML itself is viz/page-html.ts (pure); this file supplies the bundled assets.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildSync } from 'esbuild';
import type { ParamSummary } from '../compiler/params.ts';
import { partitionsPage, type PartitionsHtmlOptions, type VizAssets } from './page-html.ts';
import type { VizNode } from './tree.ts';

export type { AdapterRows, PartitionsHtmlOptions } from './page-html.ts';

const PAGE = resolve(import.meta.dirname, 'page');

let bundled: VizAssets | undefined;

/** The page script and stylesheet, built once per process. */
export function vizAssets(): VizAssets {
  if (!bundled) {
    const out = buildSync({
      entryPoints: [resolve(PAGE, 'main.ts')],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      legalComments: 'none',
      charset: 'utf8',
      write: false,
      logLevel: 'silent',
    });
    bundled = { script: out.outputFiles[0]!.text, style: readFileSync(resolve(PAGE, 'style.css'), 'utf8') };
  }
  return bundled;
}

export function renderPartitionsHtml(tree: VizNode, summary: ParamSummary, opts: PartitionsHtmlOptions = {}): string {
  return partitionsPage(tree, summary, opts, vizAssets());
}
